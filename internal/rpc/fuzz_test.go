package rpc

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// Fuzz targets of what the API reads from outside: requests (method, path
// and its parameters, query, headers, body), webhook deliveries, the
// Authorization header and the tokens file. `make fuzz` runs each for a
// while; `go test` runs their seeds.

// fuzzMethods are the methods a fuzzed request may use (the byte picks one).
var fuzzMethods = []string{"GET", "POST", "DELETE", "PUT", "HEAD", "PATCH", "OPTIONS"}

// fuzzWho are the identities a fuzzed request may come from (the byte
// picks one); "" sends the raw Authorization value instead.
var fuzzWho = []string{"vera", "alice", "olga", "root", ""}

// openPaths are served without a token.
func openPath(method, path string) bool {
	return (method == "GET" || method == "HEAD") && (path == "/healthz" || path == "/readyz" || path == "/metrics") ||
		strings.HasPrefix(path, "/v1/webhooks/")
}

// checkErrorBody fails unless an error answer is JSON with a message and a
// code.
func checkErrorBody(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code < 400 {
		return
	}
	var body api.ErrorBody
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s = %d with Content-Type %q; want an error body of application/json: %q", what, rec.Code, ct, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == "" || body.Code == "" {
		t.Fatalf("%s = %d %q; want a JSON error body with a message and a code (%v)", what, rec.Code, rec.Body, err)
	}
}

