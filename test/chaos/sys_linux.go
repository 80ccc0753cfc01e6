package chaos

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// tmpfsSize is the size of each node's tmpfs data dir: room for the raft
// log and a few snapshots, small enough to fill in a moment.
const tmpfsSize = "64m"

// mountTmpfs mounts a tmpfs of its own for each of n nodes' data dirs
// under dir, unmounted at the test's cleanup. It returns the mount points,
// or why it could not (not root, no permission to mount).
func mountTmpfs(t *testing.T, dir string, n int) ([]string, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil, "not root"
	}
	var out []string
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("data%d", i+1))
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("tmpfs", p, "tmpfs", 0, "size="+tmpfsSize+",mode=0755"); err != nil {
			return nil, fmt.Sprintf("mount a tmpfs on %s: %v", p, err)
		}
		// Registered after the directory's own cleanup and before the
		// cluster's, so it runs after the nodes are killed and before the
		// directory is removed.
		t.Cleanup(func() {
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", p, err)
			}
		})
		out = append(out, p)
	}
	return out, ""
}

// isNoSpace reports whether err is ENOSPC.
func isNoSpace(err error) bool { return errors.Is(err, unix.ENOSPC) }

// awaitSnapshotStart watches dir (a raft file snapshot store's
// directory) with inotify and calls onStart as soon as a snapshot's
// temporary directory (*.tmp) appears in it, returning its name.
func awaitSnapshotStart(dir string, timeout time.Duration, onStart func()) (string, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return "", fmt.Errorf("inotify: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		return "", fmt.Errorf("watch %s: %w", dir, err)
	}
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 64<<10)
	for time.Now().Before(deadline) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, 100); err != nil && !errors.Is(err, unix.EINTR) {
			return "", fmt.Errorf("poll inotify: %w", err)
		}
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("read inotify: %w", err)
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if strings.HasSuffix(name, ".tmp") {
				onStart()
				return name, nil
			}
		}
	}
	return "", fmt.Errorf("no snapshot started in %s within %v", dir, timeout)
}
