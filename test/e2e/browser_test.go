package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/honua-io/honua-gitops/test/harness"
)

// TestPageCannotRestoreWithoutTokens is issue 10's finding: a node without a
// tokens file took a backup POSTed as text/plain from any web page the
// user's browser visited, and replaced its state with it. The same
// requests, with the headers a browser adds, are refused now, also from a
// page that rebound its own name to the node's address; the same backup
// sent as honuactl sends it is restored.
func TestPageCannotRestoreWithoutTokens(t *testing.T) {
	skipIfShort(t)
	c := harness.Start(t, 1, harness.Options{})
	n := waitForHealthy(t, c, "n1")
	backup := getBody(t, n, "/v1/snapshot")

	page := []struct {
		name    string
		headers map[string]string
	}{
		{"a page of another site, as text/plain", map[string]string{"Content-Type": "text/plain",
			"Origin": "http://attacker.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}},
		{"a page of another site, as a form", map[string]string{"Content-Type": "application/x-www-form-urlencoded",
			"Origin": "http://attacker.example", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}},
		{"a page rebound to the node's address", map[string]string{"Content-Type": "application/octet-stream",
			"Origin": "http://" + n.APIAddr(), "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}},
		{"a page as text/plain, without the browser's headers", map[string]string{"Content-Type": "text/plain"}},
	}
	for _, p := range page {
		code, body := postSnapshot(t, n, backup, p.headers)
		t.Logf("%s: %d %s", p.name, code, body)
		if code != http.StatusForbidden && code != http.StatusUnsupportedMediaType {
			t.Errorf("restore from %s = %d %s; want it refused (403 or 415)", p.name, code, body)
		}
	}
	code, body := postSnapshot(t, n, backup, map[string]string{"Content-Type": "application/octet-stream"})
	var out struct {
		AppliedIndex uint64 `json:"appliedIndex"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &out) != nil || out.AppliedIndex == 0 {
		t.Fatalf("restore as honuactl sends it = %d %s; want 200 with the applied index", code, body)
	}
}

// postSnapshot POSTs a backup to node n with headers, and returns the
// answer's status and body.
func postSnapshot(t *testing.T, n *harness.Node, backup []byte, headers map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+n.APIAddr()+"/v1/snapshot", bytes.NewReader(backup))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, bytes.TrimSpace(b)
}