// FuzzAPI sends arbitrary requests to the API of a leader over a real FSM
// (newAPIFixture): any method, path (path parameters {id}, {env}, and the
// query: limit, cursor, state, env, consistent, lastEventId), body,
// Content-Type, Origin and Authorization. Properties:
//   - no panic, and no 5xx: bad input is the client's fault;
//   - every error answer is a JSON body with a message and a code;
//   - without a valid token only the open endpoints (probes, metrics,
//     webhooks) succeed; a viewer never succeeds with a write;
//   - every answer carries a sane X-Request-Id.
func FuzzAPI(f *testing.F) {
	add := func(method byte, path, body, ct string, who byte, auth, origin string) {
		f.Add(method, path, []byte(body), ct, who, auth, origin)
	}
	const j = "application/json"
	add(0, "/v1/status", "", "", 0, "", "")
	add(0, "/v1/status?consistent=true", "", "", 0, "", "")
	add(0, "/v1/environments", "", "", 0, "", "")
	add(0, "/v1/environments/production", "", "", 0, "", "")
	add(0, "/v1/environments/Prod%2F..%2F", "", "", 0, "", "")
	add(0, "/v1/environments/production/history?limit=1&cursor=production-2", "", "", 0, "", "")
	add(0, "/v1/environments/production/history?limit=99999999999999999999", "", "", 0, "", "")
	add(0, "/v1/environments/production/history?limit=-1&cursor=%00", "", "", 0, "", "")
	add(0, "/v1/deployments?env=production&state=AwaitingApproval&limit=2", "", "", 0, "", "")
	add(0, "/v1/deployments?env=production&env=qa&state=Bogus&limit=x&extra=1", "", "", 0, "", "")
	add(0, "/v1/deployments/production-3", "", "", 0, "", "")
	add(0, "/v1/deployments/%ff%fe", "", "", 0, "", "")
	add(0, "/v1/events?lastEventId=1.0&env=production", "", "", 0, "", "")
	add(0, "/v1/events?lastEventId=18446744073709551616.0", "", "", 0, "", "")
	add(0, "/v1/cluster/members", "", "", 0, "", "")
	add(0, "/v1/debug/state", "", "", 3, "", "")
	add(0, "/v1/snapshot", "", "", 3, "", "")
	add(1, "/v1/deployments/production-3/approve", `{"comment":"lgtm"}`, j, 1, "", "")
	add(1, "/v1/deployments/production-3/approve", `{"comment":"lgtm"}`, j, 1, "", "http://evil.example")
	add(1, "/v1/deployments/production-3/approve", `{"comment":"lgtm"}`, j, 0, "", "")
	add(1, "/v1/deployments/production-3/approve", `{"comment":"a","comment":"b"}`, j+"; charset=utf-8", 2, "", "")
	add(1, "/v1/deployments/production-3/approve", `{"comment":1}`, j, 1, "", "")
	add(1, "/v1/deployments/production-3/approve", `{} {}`, j, 1, "", "")
	add(1, "/v1/deployments/production-3/approve", `{"comment":"lgtm"}`, "text/plain", 1, "", "")
	add(1, "/v1/deployments/production-3/approve", strings.Repeat("[", 10000), j, 1, "", "")
	add(1, "/v1/deployments/production-3/approve", "{\"comment\":\"\xff\x00\"}", j, 1, "", "")
	add(1, "/v1/deployments/production-3/reject", `{"reason":"not today"}`, j, 3, "", "")
	add(1, "/v1/deployments/production-3/reject", `{"reason":"   "}`, j, 3, "", "")
	add(1, "/v1/deployments/production-1/reject", `{"reason":"late"}`, j, 1, "", "")
	add(1, "/v1/environments/production/rollback", `{}`, j, 1, "", "")
	add(1, "/v1/environments/production/rollback", `{"to":"production-1"}`, j, 1, "", "")
	add(1, "/v1/environments/production/rollback", `{"to":"production-3"}`, j, 1, "", "")
	add(1, "/v1/environments/common/rollback", `{"to":"nowhere"}`, j, 1, "", "")
	add(1, "/v1/environments/production/sync", ``, "", 1, "", "")
	add(1, "/v1/environments/production/sync", `{"x":1}`, j, 1, "", "")
	add(1, "/v1/snapshot", fakeBackup("node1"), "application/octet-stream", 3, "", "")
	add(1, "/v1/snapshot", `{"format":"honua-backup","version":1,"size":1073741824}`+"\n", "application/octet-stream", 3, "", "")
	add(2, "/v1/cluster/members/node2", "", "", 3, "", "")
	add(2, "/v1/cluster/members/node1", "", "", 3, "", "")
	add(2, "/v1/cluster/members/node2", "", "", 0, "", "")
	add(3, "/v1/status", "", "", 0, "", "")
	add(0, "/v1/status", "", "", 4, "Bearer not-a-token", "")
	add(0, "/v1/status", "", "", 4, "Basic dXNlcjpwYXNz", "")
	add(0, "/v1/status", "", "", 4, "bearer    ", "")
	add(0, "/healthz", "", "", 4, "", "")
	add(0, "/metrics", "", "", 4, "", "")
	add(0, "/v1//status/../status", "", "", 0, "", "")
	add(0, "/nope", "", "", 4, "", "")
	add(6, "/v1/deployments/production-3/approve", "", "", 1, "", "")
	f.Fuzz(func(t *testing.T, m byte, path string, body []byte, ct string, who byte, auth, origin string) {
		method := fuzzMethods[int(m)%len(fuzzMethods)]
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // so that the event stream ends after what it holds
		req, err := http.NewRequestWithContext(ctx, method, "http://127.0.0.1:7201"+path, bytes.NewReader(body))
		if err != nil || !strings.HasPrefix(req.URL.Path, "/") {
			return // not a request a client can send
		}
		fx := newAPIFixture(t)
		name := fuzzWho[int(who)%len(fuzzWho)]
		if name != "" {
			req.Header.Set("Authorization", "Bearer "+fx.tokens[name])
		} else if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		rec := httptest.NewRecorder()
		fx.s.ServeHTTP(rec, req)

		what := method + " " + req.URL.RequestURI() + " as " + name
		if rec.Code >= 500 {
			t.Fatalf("%s = %d %s; want no 5xx for a request against a leader", what, rec.Code, rec.Body)
		}
		checkErrorBody(t, what, rec)
		if !validRequestID(rec.Header().Get(requestIDHeader)) {
			t.Fatalf("%s answered with X-Request-Id %q", what, rec.Header().Get(requestIDHeader))
		}
		ok := rec.Code < 300
		if ok && name == "" && !openPath(method, req.URL.Path) {
			t.Fatalf("%s with Authorization %q = %d %s; want it refused without a valid token", what, auth, rec.Code, rec.Body)
		}
		if ok && name == "vera" && method != "GET" && method != "HEAD" && !openPath(method, req.URL.Path) {
			t.Fatalf("%s = %d %s; a viewer may not write", what, rec.Code, rec.Body)
		}
	})
}

