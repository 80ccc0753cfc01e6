package targetagent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/internal/target"
)

// outputLimit bounds how much of a reload command's output an error keeps.
const outputLimit = 2048

// runReload makes the Honua server read the bundle just switched in:
// POSTs --reload-url (target.Reload: 2xx wanted, no redirect followed)
// or runs --reload-command, within --reload-timeout. Neither set: nothing.
func (s *Server) runReload(ctx context.Context, b *target.Bundle) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.cfg.ReloadTimeout))
	defer cancel()
	switch {
	case s.cfg.ReloadURL != "":
		return target.Reload(ctx, s.cfg.ReloadURL)
	case s.cfg.ReloadCommand != "":
		return s.runReloadCommand(ctx, b)
	}
	return nil
}

// runReloadCommand runs --reload-command with sh -c, its environment the
// agent's plus HONUA_BUNDLE_DIR (--dir), HONUA_DEPLOYMENT_ID,
// HONUA_ENVIRONMENT, HONUA_COMMIT, HONUA_FENCING_TOKEN and HONUA_KIND, as
// an exec target's.
func (s *Server) runReloadCommand(ctx context.Context, b *target.Bundle) error {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", s.cfg.ReloadCommand)
	m := b.Manifest
	cmd.Env = append(os.Environ(),
		"HONUA_BUNDLE_DIR="+s.cfg.Dir,
		"HONUA_DEPLOYMENT_ID="+m.DeploymentID,
		"HONUA_ENVIRONMENT="+m.Environment,
		"HONUA_COMMIT="+m.Commit,
		"HONUA_FENCING_TOKEN="+strconv.FormatUint(m.FencingToken, 10),
		"HONUA_KIND="+m.Kind)
	var out bytes.Buffer
	w := &limitWriter{w: &out, n: outputLimit}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return fmt.Errorf("reload command: %w; output: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// limitWriter keeps the first n bytes written to it and drops the rest.
type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// healthClient asks the Honua server's health; it follows no redirect.
var healthClient = &http.Client{
	Timeout:       5 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// health is GET /healthz's answer.
type health struct {
	Status string `json:"status"` // ok or unhealthy
	// Server is what --health-url answered, when set.
	Server string `json:"server,omitempty"`
}

// handleHealth answers 200 while the agent serves and, with --health-url,
// the Honua server answers it 2xx; 503 otherwise, saying what the server
// answered. It needs no token: probes ask it.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if s.cfg.HealthURL == "" {
		writeJSON(w, http.StatusOK, health{Status: "ok"})
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, s.cfg.HealthURL, nil)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, health{Status: "unhealthy", Server: err.Error()})
		return
	}
	resp, err := healthClient.Do(req)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, health{Status: "unhealthy", Server: err.Error()})
		return
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	resp.Body.Close()
	detail := resp.Status
	if t := strings.TrimSpace(strings.ToValidUTF8(string(data), "\uFFFD")); t != "" {
		detail += ": " + t
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		writeJSON(w, http.StatusServiceUnavailable, health{Status: "unhealthy", Server: detail})
		return
	}
	writeJSON(w, http.StatusOK, health{Status: "ok", Server: detail})
}
