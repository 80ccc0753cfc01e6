package gitserver

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds how long a server may take to accept connections.
const startTimeout = 15 * time.Second

// pollInterval is how often a wait re-checks its condition.
const pollInterval = 10 * time.Millisecond

// Daemon is a `git daemon` serving every repository under a root over
// git:// on a loopback port (or on the address given to StartDaemonAt). It
// keeps its port across Stop and Start, so a test can take the remote away
// and bring it back at the same URL.
type Daemon struct {
	t    testing.TB
	root string
	host string // the IP it listens on
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	log  *lockedBuffer
}

// StartDaemon starts `git daemon --export-all` for the repositories under
// root and waits until it accepts connections. It stops at the test's
// cleanup; if the test failed, the daemon's log is printed.
func StartDaemon(t testing.TB, root string) *Daemon {
	t.Helper()
	return StartDaemonAt(t, root, "127.0.0.1")
}

// StartDaemonAt is StartDaemon listening on host, an IP address of this
// machine, instead of 127.0.0.1: the address of a network namespace's
// service route, say, for nodes that cannot reach this loopback.
func StartDaemonAt(t testing.TB, root, host string) *Daemon {
	t.Helper()
	RequireGit(t)
	d := &Daemon{t: t, root: root, host: host, log: &lockedBuffer{}}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		d.port = freePortOn(t, host)
		if err = d.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("gitserver: start git daemon for %s: %v\n%s", root, err, d.log.String())
	}
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("gitserver: git daemon log:\n%s", d.log.String())
		}
	})
	return d
}

// URL returns the git:// URL of the repository named name (Repo.Name).
func (d *Daemon) URL(name string) string {
	return "git://" + d.Addr() + "/" + name
}

// Addr is the daemon's host:port.
func (d *Daemon) Addr() string {
	return net.JoinHostPort(d.host, strconv.Itoa(d.port))
}

// Stop kills the daemon and the transfers it is serving, and returns once
// its port refuses connections.
func (d *Daemon) Stop() {
	d.t.Helper()
	d.stop()
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", d.Addr(), time.Second)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			d.t.Fatalf("gitserver: stop git daemon: %s still accepts connections after %v", d.Addr(), startTimeout)
		}
		<-time.After(pollInterval)
	}
}

// Start starts a stopped daemon again on the same port and waits until it
// accepts connections.
func (d *Daemon) Start() {
	d.t.Helper()
	if err := d.start(); err != nil {
		d.t.Fatalf("gitserver: restart git daemon on %s: %v\n%s", d.Addr(), err, d.log.String())
	}
}

func (d *Daemon) start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd != nil {
		return errors.New("already running")
	}
	cmd := exec.Command("git", "daemon",
		"--export-all",
		"--base-path="+d.root,
		"--reuseaddr",
		"--verbose",
		"--listen="+d.host,
		"--port="+strconv.Itoa(d.port),
	)
	cmd.Env = GitEnviron()
	cmd.Stdout, cmd.Stderr = d.log, d.log
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	if err := waitAccepting(d.Addr(), done); err != nil {
		killGroup(cmd)
		<-done
		return err
	}
	d.cmd, d.done = cmd, done
	return nil
}

func (d *Daemon) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return
	}
	killGroup(d.cmd)
	<-d.done
	d.cmd, d.done = nil, nil
}

// waitAccepting polls addr until it accepts a connection, the process
// behind it exits (done is closed), or startTimeout passes.
func waitAccepting(addr string, done <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %v for %s to accept connections: %w", startTimeout, addr, err)
		}
		select {
		case <-done:
			return fmt.Errorf("exited before accepting connections on %s", addr)
		case <-time.After(pollInterval):
		}
	}
}

// freePort returns a loopback TCP port that was free when it checked.
func freePort(t testing.TB) int {
	t.Helper()
	return freePortOn(t, "127.0.0.1")
}

// freePortOn returns a TCP port of host that was free when it checked.
func freePortOn(t testing.TB, host string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("gitserver: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartBlackhole listens on a loopback port, accepts every connection and
// never answers nor closes it (until the test's cleanup), like a remote
// whose host hangs. It returns the host:port.
func StartBlackhole(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("gitserver: listen for a blackhole: %v", err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// lockedBuffer is a bytes.Buffer safe for a process's output and a reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
