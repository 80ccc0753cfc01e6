package rpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/honua-io/honua-gitops/test/logbuf"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/cluster/clustertest"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/gossipkey"
)

// keyringCluster is an in-process cluster whose gossip is encrypted and
// whose nodes serve the real API over real HTTP, logging into one buffer.
type keyringCluster struct {
	*clustertest.Cluster
	addrs  []string
	tokens map[string]string // name → token: vera (viewer), root (admin)
	logs   *syncBuffer
}

// syncBuffer is a log sink the test reads while others write.
type syncBuffer = logbuf.Buffer

// Keys of the keyring tests.
var (
	key1 = bytes.Repeat([]byte{1}, gossipkey.Size)
	key2 = bytes.Repeat([]byte{2}, gossipkey.Size)
)

// startKeyringCluster starts n nodes; key, when not nil, encrypts their
// gossip.
func startKeyringCluster(t *testing.T, n int, key []byte) *keyringCluster {
	t.Helper()
	kc := &keyringCluster{addrs: make([]string, n), tokens: map[string]string{}, logs: &syncBuffer{}}
	var file strings.Builder
	file.WriteString("tokens:\n")
	for _, who := range []struct {
		name string
		role Role
	}{{"vera", RoleViewer}, {"root", RoleAdmin}} {
		tok, entry, err := NewToken(who.name, who.role, nil)
		if err != nil {
			t.Fatal(err)
		}
		kc.tokens[who.name] = tok
		file.WriteString(entry)
	}
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(kc.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	listeners := make([]net.Listener, n)
	kc.Cluster = clustertest.Start(t, n, clustertest.Options{
		Adjust: func(i int, cfg *cluster.Config) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			listeners[i], kc.addrs[i] = ln, ln.Addr().String()
			cfg.APIAddr = kc.addrs[i]
			cfg.GossipKey = key
			cfg.Logger = logger.With("node", cfg.NodeID)
		},
		Setup: func(i int, n *cluster.Node, f *fsm.FSM) {
			s := NewServer(Config{Cluster: n, Store: f, Tokens: tokens, Keyring: n, Logger: logger})
			srv := &http.Server{Handler: s}
			go srv.Serve(listeners[i])
			t.Cleanup(func() { srv.Close() })
		},
	})
	return kc
}

