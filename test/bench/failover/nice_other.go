//go:build !linux

package main

import "errors"

// renice is only implemented on Linux.
func renice(pid, niceness int) error {
	return errors.New("-nice needs Linux")
}
