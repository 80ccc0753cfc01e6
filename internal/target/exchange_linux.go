package target

import (
	"errors"

	"golang.org/x/sys/unix"
)

// errNoExchange is exchange's answer where the system cannot swap two
// names atomically.
var errNoExchange = errors.New("atomic exchange is not supported")

// exchange swaps the names a and b atomically (renameat2 RENAME_EXCHANGE).
func exchange(a, b string) error {
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		return errNoExchange // an old kernel, or a file system without it
	}
	return err
}
