package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on
// every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// processCPU returns the CPU time (user and system, every thread) used so
// far by the honuad process whose --data-dir is dataDir, and its pid.
func processCPU(dataDir string) (cpu time.Duration, pid int, ok bool) {
	want := []byte("\x00--data-dir\x00" + dataDir + "\x00")
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(cmdline, want) {
			continue
		}
		pid, _ = strconv.Atoi(filepath.Base(filepath.Dir(p)))
		stat, err := os.ReadFile(filepath.Join(filepath.Dir(p), "stat"))
		if err != nil {
			return 0, 0, false
		}
		// The fields after the command name, which is in parentheses and
		// may hold spaces: state is field 3, utime 14, stime 15.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 13 {
			return 0, 0, false
		}
		utime, err1 := strconv.ParseInt(fields[11], 10, 64)
		stime, err2 := strconv.ParseInt(fields[12], 10, 64)
		if err1 != nil || err2 != nil {
			return 0, 0, false
		}
		return time.Duration(utime+stime) * clockTick, pid, true
	}
	return 0, 0, false
}

// selfCPU returns the CPU time (user and system) this process has used.
func selfCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
