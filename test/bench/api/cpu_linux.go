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
// far by the honuad process whose --data-dir is dataDir and by the commands
// it ran and waited for (git), and its pid.
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
		// may hold spaces: state is field 3, utime 14, stime 15, and the
		// waited-for children's cutime 16 and cstime 17.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 15 {
			return 0, 0, false
		}
		var total int64
		for _, f := range fields[11:15] {
			v, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return 0, 0, false
			}
			total += v
		}
		return time.Duration(total) * clockTick, pid, true
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
