package harness

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// How long a node may take to exit after SIGKILL and after SIGTERM.
const (
	killTimeout = 10 * time.Second
	stopTimeout = 60 * time.Second
)

// Node is one honuad process, which can be stopped and started again with
// the same data dir, flags and ports.
type Node struct {
	t       TB
	token   string // bearer token for the harness's requests
	bin     string
	name    string // unique in the cluster, for messages
	id      string
	dir     string // holds the run logs (and the data dir, unless given)
	dataDir string
	http    string // --http-addr
	reach   string // where the test reaches the API, if not http
	raft    string
	gossip  string
	args    []string // without the --join flags
	join    []string
	joinAll func() []string // gives join when nil at the first start
	env     []string
	exec    []string // command prefix, such as ip netns exec NAME
	tls     TLSFiles // with TLS on; zero otherwise
	client  atomic.Pointer[http.Client]

	mu     sync.Mutex
	proc   *process // the current or last run; nil before Start
	logs   []string // one file per run
	paused bool
}

// process is one run of a node.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	code int           // exit code, -1 if killed by a signal; set before done closes
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ID returns the node's --node-id.
func (n *Node) ID() string { return n.id }

// APIAddr returns the host:port at which the test reaches the node's API:
// its HTTP address, or NodeConfig.APIReach when given.
func (n *Node) APIAddr() string {
	if n.reach != "" {
		return n.reach
	}
	return n.http
}

// URL returns the base URL of the node's API: https://APIAddr with TLS
// on, else http://APIAddr.
func (n *Node) URL() string {
	if n.tls.CA != "" {
		return "https://" + n.APIAddr()
	}
	return "http://" + n.APIAddr()
}

// TLSFiles returns the node's --tls-* files; zero without TLS.
func (n *Node) TLSFiles() TLSFiles { return n.tls }

// HTTPClient returns the client the harness reaches the node's API with:
// a short timeout, and with TLS on, the node's CA (or the one TrustCA
// gave).
func (n *Node) HTTPClient() *http.Client {
	if c := n.client.Load(); c != nil {
		return c
	}
	return client
}

func (n *Node) setClient(cfg *tls.Config) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	n.client.Store(&http.Client{Timeout: client.Timeout, Transport: tr})
}

// Reload sends SIGHUP: honuad reloads its TLS files and tokens file.
func (n *Node) Reload() {
	n.t.Helper()
	n.signal("reload", syscall.SIGHUP, n.Paused())
}

// HTTPAddr returns the node's --http-addr, which is APIAddr unless
// NodeConfig.APIReach was given.
func (n *Node) HTTPAddr() string { return n.http }

// RaftAddr returns the node's raft address.
func (n *Node) RaftAddr() string { return n.raft }

// GossipAddr returns the node's gossip address.
func (n *Node) GossipAddr() string { return n.gossip }

// DataDir returns the node's data dir.
func (n *Node) DataDir() string { return n.dataDir }

// String names the node for messages: its id, and the harness's name when
// they differ (two nodes may claim one id).
func (n *Node) String() string {
	if n.name == n.id {
		return n.id
	}
	return fmt.Sprintf("%s (%s)", n.id, n.name)
}

// Start starts the node's process.
func (n *Node) Start() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil && !n.proc.exited() {
		n.t.Fatalf("start %s: already running", n)
	}
	logPath := filepath.Join(n.dir, fmt.Sprintf("run%d.log", len(n.logs)+1))
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		n.t.Fatalf("start %s: %v", n, err)
	}
	if n.join == nil && n.joinAll != nil {
		n.join = n.joinAll()
	}
	args := slices.Clone(n.args)
	for _, addr := range n.join {
		args = append(args, "--join", addr)
	}
	var cmd *exec.Cmd
	if len(n.exec) > 0 {
		cmd = exec.Command(n.exec[0], append(append(slices.Clone(n.exec[1:]), n.bin), args...)...)
	} else {
		cmd = exec.Command(n.bin, args...)
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = n.env
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		n.t.Fatalf("start %s: %v", n, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		p.code = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	n.proc, n.paused = p, false
	n.logs = append(n.logs, logPath)
}

// PID returns the process id of the current run, or 0 if the node was
// never started. With NodeConfig.Exec it is the prefix's process id, which
// becomes honuad's once the prefix has exec'd it.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return 0
	}
	return n.proc.cmd.Process.Pid
}

// Restart starts the node again after Kill, Stop or its own exit, with the
// same data dir, flags and ports.
func (n *Node) Restart() {
	n.t.Helper()
	n.Start()
}

