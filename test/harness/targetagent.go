package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/honua-io/honua-gitops/internal/rpc"
)

// TargetAgent is one honuad target-agent process beside a stand-in Honua
// server's folder: the receiving end of http targets. It can be killed
// and started again with the same folder, port and tokens.
type TargetAgent struct {
	t     TB
	bin   string
	name  string
	dir   string // holds the folder's parent, the tokens and the logs
	addr  string // 127.0.0.1:port
	token string // a bearer token the agent accepts
	args  []string

	mu   sync.Mutex
	proc *process
	logs []string
}

// StartTargetAgent starts a target agent named name on a free port of
// 127.0.0.1, serving the folder Dir() with one bearer token (TokenFile
// holds it, for honuad's http targets); extra flags are added to its
// command line. It waits until the agent answers its health check, and
// kills it when the test ends, logging its output if the test failed.
func StartTargetAgent(t TB, name string, extra ...string) *TargetAgent {
	t.Helper()
	return StartTargetAgentIn(t, name, filepath.Join(t.TempDir(), name), extra...)
}

// StartTargetAgentIn is StartTargetAgent with the agent's files in dir,
// which it creates if needed: its folder (dir/metadata, beside which the
// agent keeps its bundles and fencing state), tokens and logs. A test
// puts dir on a small file system to fill it.
func StartTargetAgentIn(t TB, name, dir string, extra ...string) *TargetAgent {
	t.Helper()
	a := &TargetAgent{t: t, bin: Build(t), name: name, dir: dir}
	if err := os.MkdirAll(a.dir, 0o755); err != nil {
		t.Fatalf("target agent %s: %v", name, err)
	}
	token, entry, err := rpc.NewToken("honuad", rpc.RoleAdmin, nil)
	if err != nil {
		t.Fatalf("target agent %s: %v", name, err)
	}
	a.token = token
	tokens := filepath.Join(a.dir, "tokens.yaml")
	for file, content := range map[string]string{tokens: "tokens:\n" + entry, a.TokenFile(): token + "\n"} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatalf("target agent %s: %v", name, err)
		}
	}
	a.addr = fmt.Sprintf("127.0.0.1:%d", FreePorts(t, 1)[0])
	a.args = append([]string{"target-agent", "--listen", a.addr, "--dir", a.Dir(), "--tokens-file", tokens, "--log-level", "debug"}, extra...)
	t.Cleanup(func() {
		if t.Failed() {
			a.logTails(40)
		}
		a.kill()
	})
	a.Start()
	return a
}

// Dir is the folder the agent serves: a symlink to the bundle served.
func (a *TargetAgent) Dir() string { return filepath.Join(a.dir, "metadata") }

// TokenFile holds the bearer token the agent accepts.
func (a *TargetAgent) TokenFile() string { return filepath.Join(a.dir, "honuad.token") }

// Token is the bearer token the agent accepts.
func (a *TargetAgent) Token() string { return a.token }

// URL is the agent's bundle URL, an http target's url.
func (a *TargetAgent) URL() string { return "http://" + a.addr + "/v1/bundle" }

// Addr is the agent's host:port.
func (a *TargetAgent) Addr() string { return a.addr }

// String names the agent.
func (a *TargetAgent) String() string { return "target agent " + a.name }

// Start starts the agent's process and waits until it answers its health
// check.
func (a *TargetAgent) Start() {
	a.t.Helper()
	a.mu.Lock()
	if a.proc != nil && !a.proc.exited() {
		a.mu.Unlock()
		a.t.Fatalf("start %s: already running", a)
	}
	logPath := filepath.Join(a.dir, fmt.Sprintf("run%d.log", len(a.logs)+1))
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		a.mu.Unlock()
		a.t.Fatalf("start %s: %v", a, err)
	}
	cmd := exec.Command(a.bin, a.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = nodeEnv(nil)
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		a.mu.Unlock()
		a.t.Fatalf("start %s: %v", a, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		p.code = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	a.proc = p
	a.logs = append(a.logs, logPath)
	a.mu.Unlock()
	err = Poll(60*time.Second, a.String()+" to answer GET /healthz", func() error {
		if p.exited() {
			return fmt.Errorf("exited with %d", p.code)
		}
		resp, err := http.Get("http://" + a.addr + "/healthz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /healthz: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		a.t.Fatalf("%v", err)
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (a *TargetAgent) Kill() {
	a.t.Helper()
	a.mu.Lock()
	p := a.proc
	a.mu.Unlock()
	if p == nil || p.exited() {
		a.t.Fatalf("kill %s: not running", a)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		a.t.Fatalf("kill %s: %v", a, err)
	}
	select {
	case <-p.done:
	case <-time.After(killTimeout):
		a.t.Fatalf("kill %s: still running %v after SIGKILL", a, killTimeout)
	}
}

// TargetAgentStatus is the agent's GET /v1/bundle answer.
type TargetAgentStatus struct {
	Manifest *struct {
		DeploymentID string `json:"deploymentId"`
		Environment  string `json:"environment"`
		Commit       string `json:"commit"`
		FencingToken uint64 `json:"fencingToken"`
	} `json:"manifest"`
	HighestFencingToken uint64            `json:"highestFencingToken"`
	Files               map[string]string `json:"files"`
}

// Status asks the agent what it serves.
func (a *TargetAgent) Status() (TargetAgentStatus, error) {
	var st TargetAgentStatus
	req, err := http.NewRequest(http.MethodGet, a.URL(), nil)
	if err != nil {
		return st, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return st, fmt.Errorf("%s: %w", a, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return st, fmt.Errorf("%s: %w", a, err)
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("%s: GET %s: %s %s", a, a.URL(), resp.Status, body)
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("%s: %w in %s", a, err, body)
	}
	return st, nil
}

// Log returns what the agent's current (or last) run wrote.
func (a *TargetAgent) Log() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.logs) == 0 {
		return ""
	}
	b, err := os.ReadFile(a.logs[len(a.logs)-1])
	if err != nil {
		return fmt.Sprintf("(read log: %v)", err)
	}
	return string(b)
}

func (a *TargetAgent) logTails(lines int) {
	a.mu.Lock()
	logs := slices.Clone(a.logs)
	a.mu.Unlock()
	for i, path := range logs {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		a.t.Logf("%s run %d, last %d lines:\n%s", a, i+1, lines, strings.Join(all[max(0, len(all)-lines):], "\n"))
	}
}

func (a *TargetAgent) kill() {
	a.mu.Lock()
	p := a.proc
	a.mu.Unlock()
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(killTimeout):
	}
}
