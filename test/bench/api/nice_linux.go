package main

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// setNice sets the niceness of every thread of process pid (Linux keeps
// one per thread; threads created later take their creator's).
func setNice(pid, nice int) error {
	tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil {
			return err
		}
	}
	return nil
}