// Running reports whether the node's process is running (paused counts).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil && !n.proc.exited()
}

// Paused reports whether the node is stopped with SIGSTOP.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused && n.proc != nil && !n.proc.exited()
}

// current returns the running process, failing the test if there is none.
func (n *Node) current(op string) *process {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil || n.proc.exited() {
		n.t.Fatalf("%s %s: not running", op, n)
	}
	return n.proc
}

// Kill sends SIGKILL and waits for the process to be gone.
func (n *Node) Kill() {
	n.t.Helper()
	p := n.current("kill")
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		n.t.Fatalf("kill %s: %v", n, err)
	}
	select {
	case <-p.done:
	case <-time.After(killTimeout):
		n.t.Fatalf("kill %s: still running %v after SIGKILL", n, killTimeout)
	}
}

// Stop sends SIGTERM (resuming a paused node first) and waits for the
// process to exit, returning its exit code. If it has not exited within a
// minute, Stop kills it and returns an error.
func (n *Node) Stop() (int, error) {
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil || p.exited() {
		return 0, fmt.Errorf("stop %s: not running", n)
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	n.mu.Lock()
	n.paused = false
	n.mu.Unlock()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return 0, fmt.Errorf("stop %s: %w", n, err)
	}
	code, err := n.Wait(stopTimeout)
	if err != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		return code, fmt.Errorf("stop %s: no exit within %v of SIGTERM; killed it", n, stopTimeout)
	}
	return code, nil
}

// Wait waits up to timeout for the current run to exit and returns its exit
// code. It does not signal the process.
func (n *Node) Wait(timeout time.Duration) (int, error) {
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil {
		return 0, fmt.Errorf("wait for %s to exit: never started", n)
	}
	select {
	case <-p.done:
		return p.code, nil
	case <-time.After(timeout):
		return 0, fmt.Errorf("timed out after %v waiting for %s to exit", timeout, n)
	}
}

// Pause stops the process with SIGSTOP: it keeps its sockets but answers
// nothing until Resume.
func (n *Node) Pause() {
	n.t.Helper()
	n.signal("pause", syscall.SIGSTOP, true)
	// kill(2) returns before the process has stopped: a request it answers
	// meanwhile would show a paused node answering. Wait until the kernel
	// says it is stopped (Linux's /proc; elsewhere, on the signal alone).
	stat := fmt.Sprintf("/proc/%d/stat", n.PID())
	if _, err := os.Stat(stat); err != nil {
		return
	}
	if err := Poll(10*time.Second, n.String()+" to stop", func() error {
		b, err := os.ReadFile(stat)
		if err != nil {
			return err
		}
		// pid (comm) state ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) {
			return fmt.Errorf("%s: %q", stat, b)
		}
		if st := b[i+2]; st != 'T' && st != 't' {
			return fmt.Errorf("state %c", st)
		}
		return nil
	}); err != nil {
		n.t.Fatalf("pause %s: %v", n, err)
	}
}

// Resume continues a paused process with SIGCONT.
func (n *Node) Resume() {
	n.t.Helper()
	n.signal("resume", syscall.SIGCONT, false)
}

func (n *Node) signal(op string, sig syscall.Signal, paused bool) {
	n.t.Helper()
	p := n.current(op)
	if err := p.cmd.Process.Signal(sig); err != nil {
		n.t.Fatalf("%s %s: %v", op, n, err)
	}
	n.mu.Lock()
	n.paused = paused
	n.mu.Unlock()
}

// Log returns what the current (or last) run wrote to stdout and stderr.
func (n *Node) Log() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.logs) == 0 {
		return ""
	}
	b, err := os.ReadFile(n.logs[len(n.logs)-1])
	if err != nil {
		return fmt.Sprintf("(read log: %v)", err)
	}
	return string(b)
}

// logTails logs the last lines of every run's output.
func (n *Node) logTails(lines int) {
	n.mu.Lock()
	logs := append([]string(nil), n.logs...)
	n.mu.Unlock()
	for i, path := range logs {
		b, err := os.ReadFile(path)
		if err != nil {
			n.t.Logf("%s run %d: read log: %v", n, i+1, err)
			continue
		}
		all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		tail := all[max(0, len(all)-lines):]
		n.t.Logf("%s run %d, last %d of %d log lines:\n%s", n, i+1, len(tail), len(all), strings.Join(tail, "\n"))
	}
}

// kill ends the process, if running, for cleanup.
func (n *Node) kill() {
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(killTimeout):
	}
}
