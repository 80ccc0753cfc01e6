//go:build !linux

package harness

import (
	"errors"
	"fmt"
)

// OpenFiles returns how many file descriptors the node's process holds
// open now; only on Linux.
func (n *Node) OpenFiles() (int, error) {
	return 0, fmt.Errorf("count open files of %s: %w", n, errors.ErrUnsupported)
}

// SetFileLimit sets the running process's limit on open files; only on
// Linux.
func (n *Node) SetFileLimit(limit uint64) error {
	return fmt.Errorf("set the open-file limit of %s: %w", n, errors.ErrUnsupported)
}
