package targetagent

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestReloadURL: every switch POSTs the reload URL; a reload that fails is
// a 502, which honuad's target retries with the same bundle until the
// reload succeeds.
func TestReloadURL(t *testing.T) {
	var posts, failures atomic.Int32
	failures.Store(2)
	honua := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/admin/metadata/reload" {
			http.Error(w, "unexpected", http.StatusNotFound)
			return
		}
		posts.Add(1)
		if failures.Add(-1) >= 0 {
			http.Error(w, "not yet", http.StatusInternalServerError)
		}
	}))
	defer honua.Close()
	a := newAgent(t, func(c *Config) { c.ReloadURL = honua.URL + "/admin/metadata/reload" })
	if err := a.apply(bundle("d1", 1, map[string]string{"metadata.json": "one"}), 30*time.Second); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if n := posts.Load(); n != 3 {
		t.Errorf("reload POSTs = %d; want 3 (two failed, retried by honuad's target)", n)
	}
	if got := a.served("metadata.json"); got != "one" {
		t.Errorf("the folder serves %q", got)
	}
}

// TestReloadCommand runs the command with the bundle's variables; one that
// fails is a 502 naming its output.
func TestReloadCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "reloaded")
	a := newAgent(t, func(c *Config) {
		c.ReloadCommand = `echo "$HONUA_DEPLOYMENT_ID $HONUA_FENCING_TOKEN $HONUA_COMMIT $(cat "$HONUA_BUNDLE_DIR/metadata.json")" > ` + out
	})
	if err := a.apply(bundle("d1", 2, map[string]string{"metadata.json": "one"}), 30*time.Second); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	got, err := os.ReadFile(out)
	if err != nil || strings.TrimSpace(string(got)) != "d1 2 c0ffee2 one" {
		t.Errorf("the reload command wrote %q (%v); want \"d1 2 c0ffee2 one\"", got, err)
	}

	a.cfg.ReloadCommand = "echo the server is down >&2; exit 3"
	a.restart()
	b := bundle("d2", 3, map[string]string{"metadata.json": "two"})
	code, body := a.put(a.token, headers(b.Manifest), document(t, b.Manifest, map[string]string{"metadata.json": "two"}))
	if code != http.StatusBadGateway || !isJSONError(body, "reload_failed") || !strings.Contains(body, "the server is down") {
		t.Errorf("PUT with a failing reload command = %d %s; want 502 naming its output", code, body)
	}
}

// TestHealth passes the Honua server's health on: 200 while it answers
// 2xx, 503 with what it said otherwise; no token needed.
func TestHealth(t *testing.T) {
	var healthy atomic.Bool
	honua := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
		}
	}))
	defer honua.Close()
	a := newAgent(t, func(c *Config) { c.HealthURL = honua.URL + "/healthz" })
	get := func() (int, string) {
		req, _ := http.NewRequest(http.MethodGet, a.srv.URL+HealthPath, nil)
		return do(t, req)
	}
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "warming up") {
		t.Errorf("health while the server is unhealthy = %d %s; want 503 with its answer", code, body)
	}
	healthy.Store(true)
	if code, body := get(); code != http.StatusOK {
		t.Errorf("health while the server is healthy = %d %s; want 200", code, body)
	}
	honua.Close()
	if code, body := get(); code != http.StatusServiceUnavailable {
		t.Errorf("health while the server is down = %d %s; want 503", code, body)
	}
}