// call sends a request to node i as who and returns the answer's status,
// headers and body.
func (kc *keyringCluster) call(t *testing.T, i int, who, method, path, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+kc.addrs[i]+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok, ok := kc.tokens[who]; ok {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func opBody(op string, key []byte) string {
	return fmt.Sprintf(`{"op": %q, "key": %q}`, op, gossipkey.Encode(key))
}

// TestKeyringEndpointsAreLocal changes a follower's keyring through its own
// API, with ?consistent=true too: the follower answers itself, and the
// leader's keyring is untouched.
func TestKeyringEndpointsAreLocal(t *testing.T) {
	kc := startKeyringCluster(t, 3, key1)
	leader := kc.Leader()
	follower := -1
	for i, n := range kc.Nodes() {
		if n != leader {
			follower = i
			break
		}
	}
	fid := kc.Nodes()[follower].ID()
	fp1, fp2 := gossipkey.Fingerprint(key1), gossipkey.Fingerprint(key2)

	code, hdr, body := kc.call(t, follower, "root", "POST", "/v1/agent/keyring?consistent=true", opBody("install", key2))
	var change api.KeyringChange
	if err := json.Unmarshal(body, &change); code != 200 || err != nil {
		t.Fatalf("install on follower %s = %d %s", fid, code, body)
	}
	if hdr.Get(forwardedHeader) != "" || hdr.Get("X-Honua-Forwarded-To") != "" || hdr.Get("X-Honua-Node") != fid {
		t.Errorf("install on %s was answered by %q, forwarded to %q; want the follower itself",
			fid, hdr.Get("X-Honua-Node"), hdr.Get("X-Honua-Forwarded-To"))
	}
	want := api.KeyringChange{Op: "install", Fingerprint: fp2, Changed: true,
		Keyring: api.Keyring{Node: fid, Encrypted: true, Primary: fp1, Keys: []string{fp1, fp2}, Count: 2}}
	if fmt.Sprint(change) != fmt.Sprint(want) {
		t.Errorf("install answer = %+v; want %+v", change, want)
	}
	for _, n := range kc.Nodes() {
		kr := n.GossipKeyring()
		if n.ID() == fid && kr.Count != 2 || n.ID() != fid && kr.Count != 1 {
			t.Errorf("%s holds %d keys after an install on %s alone", n.ID(), kr.Count, fid)
		}
	}

	code, hdr, body = kc.call(t, follower, "root", "GET", "/v1/agent/keyring?consistent=true", "")
	var kr api.Keyring
	if err := json.Unmarshal(body, &kr); code != 200 || err != nil || hdr.Get("X-Honua-Node") != fid {
		t.Fatalf("GET keyring on %s = %d %s (answered by %s)", fid, code, body, hdr.Get("X-Honua-Node"))
	}
	if fmt.Sprint(kr) != fmt.Sprint(want.Keyring) {
		t.Errorf("GET keyring = %+v; want %+v", kr, want.Keyring)
	}
	if strings.Contains(string(body), gossipkey.Encode(key1)) || strings.Contains(string(body), gossipkey.Encode(key2)) {
		t.Errorf("GET keyring shows a key: %s", body)
	}

	for _, step := range []struct {
		body    string
		changed bool
		keys    []string
	}{
		{opBody("install", key2), false, []string{fp1, fp2}},
		{opBody("use", key2), true, []string{fp2, fp1}},
		{opBody("use", key2), false, []string{fp2, fp1}},
		{opBody("remove", key1), true, []string{fp2}},
		{opBody("remove", key1), false, []string{fp2}},
	} {
		code, _, body := kc.call(t, follower, "root", "POST", "/v1/agent/keyring", step.body)
		var c api.KeyringChange
		if err := json.Unmarshal(body, &c); code != 200 || err != nil || c.Changed != step.changed || !slices.Equal(c.Keys, step.keys) {
			t.Errorf("POST %s = %d %s; want changed %v, keys %v", step.body, code, body, step.changed, step.keys)
		}
	}
}

func TestKeyringEndpointErrors(t *testing.T) {
	kc := startKeyringCluster(t, 1, key1)
	k2 := gossipkey.Encode(key2)
	for _, c := range []struct {
		name, who, method, body, contentType string
		status                               int
		code, msg                            string
	}{
		{"no token", "", "GET", "", "", 401, "unauthorized", ""},
		{"viewer lists", "vera", "GET", "", "", 403, "forbidden", "admin"},
		{"viewer changes", "vera", "POST", opBody("install", key2), "", 403, "forbidden", "admin"},
		{"unknown op", "root", "POST", `{"op": "rotate", "key": "` + k2 + `"}`, "", 400, "invalid", `op "rotate": must be install, use or remove`},
		{"empty body", "root", "POST", ``, "", 400, "invalid", "must be install, use or remove"},
		{"no key", "root", "POST", `{"op": "install"}`, "", 400, "invalid", "key: invalid gossip key: is empty"},
		{"not base64", "root", "POST", `{"op": "install", "key": "` + strings.Replace(k2, "A", "*", 3) + `"}`, "", 400, "invalid", "is not base64"},
		{"short key", "root", "POST", `{"op": "install", "key": "` + gossipkey.Encode(key2[:16]) + `"}`, "", 400, "invalid", "decodes to 16 bytes"},
		{"unknown field", "root", "POST", `{"op": "install", "key": "` + k2 + `", "primary": true}`, "", 400, "invalid", "primary"},
		{"not JSON", "root", "POST", `op=install&key=` + k2, "", 400, "invalid", "request body"},
		{"form content type", "root", "POST", opBody("install", key2), "application/x-www-form-urlencoded", 415, "unsupported_media_type", ""},
		{"use a key not installed", "root", "POST", opBody("use", key2), "", 409, "wrong_state", "use gossip key " + gossipkey.Fingerprint(key2) + ": the key is not installed on this node: install it first"},
		{"remove the primary", "root", "POST", opBody("remove", key1), "", 409, "wrong_state", "remove gossip key " + gossipkey.Fingerprint(key1) + ": the key is this node's primary key: use another key first"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, "http://"+kc.addrs[0]+"/v1/agent/keyring", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case c.contentType != "":
				req.Header.Set("Content-Type", c.contentType)
			case c.body != "":
				req.Header.Set("Content-Type", "application/json")
			}
			if tok, ok := kc.tokens[c.who]; ok {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var eb api.ErrorBody
			if err := json.Unmarshal(b, &eb); resp.StatusCode != c.status || err != nil || eb.Code != c.code || !strings.Contains(eb.Error, c.msg) {
				t.Errorf("= %d %s; want %d %s saying %q", resp.StatusCode, b, c.status, c.code, c.msg)
			}
			for _, k := range []string{k2, gossipkey.Encode(key1), gossipkey.Encode(key2[:16])} {
				if strings.Contains(string(b), k[:12]) {
					t.Errorf("the answer quotes a key: %s", b)
				}
			}
		})
	}
	if kr := kc.Nodes()[0].GossipKeyring(); kr.Count != 1 || kr.Primary != gossipkey.Fingerprint(key1) {
		t.Errorf("after refused requests the keyring is %+v; want key1 alone", kr)
	}
	logs := kc.logs.String()
	for _, k := range []string{gossipkey.Encode(key1), k2} {
		if strings.Contains(logs, k[:12]) {
			t.Errorf("a key appears in the logs:\n%s", logs)
		}
	}
}

// TestKeyringChangeIsLoggedByFingerprint: the change is logged with who made
// it and the key's fingerprint, never the key.
func TestKeyringChangeIsLoggedByFingerprint(t *testing.T) {
	kc := startKeyringCluster(t, 1, key1)
	if code, _, body := kc.call(t, 0, "root", "POST", "/v1/agent/keyring", opBody("install", key2)); code != 200 {
		t.Fatalf("install = %d %s", code, body)
	}
	logs := kc.logs.String()
	if !strings.Contains(logs, "gossip keyring install") || !strings.Contains(logs, gossipkey.Fingerprint(key2)) || !strings.Contains(logs, "by=root") {
		t.Errorf("the logs do not record the install by root of %s:\n%s", gossipkey.Fingerprint(key2), logs)
	}
	if strings.Contains(logs, gossipkey.Encode(key2)) {
		t.Errorf("the key appears in the logs:\n%s", logs)
	}
}

func TestKeyringOnUnencryptedNode(t *testing.T) {
	kc := startKeyringCluster(t, 1, nil)
	code, _, body := kc.call(t, 0, "root", "GET", "/v1/agent/keyring", "")
	var kr api.Keyring
	if err := json.Unmarshal(body, &kr); code != 200 || err != nil || kr.Encrypted || kr.Count != 0 || kr.Node != "node1" || kr.Keys == nil {
		t.Errorf("GET keyring on an unencrypted node = %d %s; want encrypted false, no keys", code, body)
	}
	code, _, body = kc.call(t, 0, "root", "POST", "/v1/agent/keyring", opBody("install", key2))
	if code != 409 || !strings.Contains(string(body), "gossip is not encrypted on this node") {
		t.Errorf("install on an unencrypted node = %d %s; want 409 saying gossip is not encrypted", code, body)
	}
}
