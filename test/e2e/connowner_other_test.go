//go:build !linux

package e2e

import "errors"

// connOwner needs /proc; elsewhere the tests identify the sender by its
// fencing token alone.
func connOwner(bin, client, server string) (string, error) {
	return "", errors.New("finding a connection's process needs Linux's /proc")
}
