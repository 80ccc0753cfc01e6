package rpc

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// GitHub's published test vector ("Validating webhook deliveries").
const (
	githubDocSecret    = "It's a Secret to Everybody"
	githubDocPayload   = "Hello, World!"
	githubDocSignature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

func TestGitHubPublishedTestVector(t *testing.T) {
	if !validHMAC([]byte(githubDocSecret), []byte(githubDocPayload), githubDocSignature) {
		t.Fatalf("validHMAC(GitHub's test vector) = false; want true")
	}
	if validHMAC([]byte("another secret"), []byte(githubDocPayload), githubDocSignature) {
		t.Errorf("validHMAC with the wrong secret = true; want false")
	}
	// The vector's payload is delivered as a ping: accepted and answered.
	s, _, _ := webhookServer(&fakeCluster{leader: "node1"}, WebhookSecrets{GitHub: []byte(githubDocSecret)})
	rec := do(t, s, "POST", "/v1/webhooks/github", githubDocPayload,
		map[string]string{"X-Hub-Signature-256": githubDocSignature, "X-GitHub-Event": "ping"})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "pong") {
		t.Errorf("ping with GitHub's test vector = %d %s; want 200 pong", rec.Code, rec.Body)
	}
}

func sign(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// webhookServer is a leader's or follower's API with a poller and a fresh
// registry.
func webhookServer(c *fakeCluster, secrets WebhookSecrets) (*Server, *fakePoller, *prometheus.Registry) {
	p := &fakePoller{}
	reg := prometheus.NewRegistry()
	s := NewServer(Config{Cluster: c, Store: nil, Pipeline: p, Webhooks: secrets, Registry: reg,
		Repository: &RepositoryInfo{URL: "git://127.0.0.1/config.git", Branch: "main"}})
	return s, p, reg
}

const pushMain = `{"ref":"refs/heads/main","after":"abc"}`
const pushOther = `{"ref":"refs/heads/feature","after":"abc"}`

func TestWebhooks(t *testing.T) {
	secrets := WebhookSecrets{GitHub: []byte("gh-secret"), GitLab: []byte("gl-token"), Generic: []byte("gen-secret")}
	tests := []struct {
		name       string
		source     string
		body       string
		headers    map[string]string
		wantStatus int
		wantCode   string // error code, or "" for a success body
		wantResult string // the metric's result label
		wantPoll   bool
	}{
		{"github push", "github", pushMain, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign("gh-secret", pushMain)}, 202, "", "accepted", true},
		{"github wrong secret", "github", pushMain, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign("wrong", pushMain)}, 401, "unauthorized", "unauthorized", false},
		{"github missing signature", "github", pushMain, map[string]string{"X-GitHub-Event": "push"}, 401, "unauthorized", "unauthorized", false},
		{"github SHA-1 only", "github", pushMain, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature": "sha1=0123"}, 401, "unauthorized", "unauthorized", false},
		{"github malformed signature", "github", pushMain, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "md5=zz"}, 401, "unauthorized", "unauthorized", false},
		{"github other branch", "github", pushOther, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign("gh-secret", pushOther)}, 200, "", "ignored", false},
		{"github ping", "github", `{}`, map[string]string{"X-GitHub-Event": "ping", "X-Hub-Signature-256": sign("gh-secret", `{}`)}, 200, "", "ignored", false},
		{"github other event", "github", `{}`, map[string]string{"X-GitHub-Event": "issues", "X-Hub-Signature-256": sign("gh-secret", `{}`)}, 200, "", "ignored", false},
		{"github push not JSON", "github", `nope`, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign("gh-secret", `nope`)}, 400, "bad_request", "bad_request", false},
		{"gitlab push", "gitlab", pushMain, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "gl-token"}, 202, "", "accepted", true},
		{"gitlab wrong token", "gitlab", pushMain, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "nope"}, 401, "unauthorized", "unauthorized", false},
		{"gitlab missing token", "gitlab", pushMain, map[string]string{"X-Gitlab-Event": "Push Hook"}, 401, "unauthorized", "unauthorized", false},
		{"gitlab tag push", "gitlab", pushMain, map[string]string{"X-Gitlab-Event": "Tag Push Hook", "X-Gitlab-Token": "gl-token"}, 200, "", "ignored", false},
		{"generic empty body", "generic", "", map[string]string{"X-Honua-Signature": sign("gen-secret", "")}, 202, "", "accepted", true},
		{"generic push", "generic", pushMain, map[string]string{"X-Honua-Signature": sign("gen-secret", pushMain)}, 202, "", "accepted", true},
		{"generic wrong signature", "generic", pushMain, map[string]string{"X-Honua-Signature": sign("gh-secret", pushMain)}, 401, "unauthorized", "unauthorized", false},
		{"generic missing signature", "generic", pushMain, nil, 401, "unauthorized", "unauthorized", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, p, reg := webhookServer(&fakeCluster{leader: "node1"}, secrets)
			rec := do(t, s, "POST", "/v1/webhooks/"+tt.source, tt.body, tt.headers)
			if rec.Code != tt.wantStatus {
				t.Fatalf("POST %s = %d %s; want %d", tt.name, rec.Code, rec.Body, tt.wantStatus)
			}
			if tt.wantCode != "" {
				if code := errorCode(t, rec); code != tt.wantCode {
					t.Errorf("code = %q; want %q", code, tt.wantCode)
				}
			}
			if got := len(p.polls()) > 0; got != tt.wantPoll {
				t.Errorf("polled = %v; want %v", got, tt.wantPoll)
			}
			if n := testutil.ToFloat64(s.metrics.webhooks.WithLabelValues(tt.source, tt.wantResult)); n != 1 {
				t.Errorf("honua_webhook_requests_total{source=%q,result=%q} = %v; want 1", tt.source, tt.wantResult, n)
			}
			if n, err := testutil.GatherAndCount(reg, "honua_webhook_requests_total"); err != nil || n != 1 {
				t.Errorf("webhook series = %d (%v); want exactly one", n, err)
			}
		})
	}
}

