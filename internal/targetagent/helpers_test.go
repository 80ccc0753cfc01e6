package targetagent

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/rpc"
	"github.com/honua-io/honua-gitops/internal/target"
)

// agentT is an agent under test, served by a real HTTP server.
type agentT struct {
	t     *testing.T
	cfg   Config
	srv   *httptest.Server
	token string // a valid bearer token
	// tokenFile holds token, for honuad's http target.
	tokenFile string
}

// newAgent serves an agent for a folder in a new temporary directory,
// with one token; edit changes its configuration first.
func newAgent(t *testing.T, edit func(*Config)) *agentT {
	t.Helper()
	root := t.TempDir()
	token, entry, err := rpc.NewToken("honuad", rpc.RoleAdmin, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Dir = filepath.Join(root, "metadata")
	cfg.TokensFile = filepath.Join(root, "tokens.yaml")
	writeFile(t, cfg.TokensFile, "tokens:\n"+entry)
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	a := &agentT{t: t, cfg: cfg, token: token, tokenFile: filepath.Join(root, "honuad.token")}
	writeFile(t, a.tokenFile, token+"\n")
	a.start()
	return a
}

// start serves the agent (again, after stop: a restart).
func (a *agentT) start() {
	a.t.Helper()
	var tokens *rpc.Tokens
	if a.cfg.TokensFile != "" {
		var err error
		if tokens, err = rpc.LoadTokens(a.cfg.TokensFile); err != nil {
			a.t.Fatal(err)
		}
	}
	h, err := New(a.cfg, tokens, testLogger(a.t))
	if err != nil {
		a.t.Fatal(err)
	}
	a.srv = httptest.NewServer(h)
	a.t.Cleanup(a.srv.Close)
}

// restart stops the agent's server and serves a new agent on the same
// folder, as a restarted process would.
func (a *agentT) restart() {
	a.t.Helper()
	a.srv.Close()
	a.start()
}

func (a *agentT) url() string { return a.srv.URL + BundlePath }

// httpTarget is honuad's http target for the agent, with its token.
func (a *agentT) httpTarget() target.Target {
	a.t.Helper()
	tg, err := target.New(target.Config{Type: "http", URL: a.url(), TokenFile: a.tokenFile, Timeout: 10 * time.Second})
	if err != nil {
		a.t.Fatal(err)
	}
	return tg
}

// apply deploys b through honuad's http target, within timeout.
func (a *agentT) apply(b *target.Bundle, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return a.httpTarget().Apply(ctx, b)
}

// put sends a raw PUT with the bearer token bearer ("" for none) and
// returns the status and body.
func (a *agentT) put(bearer string, header map[string]string, body string) (int, string) {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodPut, a.url(), strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return do(a.t, req)
}

// get GETs path with the agent's token and the Accept header accept.
func (a *agentT) get(path, accept string) (int, string) {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.srv.URL+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return do(a.t, req)
}

// status GETs the agent's Status.
func (a *agentT) status() Status {
	a.t.Helper()
	code, body := a.get(BundlePath, "")
	if code != http.StatusOK {
		a.t.Fatalf("GET %s = %d %s; want 200", BundlePath, code, body)
	}
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		a.t.Fatalf("GET %s: %v in %s", BundlePath, err, body)
	}
	return st
}

// served reads the file name of what the folder serves, "" if missing.
func (a *agentT) served(name string) string {
	b, err := os.ReadFile(filepath.Join(a.cfg.Dir, filepath.FromSlash(name)))
	if err != nil {
		return ""
	}
	return string(b)
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// bundle returns a bundle of deployment id with the token and files
// name → content.
func bundle(id string, token uint64, files map[string]string) *target.Bundle {
	b := &target.Bundle{
		Manifest: target.Manifest{DeploymentID: id, Environment: "production", Commit: "c0ffee" + strconv.FormatUint(token, 10),
			Kind: "auto", FencingToken: token, Time: time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)},
		Files: map[string][]byte{},
	}
	for name, content := range files {
		b.Files[name] = []byte(content)
	}
	return b
}

// document encodes a PUT body by hand, for requests honuad would not send.
func document(t *testing.T, m target.Manifest, files map[string]string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"manifest": m, "files": files})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func headers(m target.Manifest) map[string]string {
	return map[string]string{
		target.FencingTokenHeader: strconv.FormatUint(m.FencingToken, 10),
		target.DeploymentIDHeader: m.DeploymentID,
		"Content-Type":            "application/json",
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// listDir lists root's entries recursively (slash paths), for checking that
// nothing was written.
func listDir(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
