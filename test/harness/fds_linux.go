package harness

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// OpenFiles returns how many file descriptors the node's process holds
// open now.
func (n *Node) OpenFiles() (int, error) {
	pid := n.PID()
	if pid == 0 {
		return 0, fmt.Errorf("count open files of %s: never started", n)
	}
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0, fmt.Errorf("count open files of %s: %w", n, err)
	}
	return len(entries), nil
}

// SetFileLimit sets the running process's limit on open files (soft and
// hard), as a tight ulimit -n would. It does not close what is open.
func (n *Node) SetFileLimit(limit uint64) error {
	pid := n.PID()
	if pid == 0 {
		return fmt.Errorf("set the open-file limit of %s: never started", n)
	}
	lim := unix.Rlimit{Cur: limit, Max: limit}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		return fmt.Errorf("set the open-file limit of %s: %w", n, err)
	}
	return nil
}