// A push names the commit the branch now holds ("after"); the leader's poll
// gets it as a hint, also when a follower forwarded the delivery. Anything
// but a full hash (a deleted branch's zeros, an abbreviation, garbage) is
// no hint.
func TestWebhookPassesThePushedCommit(t *testing.T) {
	const commit = "0123456789abcdef0123456789ABCDEF01234567"
	push := func(after string) string { return `{"ref":"refs/heads/main","after":"` + after + `"}` }
	secrets := WebhookSecrets{GitHub: []byte("gh"), GitLab: []byte("gl"), Generic: []byte("gen")}
	tests := []struct {
		name, source, body string
		headers            map[string]string
		want               string
	}{
		{"github", "github", push(commit), map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign("gh", push(commit))}, strings.ToLower(commit)},
		{"gitlab", "gitlab", push(commit), map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "gl"}, strings.ToLower(commit)},
		{"generic", "generic", push(commit), map[string]string{"X-Honua-Signature": sign("gen", push(commit))}, strings.ToLower(commit)},
		{"generic without after", "generic", pushMain, map[string]string{"X-Honua-Signature": sign("gen", pushMain)}, ""},
		{"deleted branch", "generic", push(strings.Repeat("0", 40)), map[string]string{"X-Honua-Signature": sign("gen", push(strings.Repeat("0", 40)))}, ""},
		{"abbreviated", "generic", push(commit[:12]), map[string]string{"X-Honua-Signature": sign("gen", push(commit[:12]))}, ""},
		{"not hex", "generic", push(strings.Repeat("g", 40)), map[string]string{"X-Honua-Signature": sign("gen", push(strings.Repeat("g", 40)))}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, p, _ := webhookServer(&fakeCluster{leader: "node1"}, secrets)
			rec := do(t, s, "POST", "/v1/webhooks/"+tt.source, tt.body, tt.headers)
			if rec.Code != 202 {
				t.Fatalf("push = %d %s; want 202", rec.Code, rec.Body)
			}
			if got := p.named(); len(got) != 1 || got[0] != tt.want {
				t.Errorf("polls named %q; want one naming %q", got, tt.want)
			}
		})
	}

	// Through a follower: the leader reads the commit from the forwarded
	// delivery.
	leader, leaderPolls, _ := webhookServer(&fakeCluster{id: "node2", leader: "node2"}, secrets)
	ts := httptest.NewServer(leader)
	defer ts.Close()
	follower, _, _ := webhookServer(&fakeCluster{id: "node1", leader: "node2", leaderAddr: strings.TrimPrefix(ts.URL, "http://")}, secrets)
	rec := do(t, follower, "POST", "/v1/webhooks/generic", push(commit), map[string]string{"X-Honua-Signature": sign("gen", push(commit))})
	if rec.Code != 202 {
		t.Fatalf("push to a follower = %d %s; want 202", rec.Code, rec.Body)
	}
	if got := leaderPolls.named(); len(got) != 1 || got[0] != strings.ToLower(commit) {
		t.Errorf("the leader's polls named %q; want one naming %q", got, strings.ToLower(commit))
	}
}

