package targetagent

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/target"
)

// TestDeployThroughHTTPTarget deploys with honuad's own http target: the
// folder serves the bundle, GET answers what is served, and the digest
// honuad's drift detection asks for matches the bundle's files.
func TestDeployThroughHTTPTarget(t *testing.T) {
	a := newAgent(t, nil)
	b := bundle("d1", 4, map[string]string{"metadata.json": `{"layers":[]}`, "conf/datasources.json": "{}"})
	if err := a.apply(b, 30*time.Second); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got := a.served("metadata.json"); got != `{"layers":[]}` {
		t.Errorf("the folder's metadata.json = %q; want the bundle's", got)
	}
	st := a.status()
	if st.Manifest == nil || st.Manifest.DeploymentID != "d1" || st.Manifest.Commit != b.Manifest.Commit || st.Manifest.FencingToken != 4 || st.HighestFencingToken != 4 {
		t.Errorf("status = %+v; want deployment d1 at %s with token 4, highest 4", st, b.Manifest.Commit)
	}
	want := target.FileDigests(b.Files)
	if !maps.Equal(st.Files, want) {
		t.Errorf("status files = %v; want %v", st.Files, want)
	}
	dg, err := a.httpTarget().(target.Digester).Digest(t.Context())
	if err != nil {
		t.Fatalf("Digest through the http target: %v", err)
	}
	if dg.Manifest == nil || dg.Manifest.BundleID() != "d1-4" || !maps.Equal(dg.Files, want) {
		t.Errorf("Digest = %+v %v; want d1-4 with %v", dg.Manifest, dg.Files, want)
	}
	if diff := target.DiffDigests(want, dg.Files); len(diff) > 0 {
		t.Errorf("drift detection would report %v", diff)
	}
}