// FuzzWebhook sends arbitrary deliveries to each webhook of a leader with
// every secret configured (or none). With sign set, the delivery carries
// the right signature or token for its body; otherwise the raw credential
// given. Properties: no panic and no 5xx; error answers are JSON; a
// delivery is answered with success (a poll, a pong, or "ignored") only
// when it carries the right credential, checked here independently; a
// correctly signed one is never refused as unauthorized.
func FuzzWebhook(f *testing.F) {
	f.Add(byte(0), "push", []byte(pushMain), "", true, false)
	f.Add(byte(0), "ping", []byte(`{}`), "", true, false)
	f.Add(byte(0), "push", []byte(pushMain), "sha256=00", false, false)
	f.Add(byte(0), "push", []byte(pushMain), "SHA256="+strings.Repeat("A", 64), false, false)
	f.Add(byte(0), "push", []byte(pushMain), sign("gh-secret", pushMain), false, false)
	f.Add(byte(0), "push", []byte(pushMain), strings.ToUpper(sign("gh-secret", pushMain)), false, false)
	f.Add(byte(0), "push", []byte(`{"ref":1}`), "", true, false)
	f.Add(byte(0), "push", []byte(strings.Repeat("[", 10000)), "", true, false)
	f.Add(byte(0), "push", []byte(pushOther), "", false, true)
	f.Add(byte(1), "Push Hook", []byte(pushMain), "gl-token", false, false)
	f.Add(byte(1), "Push Hook", []byte(pushMain), "", true, false)
	f.Add(byte(1), "Tag Push Hook", []byte(pushMain), "gl-token\x00", false, false)
	f.Add(byte(2), "", []byte(""), "", true, false)
	f.Add(byte(2), "", []byte("   "), "", false, true)
	f.Add(byte(2), "", []byte(pushMain), sign("gen-secret", pushMain)+" ", false, false)
	f.Add(byte(2), "", []byte("{\"ref\":\"refs/heads/main\xff\"}"), "", true, false)
	f.Add(byte(3), "push", []byte(pushMain), "", true, false)
	sources := []string{"github", "gitlab", "generic", "bitbucket"}
	secrets := WebhookSecrets{GitHub: []byte("gh-secret"), GitLab: []byte("gl-token"), Generic: []byte("gen-secret")}
	f.Fuzz(func(t *testing.T, src byte, event string, body []byte, cred string, sign, unsigned bool) {
		source := sources[int(src)%len(sources)]
		conf := secrets
		if unsigned {
			conf = WebhookSecrets{}
		}
		s, p, _ := webhookServer(&fakeCluster{leader: "node1"}, conf)
		req := httptest.NewRequest("POST", "/v1/webhooks/"+source, bytes.NewReader(body))
		mac := func(secret []byte) string {
			m := hmac.New(sha256.New, secret)
			m.Write(body)
			return "sha256=" + hex.EncodeToString(m.Sum(nil))
		}
		var header string
		var secret []byte
		switch source {
		case "github":
			header, secret = "X-Hub-Signature-256", conf.GitHub
			req.Header.Set("X-GitHub-Event", event)
			if sign {
				cred = mac(secret)
			}
		case "gitlab":
			header, secret = "X-Gitlab-Token", conf.GitLab
			req.Header.Set("X-Gitlab-Event", event)
			if sign {
				cred = string(secret)
			}
		default:
			header, secret = "X-Honua-Signature", conf.Generic
			if sign {
				cred = mac(secret)
			}
		}
		if cred != "" {
			req.Header[header] = []string{cred}
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)

		what := "POST /v1/webhooks/" + source
		if rec.Code >= 500 {
			t.Fatalf("%s = %d %s; want no 5xx", what, rec.Code, rec.Body)
		}
		checkErrorBody(t, what, rec)
		if source == "bitbucket" {
			if rec.Code != http.StatusNotFound {
				t.Fatalf("%s = %d; want 404", what, rec.Code)
			}
			return
		}
		// The credential as the rule says: an HMAC-SHA256 of the body in
		// hex after "sha256=", or GitLab's token itself.
		good := len(secret) == 0
		if len(secret) > 0 && source == "gitlab" {
			good = hmac.Equal([]byte(cred), secret)
		} else if len(secret) > 0 {
			if hexSig, ok := strings.CutPrefix(cred, "sha256="); ok {
				got, err := hex.DecodeString(hexSig)
				want, _ := hex.DecodeString(strings.TrimPrefix(mac(secret), "sha256="))
				good = err == nil && hmac.Equal(got, want)
			}
		}
		if rec.Code < 300 && !good {
			t.Fatalf("%s with %s %q = %d %s; want it refused", what, header, cred, rec.Code, rec.Body)
		}
		if len(p.polls()) > 0 && (!good || rec.Code != http.StatusAccepted) {
			t.Fatalf("%s with %s %q polled, answering %d %s", what, header, cred, rec.Code, rec.Body)
		}
		if good && rec.Code == http.StatusUnauthorized {
			t.Fatalf("%s with the right %s = 401 %s", what, header, rec.Body)
		}
	})
}

