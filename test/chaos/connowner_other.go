//go:build !linux

package chaos

import "errors"

// connOwner needs /proc; elsewhere PUTs are not attributed to a node.
func connOwner(bin, client, server string) (string, error) {
	return "", errors.New("finding a connection's process needs Linux's /proc")
}

func pidOf(bin, id string) (int, error) {
	return 0, errors.New("finding a node's process needs Linux's /proc")
}
