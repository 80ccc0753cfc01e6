//go:build !unix

package target

import (
	"errors"
	"os"
	"os/exec"
)

// errLocked is tryLock's answer when another open file holds the lock.
var errLocked = errors.New("locked")

// tryLock is unsupported: directory targets need flock(2).
func tryLock(*os.File) error {
	return errors.New("directory targets need a unix system (flock)")
}

// ownProcessGroup leaves cmd as it is: the context kills the process only.
func ownProcessGroup(*exec.Cmd) {}