func TestWebhookSHA1MessageSaysWhy(t *testing.T) {
	s, _, _ := webhookServer(&fakeCluster{leader: "node1"}, WebhookSecrets{GitHub: []byte("x")})
	rec := do(t, s, "POST", "/v1/webhooks/github", pushMain, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature": "sha1=00"})
	if !strings.Contains(rec.Body.String(), "SHA-1") || !strings.Contains(rec.Body.String(), "X-Hub-Signature-256") {
		t.Errorf("body = %s; want it to say SHA-1 is refused and X-Hub-Signature-256 is needed", rec.Body)
	}
}

func TestWebhookOversize(t *testing.T) {
	s, p, _ := webhookServer(&fakeCluster{leader: "node1"}, WebhookSecrets{})
	body := `{"ref":"refs/heads/main","pad":"` + strings.Repeat("x", maxWebhookBody) + `"}`
	rec := do(t, s, "POST", "/v1/webhooks/generic", body, nil)
	if rec.Code != 413 || errorCode(t, rec) != "too_large" {
		t.Fatalf("oversize delivery = %d %s; want 413 too_large", rec.Code, rec.Body)
	}
	if len(p.polls()) != 0 {
		t.Error("an oversize delivery triggered a poll")
	}
}

func TestWebhookWithoutSecretAcceptsUnsigned(t *testing.T) {
	s, p, _ := webhookServer(&fakeCluster{leader: "node1"}, WebhookSecrets{})
	rec := do(t, s, "POST", "/v1/webhooks/github", pushMain, map[string]string{"X-GitHub-Event": "push"})
	if rec.Code != 202 || len(p.polls()) != 1 {
		t.Errorf("unsigned push without a configured secret = %d, polls %v; want 202 and a poll", rec.Code, p.polls())
	}
}

func TestWebhookWithoutRepository(t *testing.T) {
	s := NewServer(Config{Cluster: &fakeCluster{leader: "node1"}})
	rec := do(t, s, "POST", "/v1/webhooks/generic", "", nil)
	if rec.Code != 503 || errorCode(t, rec) != "no_repository" {
		t.Errorf("webhook without a repository = %d %s; want 503 no_repository", rec.Code, rec.Body)
	}
}

func TestWebhookOnFollowerIsForwardedToTheLeader(t *testing.T) {
	secrets := WebhookSecrets{GitHub: []byte("gh-secret")}
	leader, leaderPolls, _ := webhookServer(&fakeCluster{id: "node2", leader: "node2"}, secrets)
	ts := httptest.NewServer(leader)
	defer ts.Close()
	addr := strings.TrimPrefix(ts.URL, "http://")
	follower, followerPolls, reg := webhookServer(&fakeCluster{id: "node1", leader: "node2", leaderAddr: addr}, secrets)

	headers := map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign("gh-secret", pushMain)}
	rec := do(t, follower, "POST", "/v1/webhooks/github", pushMain, headers)
	if rec.Code != 202 {
		t.Fatalf("push to follower = %d %s; want 202 from the leader", rec.Code, rec.Body)
	}
	if !strings.Contains(rec.Body.String(), `"node2"`) {
		t.Errorf("body = %s; want the leader's answer naming node2", rec.Body)
	}
	if len(leaderPolls.polls()) != 1 || len(followerPolls.polls()) != 0 {
		t.Errorf("polls: leader %v, follower %v; want one on the leader only", leaderPolls.polls(), followerPolls.polls())
	}
	if n := testutil.ToFloat64(follower.metrics.webhooks.WithLabelValues("github", "forwarded")); n != 1 {
		t.Errorf("follower's forwarded count = %v; want 1", n)
	}
	_ = reg

	// The leader checks the signature again: a forged forward is refused.
	rec = do(t, ts.Config.Handler, "POST", "/v1/webhooks/github", pushMain,
		map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": sign("forged", pushMain), forwardedHeader: "node1"})
	if rec.Code != 401 {
		t.Errorf("forged forwarded delivery = %d; want 401", rec.Code)
	}
}

func TestWebhookWithoutLeader(t *testing.T) {
	tests := []struct {
		name    string
		cluster *fakeCluster
		headers map[string]string
	}{
		{"no leader known", &fakeCluster{id: "node1"}, nil},
		{"forwarded to a non-leader", &fakeCluster{id: "node1", leader: "node2", leaderAddr: "127.0.0.1:1"}, map[string]string{forwardedHeader: "node3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, p, _ := webhookServer(tt.cluster, WebhookSecrets{})
			rec := do(t, s, "POST", "/v1/webhooks/generic", "", tt.headers)
			if rec.Code != 503 || errorCode(t, rec) != "no_leader" {
				t.Errorf("= %d %s; want 503 no_leader", rec.Code, rec.Body)
			}
			if len(p.polls()) != 0 {
				t.Error("a node that is not the leader polled")
			}
		})
	}
}
