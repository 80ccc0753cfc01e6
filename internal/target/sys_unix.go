//go:build unix

package target

import (
	"errors"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// errLocked is tryLock's answer when another open file holds the lock.
var errLocked = errors.New("locked")

// tryLock takes an exclusive flock on f without waiting. flock locks belong
// to the open file, so two opens of the lock file in one process exclude
// each other as two processes do.
func tryLock(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EWOULDBLOCK):
			return errLocked
		case errors.Is(err, unix.EINTR):
			continue
		default:
			return err
		}
	}
}

// ownProcessGroup makes cmd lead a new process group and kill the whole
// group when its context ends, so the children of a script die with it.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
}