// FuzzBearerToken: a token read from an Authorization header is never
// empty, never starts with a space, and reads back from the header the
// client would send with it.
func FuzzBearerToken(f *testing.F) {
	for _, h := range []string{"Bearer abc", "bearer  abc", "Bearer", "Bearer ", "Basic abc", "Bearer\tabc", "Bearer a b",
		"Bearer \x00", "BEARER \xff", "", " Bearer abc"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := bearerToken(h)
		if !ok {
			return
		}
		if tok == "" || tok[0] == ' ' {
			t.Fatalf("bearerToken(%q) = %q", h, tok)
		}
		if again, ok := bearerToken("Bearer " + tok); !ok || again != tok {
			t.Fatalf("bearerToken(%q) = %q; the header Bearer %q reads as %q, %v", h, tok, tok, again, ok)
		}
	})
}

// FuzzLoadTokens feeds arbitrary files to LoadTokens, as an operator's
// typo or a damaged file would be. Properties: no panic; a refusal names
// the file, and no Go type; an accepted file holds at least one token, and every identity
// has a name, a role, no reserved group, and a name no other has.
func FuzzLoadTokens(f *testing.F) {
	_, entry, err := NewToken("alice", RoleApprover, []string{"devops-team", "sre"})
	if err != nil {
		f.Fatal(err)
	}
	_, admin, err := NewToken("root", RoleAdmin, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"tokens:\n" + entry + admin,
		"tokens:\n" + entry + entry,
		"tokens:\n" + strings.Replace(entry, "approver", "superuser", 1),
		"tokens:\n" + strings.Replace(entry, `"sre"`, `"*"`, 1),
		"tokens:\n  - name: x\n    role: viewer\n    groups: &g [a, b]\n    sha256: " + strings.Repeat("ab", 32) +
			"\n  - name: y\n    role: viewer\n    groups: *g\n    sha256: " + strings.Repeat("cd", 32) + "\n",
		"tokens:\n  - name: x\n    role: viewer\n    groups: {a: 1}\n    sha256: zz\n",
		"tokens:\n  - name: x\n    role: viewer\n    sha256: " + strings.Repeat("AB", 32) + "\n    extra: 1\n",
		"tokens: []\n",
		"tokens:\n",
		"",
		"{",
		"tokens:\n  - " + strings.Repeat("[", 10000) + "\n",
		"l0: &l0 [x]\nl1: &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]\nl2: &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]\n" +
			"l3: &l3 [*l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2]\ntokens: [{name: x, role: viewer, groups: *l3, sha256: " +
			strings.Repeat("ab", 32) + "}]\n",
		"tokens:\n  - name: \"\xff\"\n    role: viewer\n    sha256: " + strings.Repeat("ab", 32) + "\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "tokens.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		toks, err := LoadTokens(path)
		if err != nil {
			// The error names the file. (It is not checked line by line:
			// go.yaml.in/yaml/v3 quotes a value it cannot decode as it is,
			// line breaks included; seed value-with-line-breaks.)
			if !strings.HasPrefix(err.Error(), "auth.tokensFile "+path) {
				t.Fatalf("LoadTokens(%q) = %q; want the error to name the file", data, err)
			}
			if strings.Contains(err.Error(), "struct {") {
				t.Fatalf("LoadTokens(%q) = %q; it shows a Go type", data, err)
			}
			return
		}
		if len(toks.cur.Load().byHash) == 0 {
			t.Fatalf("LoadTokens(%q) accepted a file without tokens", data)
		}
		names := map[string]bool{}
		for _, id := range toks.cur.Load().byHash {
			if id.Name == "" || names[id.Name] || id.Role < RoleViewer || id.Role > RoleAdmin {
				t.Fatalf("LoadTokens(%q) accepted identity %+v", data, id)
			}
			names[id.Name] = true
			for _, g := range id.Groups {
				if g == fsm.EveryGroup {
					t.Fatalf("LoadTokens(%q) gave %s the reserved group %q", data, id.Name, g)
				}
			}
		}
	})
}
