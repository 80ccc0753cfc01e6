package rpc

import (
	"net/http"
	"strings"
	"testing"
)

// TestDebugProfilesOnlyWhenEnabledAndOnlyToAdmins: without Debug the
// pprof paths are unknown; with it, an admin gets a heap profile and the
// goroutine dump, an approver and a viewer get 403, and no token 401.
func TestDebugProfilesOnlyWhenEnabledAndOnlyToAdmins(t *testing.T) {
	f := newAPIFixture(t)
	if rec := f.do(t, "root", "GET", "/debug/pprof/heap", ""); rec.Code != http.StatusNotFound {
		t.Fatalf("without Debug: GET /debug/pprof/heap = %d, want 404", rec.Code)
	}
	cfg := f.s.cfg
	cfg.Debug = true
	cfg.Registry = nil // a fresh one: the first server's metrics are registered
	f.s = NewServer(cfg)
	for _, c := range []struct {
		who  string
		code int
	}{{"", http.StatusUnauthorized}, {"vera", http.StatusForbidden}, {"alice", http.StatusForbidden}, {"root", http.StatusOK}} {
		rec := f.do(t, c.who, "GET", "/debug/pprof/goroutine?debug=1", "")
		if rec.Code != c.code {
			t.Fatalf("%q: GET /debug/pprof/goroutine = %d %s, want %d", c.who, rec.Code, rec.Body, c.code)
		}
		if c.code == http.StatusOK && !strings.Contains(rec.Body.String(), "goroutine profile:") {
			t.Fatalf("admin's goroutine dump = %.200s", rec.Body)
		}
	}
	if rec := f.do(t, "root", "GET", "/debug/pprof/heap", ""); rec.Code != http.StatusOK || rec.Body.Len() == 0 {
		t.Fatalf("admin: GET /debug/pprof/heap = %d (%d bytes)", rec.Code, rec.Body.Len())
	}
}
