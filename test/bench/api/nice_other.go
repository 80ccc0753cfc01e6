//go:build !linux

package main

import "errors"

// setNice is only implemented on Linux.
func setNice(pid, nice int) error {
	return errors.New("setting priorities is only implemented on Linux")
}
