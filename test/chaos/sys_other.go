//go:build !linux

package chaos

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func mountTmpfs(t *testing.T, dir string, n int) ([]string, string) {
	return nil, "tmpfs mounts need Linux"
}

func isNoSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) }

// awaitSnapshotStart polls dir for a snapshot's temporary directory
// (*.tmp) and calls onStart when one appears; without inotify it may miss
// a short snapshot.
func awaitSnapshotStart(dir string, timeout time.Duration, onStart func()) (string, error) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".tmp") {
				onStart()
				return e.Name(), nil
			}
		}
		<-tick.C
	}
	return "", fmt.Errorf("no snapshot started in %s within %v", dir, timeout)
}
