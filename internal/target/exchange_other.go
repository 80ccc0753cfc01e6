//go:build !linux

package target

import "errors"

// errNoExchange is exchange's answer where the system cannot swap two
// names atomically.
var errNoExchange = errors.New("atomic exchange is not supported")

// exchange is not available here; callers fall back to two renames.
func exchange(a, b string) error { return errNoExchange }
