//go:build linux

package main

import (
	"errors"
	"os"
	"strconv"
	"syscall"
)

// renice gives every thread of process pid the niceness (Linux keeps one per
// thread; a thread started later takes its creator's).
func renice(pid, niceness int) error {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, task := range tasks {
		if tid, err := strconv.Atoi(task.Name()); err == nil {
			errs = append(errs, syscall.Setpriority(syscall.PRIO_PROCESS, tid, niceness))
		}
	}
	return errors.Join(errs...)
}
