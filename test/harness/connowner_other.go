//go:build !linux

package harness

import "errors"

// ConnOwner needs /proc.
func ConnOwner(bin, client, server string) (string, error) {
	return "", errors.New("finding a connection's process needs Linux's /proc")
}

// PIDOf needs /proc.
func PIDOf(bin, id string) (int, error) {
	return 0, errors.New("finding a node's process needs Linux's /proc")
}
