package netns

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

// run runs a command, with stdin if given, and returns its output in the
// error when it fails.
func run(stdin, name string, args ...string) error {
	_, err := output(stdin, name, args...)
	return err
}

func output(stdin, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "),
			err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

func runAll(name string, steps [][]string) error {
	for _, args := range steps {
		if err := run("", name, args...); err != nil {
			return err
		}
	}
	return nil
}

// lockSlots takes a lock shared by every process on the machine, under
// which a Net picks its slot and makes its namespaces, so that two test
// binaries (go test runs packages in parallel) never pick the same client
// addresses.
func lockSlots() (unlock func(), err error) {
	path := filepath.Join(os.TempDir(), "honua-netns.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open slot lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// ourNS parses a namespace name made by nsName.
func ourNS(name string) (pid, slot int, ok bool) {
	parts := strings.Split(name, "-")
	if len(parts) != 4 || parts[0] != "honua" {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(parts[1])
	slot, err2 := strconv.Atoi(parts[2])
	return pid, slot, err1 == nil && err2 == nil
}

// listNS returns the names of the named network namespaces.
func listNS(ip string) ([]string, error) {
	out, err := output("", ip, "netns", "list")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		// "name" or "name (id: 3)"
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// sweepStale deletes the namespaces of Nets whose process is gone (killed
// by a go test timeout, say, before its cleanup ran), and the service
// addresses of slots no namespace uses any more.
func sweepStale(ip string) {
	names, err := listNS(ip)
	if err != nil {
		return
	}
	used := map[int]bool{}
	for _, name := range names {
		pid, slot, ok := ourNS(name)
		if !ok {
			continue
		}
		if pid == os.Getpid() || syscall.Kill(pid, 0) != syscall.ESRCH {
			used[slot] = true
			continue
		}
		_ = deleteNS(ip, name)
	}
	out, err := output("", ip, "-4", "-o", "addr", "show", "dev", "lo")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		// "1: lo    inet 10.79.3.1/32 scope global lo ..."
		f := strings.Fields(line)
		if len(f) < 4 || f[2] != "inet" {
			continue
		}
		var slot int
		if n, _ := fmt.Sscanf(f[3], "10.79.%d.1/32", &slot); n == 1 && f[3] == fmt.Sprintf("10.79.%d.1/32", slot) && !used[slot] {
			_ = run("", ip, "addr", "del", f[3], "dev", "lo")
		}
	}
}

// freeSlot returns a slot that no namespace and no client link uses.
func freeSlot(ip string) (int, error) {
	names, err := listNS(ip)
	if err != nil {
		return 0, err
	}
	used := map[int]bool{}
	for _, name := range names {
		if _, slot, ok := ourNS(name); ok {
			used[slot] = true
		}
	}
	links, err := output("", ip, "-o", "link", "show")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(links, "\n") {
		// "12: hn3c0@if11: <...> ..."
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		var slot, i int
		if n, _ := fmt.Sscanf(name, "hn%dc%d", &slot, &i); n == 2 {
			used[slot] = true
		}
	}
	for slot := range 256 {
		if !used[slot] {
			return slot, nil
		}
	}
	return 0, errors.New("all 256 client-link slots (10.78.<slot>.0/24) are in use")
}

// deleteNS kills every process in a namespace, waits for them to be gone
// and deletes the namespace.
func deleteNS(ip, name string) error {
	var listErr error
	err := harness.Poll(10*time.Second, "the processes in namespace "+name+" to die", func() error {
		out, err := output("", ip, "netns", "pids", name)
		if err != nil {
			listErr = err // try to delete it all the same
			return nil
		}
		pids := strings.Fields(out)
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if len(pids) > 0 {
			return fmt.Errorf("pids %s", strings.Join(pids, " "))
		}
		return nil
	})
	// What the processes leave of their TCP connections (a SYN-RECV whose
	// SYN-ACK was dropped, an orphan with unacknowledged data) keeps the
	// namespace, and so the client link's root end, alive until its timers
	// give up, minutes later; make them give up at once.
	_ = run("", ip, "netns", "exec", name, "/bin/sh", "-c",
		"cd /proc/sys/net/ipv4 && echo 0 >tcp_synack_retries && echo 1 >tcp_orphan_retries && echo 1 >tcp_fin_timeout")
	if derr := run("", ip, "netns", "delete", name); derr != nil {
		return errors.Join(listErr, err, derr)
	}
	return err
}