// TestFencing: a lower token is refused with 409 and changes nothing; an
// equal one (a retry) is accepted; the highest token survives a restart.
func TestFencing(t *testing.T) {
	a := newAgent(t, nil)
	if err := a.apply(bundle("d2", 7, map[string]string{"metadata.json": "seven"}), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	err := a.apply(bundle("d1", 5, map[string]string{"metadata.json": "five"}), 30*time.Second)
	if !errors.Is(err, target.ErrFenced) {
		t.Fatalf("Apply of token 5 after 7: %v; want an error matching ErrFenced", err)
	}
	// The refusal says which token won, so that a cluster restored from an
	// older backup can take a token above it (reconcile's applyCommit).
	var fe *target.FencedError
	if !errors.As(err, &fe) || fe.Highest != 7 {
		t.Errorf("Apply of token 5 after 7: %#v; want a FencedError naming 7 as the highest accepted", fe)
	}
	low := bundle("d1", 5, map[string]string{"metadata.json": "five"})
	code, body := a.put(a.token, headers(low.Manifest), document(t, low.Manifest, map[string]string{"metadata.json": "five"}))
	if code != http.StatusConflict || !isJSONError(body, "fenced") {
		t.Errorf("PUT of token 5 after 7 = %d %s; want 409 with a JSON error coded fenced", code, body)
	}
	if got := a.served("metadata.json"); got != "seven" {
		t.Errorf("after the refused PUT the folder serves %q; want token 7's", got)
	}
	if err := a.apply(bundle("d2", 7, map[string]string{"metadata.json": "seven"}), 30*time.Second); err != nil {
		t.Errorf("a retry with the same token: %v; want it accepted", err)
	}

	a.restart()
	if st := a.status(); st.HighestFencingToken != 7 {
		t.Errorf("after a restart the highest token is %d; want 7", st.HighestFencingToken)
	}
	if err := a.apply(bundle("d1", 6, map[string]string{"metadata.json": "six"}), 30*time.Second); !errors.Is(err, target.ErrFenced) {
		t.Errorf("after a restart, Apply of token 6: %v; want it fenced by 7", err)
	}
	if err := a.apply(bundle("d3", 8, map[string]string{"metadata.json": "eight"}), 30*time.Second); err != nil {
		t.Errorf("after a restart, Apply of token 8: %v", err)
	}
	if got := a.served("metadata.json"); got != "eight" {
		t.Errorf("the folder serves %q; want token 8's", got)
	}
}

// TestHighestTokenIsDurable checks the token's record on disk: the state
// file beside the folder names it after an accepted PUT, before any later
// one, so that another agent process over the folder refuses lower ones.
func TestHighestTokenIsDurable(t *testing.T) {
	a := newAgent(t, nil)
	if err := a.apply(bundle("d1", 12, map[string]string{"metadata.json": "x"}), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(filepath.Dir(a.cfg.Dir), ".metadata.honua", "state.json")
	data, err := os.ReadFile(state)
	if err != nil {
		t.Fatalf("the state file: %v", err)
	}
	var st struct {
		Highest uint64 `json:"highestFencingToken"`
	}
	if err := json.Unmarshal(data, &st); err != nil || st.Highest != 12 {
		t.Errorf("%s = %s; want highestFencingToken 12", state, data)
	}
}

// TestUnauthorized: a missing, wrong or malformed token gets 401 with a
// JSON body, on PUT and GET, and nothing is written.
func TestUnauthorized(t *testing.T) {
	a := newAgent(t, nil)
	b := bundle("d1", 1, map[string]string{"metadata.json": "x"})
	doc := document(t, b.Manifest, map[string]string{"metadata.json": "x"})
	for _, bearer := range []string{"", "honua_" + strings.Repeat("0", 64), a.token + "x"} {
		code, body := a.put(bearer, headers(b.Manifest), doc)
		if code != http.StatusUnauthorized || !isJSONError(body, "unauthorized") {
			t.Errorf("PUT with token %.10q… = %d %s; want 401 with a JSON error", bearer, code, body)
		}
		if strings.Contains(body, a.token) {
			t.Errorf("the 401 answer echoes the token: %s", body)
		}
	}
	if code, body := a.get(BundlePath, ""); code != http.StatusOK {
		t.Errorf("GET with the token = %d %s", code, body)
	}
	req, _ := http.NewRequest(http.MethodGet, a.url(), nil)
	if code, body := do(t, req); code != http.StatusUnauthorized || !isJSONError(body, "unauthorized") {
		t.Errorf("GET without a token = %d %s; want 401", code, body)
	}
	if got := listDir(t, filepath.Dir(a.cfg.Dir)); !slices.Equal(got, []string{".", "honuad.token", "tokens.yaml"}) {
		t.Errorf("after refused requests the folder's parent holds %v; want nothing written", got)
	}
	// honuad's target with a wrong token fails at once: a 4xx is not retried.
	writeFile(t, a.tokenFile, "honua_wrong\n")
	if err := a.apply(b, 30*time.Second); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("Apply with a wrong token: %v; want the 401", err)
	}
}

// TestBadDocuments: paths that leave the folder, headers that disagree with
// the manifest, and bodies that are not documents get 400 and write
// nothing; a body over --max-bundle-size gets 413.
func TestBadDocuments(t *testing.T) {
	a := newAgent(t, func(c *Config) { c.MaxBundleSize = 4096 })
	m := bundle("d1", 3, nil).Manifest
	for _, c := range []struct {
		name   string
		header map[string]string
		body   string
	}{
		{"parent path", headers(m), document(t, m, map[string]string{"../escape.json": "x"})},
		{"deep parent path", headers(m), document(t, m, map[string]string{"a/../../escape.json": "x"})},
		{"absolute path", headers(m), document(t, m, map[string]string{"/etc/passwd": "x"})},
		{"manifest path", headers(m), document(t, m, map[string]string{".honua/deployment.json": "{}"})},
		{"backslash", headers(m), document(t, m, map[string]string{`..\escape.json`: "x"})},
		{"no files", headers(m), document(t, m, map[string]string{})},
		{"token header differs", map[string]string{target.FencingTokenHeader: "4", target.DeploymentIDHeader: "d1"}, document(t, m, map[string]string{"a.json": "x"})},
		{"id header differs", map[string]string{target.FencingTokenHeader: "3", target.DeploymentIDHeader: "d9"}, document(t, m, map[string]string{"a.json": "x"})},
		{"no headers", nil, document(t, m, map[string]string{"a.json": "x"})},
		{"not JSON", headers(m), "{"},
		{"two documents", headers(m), document(t, m, map[string]string{"a.json": "x"}) + "{}"},
		{"bad id", headers(target.Manifest{DeploymentID: "../x", FencingToken: 3}), document(t, target.Manifest{DeploymentID: "../x", FencingToken: 3}, map[string]string{"a.json": "x"})},
	} {
		code, body := a.put(a.token, c.header, c.body)
		if code != http.StatusBadRequest || !isJSONError(body, "invalid") {
			t.Errorf("%s: PUT = %d %s; want 400 with a JSON error", c.name, code, body)
		}
	}
	big := document(t, m, map[string]string{"a.json": strings.Repeat("x", 5000)})
	if code, body := a.put(a.token, headers(m), big); code != http.StatusRequestEntityTooLarge || !isJSONError(body, "too_large") {
		t.Errorf("PUT of %d bytes over a 4096-byte limit = %d %s; want 413", len(big), code, body)
	}
	if got := listDir(t, filepath.Dir(a.cfg.Dir)); !slices.Equal(got, []string{".", "honuad.token", "tokens.yaml"}) {
		t.Errorf("after refused PUTs the folder's parent holds %v; want nothing written", got)
	}
}

// TestRoutes: other methods get 405 and other paths 404, with JSON bodies.
func TestRoutes(t *testing.T) {
	a := newAgent(t, nil)
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, BundlePath, http.StatusMethodNotAllowed},
		{http.MethodDelete, BundlePath, http.StatusMethodNotAllowed},
		{http.MethodPut, HealthPath, http.StatusMethodNotAllowed},
		{http.MethodGet, "/v1/other", http.StatusNotFound},
	} {
		req, _ := http.NewRequest(c.method, a.srv.URL+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+a.token)
		if code, body := do(t, req); code != c.want || !json.Valid([]byte(body)) {
			t.Errorf("%s %s = %d %s; want %d with a JSON body", c.method, c.path, code, body, c.want)
		}
	}
}

// isJSONError reports whether body is the API's JSON error with code.
func isJSONError(body, code string) bool {
	var e api.ErrorBody
	return json.Unmarshal([]byte(body), &e) == nil && e.Code == code && e.Error != ""
}
