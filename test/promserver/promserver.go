// Package promserver runs a real Prometheus (Debian's /usr/bin/prometheus)
// for tests: it scrapes the targets a test names every second, each with
// a target label, and answers the HTTP API on a free port of 127.0.0.1. A
// test on a machine without prometheus skips, saying so.
package promserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/test/logbuf"
)

// StartTimeout bounds how long Start waits for Prometheus to be ready.
const StartTimeout = 60 * time.Second

// Server is a running Prometheus.
type Server struct {
	// URL is the base URL of its HTTP API.
	URL string
	cmd *exec.Cmd
}

// Binary returns the path of prometheus, or skips t when it is not
// installed.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skipf("SKIP: prometheus is not installed (Debian package prometheus; .ci/run installs it): %v", err)
	}
	return p
}

// Start runs Prometheus scraping each of targets (target name → host:port,
// GET /metrics) every second, the series labelled target="<name>". It stops
// at the test's cleanup.
func Start(t testing.TB, targets map[string]string) *Server {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: honua\n    static_configs:\n")
	for name, addr := range targets {
		fmt.Fprintf(&b, "      - targets: [%q]\n        labels: {target: %q}\n", addr, name)
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	logs := &logbuf.Buffer{}
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s := &Server{URL: "http://" + addr, cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/-/ready", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-done:
			t.Fatalf("prometheus exited before it was ready:\n%s", logs.String())
		case <-ctx.Done():
			t.Fatalf("prometheus not ready at %s within %v:\n%s", s.URL, StartTimeout, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freeAddr returns a 127.0.0.1 port nothing listens on now.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Stop kills Prometheus now: its API stops answering.
func (s *Server) Stop() { _ = s.cmd.Process.Kill() }
