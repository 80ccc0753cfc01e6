package rpc

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/time/rate"

	"github.com/honua-io/honua-gitops/internal/cluster"
)

// testClock is a clock the rate limiters read, which a test advances.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: t0} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testTokens returns a tokens file holding one viewer token, and the token.
func testTokens(t *testing.T) (*Tokens, string) {
	t.Helper()
	tok, entry, err := NewToken("viewer", RoleViewer, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(path, []byte("tokens:\n"+entry), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	return tokens, tok
}

// answer is a status code, the error code of its JSON body (if any), and
// the Retry-After header.
type answer struct {
	status     int
	code       string
	retryAfter string
}

func (a answer) String() string {
	return fmt.Sprintf("%d %s (Retry-After %q)", a.status, a.code, a.retryAfter)
}

func answerOf(status int, h http.Header, body []byte) answer {
	a := answer{status: status, retryAfter: h.Get("Retry-After")}
	var e struct{ Code string }
	if status >= 300 && json.Unmarshal(body, &e) == nil {
		a.code = e.Code
	}
	return a
}

// send sends a request over real HTTP to ts; it comes from 127.0.0.1.
func send(t *testing.T, ts *httptest.Server, method, path, body string, header map[string]string) answer {
	t.Helper()
	resp, b := roundTrip(t, ts, method, path, body, header)
	return answerOf(resp.StatusCode, resp.Header, b)
}

// roundTrip sends a request over real HTTP to ts and reads the whole
// answer; the response's body is closed.
func roundTrip(t *testing.T, ts *httptest.Server, method, path, body string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, b
}

// sendFrom serves a request as if it came from the client address remote.
func sendFrom(h http.Handler, remote, method, path, body string, header map[string]string) answer {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = remote
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return answerOf(rec.Code, rec.Header(), rec.Body.Bytes())
}

func bearer(token string) map[string]string {
	if token == "" {
		return nil
	}
	return map[string]string{"Authorization": "Bearer " + token}
}

// An address that keeps presenting wrong tokens is answered 429 once it has
// used up its authentication failures, and then even a correct token from
// it is refused without being checked, until the bucket refills. Other
// addresses, the open endpoints, and successful authentications are not
// affected.
func TestAuthFailuresAreRateLimited(t *testing.T) {
	clk := newTestClock()
	tokens, good := testTokens(t)
	s := NewServer(Config{Cluster: &fakeCluster{leader: "node1"}, Store: newTestFSM(t).f, Tokens: tokens,
		Limits: Limits{AuthFailureRate: rate.Every(12 * time.Second), AuthFailureBurst: 3, now: clk.now}})
	ts := httptest.NewServer(s)
	defer ts.Close()
	status := func(token string) answer {
		t.Helper()
		return send(t, ts, "GET", "/v1/status", "", bearer(token))
	}
	want := func(what string, got answer, status int, code, retryAfter string) {
		t.Helper()
		if got.status != status || got.code != code || got.retryAfter != retryAfter {
			t.Errorf("%s = %v; want %d %s (Retry-After %q)", what, got, status, code, retryAfter)
		}
	}

	for i := range 3 {
		want(fmt.Sprintf("wrong token #%d", i+1), status(fmt.Sprintf("honua_guess%d", i)), 401, "unauthorized", "")
	}
	want("a 4th wrong token", status("honua_guess4"), 429, "too_many_requests", "12")
	want("the right token from the limited address", status(good), 429, "too_many_requests", "12")
	want("no token from the limited address", status(""), 429, "too_many_requests", "12")
	want("/healthz from the limited address", send(t, ts, "GET", "/healthz", "", nil), 200, "", "")

	other := "192.0.2.7:40000"
	want("the right token from another address", sendFrom(s, other, "GET", "/v1/status", "", bearer(good)), 200, "", "")
	want("a wrong token from another address", sendFrom(s, other, "GET", "/v1/status", "", bearer("honua_x")), 401, "unauthorized", "")

	clk.advance(11 * time.Second)
	want("the right token 11s later", status(good), 429, "too_many_requests", "1")
	clk.advance(time.Second)
	want("the right token 12s later (one failure refilled)", status(good), 200, "", "")
	want("the right token again", status(good), 200, "", "")
	want("a wrong token 12s later", status("honua_guess5"), 401, "unauthorized", "")
	want("another wrong token", status("honua_guess6"), 429, "too_many_requests", "12")

	if got := testutil.ToFloat64(s.metrics.throttled.WithLabelValues("status", "auth_failures")); got != 5 {
		t.Errorf("honua_api_throttled_total{endpoint=status,reason=auth_failures} = %v; want 5", got)
	}

	// Successful authentications cost nothing.
	fresh := "192.0.2.8:40000"
	for i := range 10 {
		want(fmt.Sprintf("right token #%d from a fresh address", i+1), sendFrom(s, fresh, "GET", "/v1/status", "", bearer(good)), 200, "", "")
	}
	for i := range 3 {
		want(fmt.Sprintf("wrong token #%d from that address", i+1), sendFrom(s, fresh, "GET", "/v1/status", "", bearer("honua_y")), 401, "unauthorized", "")
	}
	want("a 4th wrong token from that address", sendFrom(s, fresh, "GET", "/v1/status", "", bearer("honua_y")), 429, "too_many_requests", "12")
}

// IPv6 clients are limited by their /64: a host picks any address of its
// prefix at will.
func TestIPv6ClientsAreLimitedByPrefix(t *testing.T) {
	tokens, good := testTokens(t)
	s := NewServer(Config{Cluster: &fakeCluster{leader: "node1"}, Store: newTestFSM(t).f, Tokens: tokens,
		Limits: Limits{AuthFailureRate: rate.Every(time.Minute), AuthFailureBurst: 2, now: newTestClock().now}})
	for i := range 2 {
		if got := sendFrom(s, fmt.Sprintf("[2001:db8:1:2::%x]:4000", i+1), "GET", "/v1/status", "", bearer("honua_x")); got.status != 401 {
			t.Errorf("wrong token from 2001:db8:1:2::%x = %v; want 401", i+1, got)
		}
	}
	if got := sendFrom(s, "[2001:db8:1:2:ffff::1]:4000", "GET", "/v1/status", "", bearer(good)); got.status != 429 {
		t.Errorf("right token from another address of the same /64 = %v; want 429", got)
	}
	if got := sendFrom(s, "[2001:db8:1:3::1]:4000", "GET", "/v1/status", "", bearer(good)); got.status != 200 {
		t.Errorf("right token from another /64 = %v; want 200", got)
	}
}

// Webhook deliveries are limited per client address and source: past the
// burst, 429 with a Retry-After, until the bucket refills.
func TestWebhooksAreRateLimited(t *testing.T) {
	clk := newTestClock()
	s := NewServer(Config{Cluster: &fakeCluster{leader: "node1"}, Pipeline: &fakePoller{},
		Repository: &RepositoryInfo{URL: "git://127.0.0.1/config.git", Branch: "main"},
		Limits:     Limits{WebhookRate: 2, WebhookBurst: 4, now: clk.now}})
	ts := httptest.NewServer(s)
	defer ts.Close()
	generic := func() answer { t.Helper(); return send(t, ts, "POST", "/v1/webhooks/generic", "", nil) }

	for i := range 4 {
		if got := generic(); got.status != 202 {
			t.Fatalf("delivery #%d = %v; want 202", i+1, got)
		}
	}
	if got := generic(); got.status != 429 || got.code != "too_many_requests" || got.retryAfter != "1" {
		t.Errorf("5th delivery = %v; want 429 too_many_requests (Retry-After \"1\")", got)
	}
	if got := send(t, ts, "POST", "/v1/webhooks/gitlab", pushMain, map[string]string{"X-Gitlab-Event": "Push Hook"}); got.status != 202 {
		t.Errorf("a gitlab delivery from the same address = %v; want 202 (each source has its own limit)", got)
	}
	if got := sendFrom(s, "192.0.2.9:5000", "POST", "/v1/webhooks/generic", "", nil); got.status != 202 {
		t.Errorf("a delivery from another address = %v; want 202", got)
	}
	clk.advance(500 * time.Millisecond)
	if got := generic(); got.status != 202 {
		t.Errorf("a delivery 500ms later = %v; want 202", got)
	}
	if got := generic(); got.status != 429 {
		t.Errorf("the next = %v; want 429", got)
	}
	if got := testutil.ToFloat64(s.metrics.throttled.WithLabelValues("webhooks", "rate")); got != 2 {
		t.Errorf("honua_api_throttled_total{endpoint=webhooks,reason=rate} = %v; want 2", got)
	}
}

// The per-address state is bounded: a spray of 100,000 addresses, each
// failing to authenticate, leaves at most the cap of entries. An address
// already limited stays limited (the spray cannot flush it out), and while
// the table is full and its shared overflow bucket is empty, addresses
// without an entry are refused too; once the buckets refill, the table
// empties and they are served.
func TestRateTableIsBounded(t *testing.T) {
	clk := newTestClock()
	tokens, good := testTokens(t)
	s := NewServer(Config{Cluster: &fakeCluster{leader: "node1"}, Store: newTestFSM(t).f, Tokens: tokens,
		Limits: Limits{AuthFailureRate: rate.Every(time.Minute), AuthFailureBurst: 1, maxTracked: 1000, now: clk.now}})
	limited := "198.51.100.1:1000"
	sendFrom(s, limited, "GET", "/v1/status", "", bearer("honua_x"))
	if got := sendFrom(s, limited, "GET", "/v1/status", "", bearer(good)); got.status != 429 {
		t.Fatalf("right token after a failure with a burst of 1 = %v; want 429", got)
	}
	const spray = 100_000
	codes := map[int]int{}
	for i := range spray {
		remote := fmt.Sprintf("10.%d.%d.%d:1000", i>>16, (i>>8)&0xff, i&0xff)
		codes[sendFrom(s, remote, "GET", "/v1/status", "", bearer("honua_x")).status]++
		if i%10_000 == 0 {
			clk.advance(time.Second) // let the sweep run
		}
		if n := s.authFailures.len(); n > 1000 {
			t.Fatalf("after %d addresses the table holds %d entries; want at most 1000", i+1, n)
		}
	}
	t.Logf("answers to the spray: %v", codes)
	if codes[401] > 1000+1 {
		t.Errorf("%d of the sprayed addresses had their token checked; want at most the cap (1000) and the overflow's burst (1)", codes[401])
	}
	if got := sendFrom(s, limited, "GET", "/v1/status", "", bearer(good)); got.status != 429 {
		t.Errorf("right token from the address limited before the spray = %v; want 429 still", got)
	}
	if got := sendFrom(s, "203.0.113.5:1000", "GET", "/v1/status", "", bearer(good)); got.status != 429 || got.retryAfter == "" {
		t.Errorf("right token from a new address while the table is full = %v; want 429 with a Retry-After", got)
	}
	clk.advance(time.Minute)
	if got := sendFrom(s, "203.0.113.5:1000", "GET", "/v1/status", "", bearer(good)); got.status != 200 {
		t.Errorf("right token from a new address once every bucket refilled = %v; want 200", got)
	}
	sendFrom(s, "203.0.113.6:1000", "GET", "/v1/status", "", bearer("honua_x"))
	if n := s.authFailures.len(); n > 1 {
		t.Errorf("after the buckets refilled and a new failure, the table holds %d entries; want 1", n)
	}
}

// memberCluster is a fakeCluster with other members.
type memberCluster struct {
	fakeCluster
	members []cluster.Member
}

func (c *memberCluster) Members() []cluster.Member { return c.members }

// A request a member forwarded is not counted against the forwarding
// node's address (it applied its own limits to its clients), but only when
// it comes from a member's host: the header alone proves nothing.
func TestForwardedRequestsAreNotCounted(t *testing.T) {
	tokens, good := testTokens(t)
	c := &memberCluster{fakeCluster: fakeCluster{id: "node1", leader: "node1"}, members: []cluster.Member{
		{ID: "node1", APIAddr: "10.0.0.1:7201", Status: "alive"},
		{ID: "node2", APIAddr: "127.0.0.1:7201", Status: "alive"},
	}}
	s := NewServer(Config{Cluster: c, Store: newTestFSM(t).f, Tokens: tokens, Pipeline: &fakePoller{},
		Repository: &RepositoryInfo{URL: "git://127.0.0.1/config.git", Branch: "main"},
		Limits: Limits{WebhookRate: 1, WebhookBurst: 2, AuthFailureRate: rate.Every(time.Minute), AuthFailureBurst: 2,
			now: newTestClock().now}})
	ts := httptest.NewServer(s)
	defer ts.Close()
	byNode2 := map[string]string{forwardedHeader: "node2"}
	withBearer := func(h map[string]string, token string) map[string]string {
		out := map[string]string{"Authorization": "Bearer " + token}
		for k, v := range h {
			out[k] = v
		}
		return out
	}

	for i := range 10 {
		if got := send(t, ts, "POST", "/v1/webhooks/generic", "", byNode2); got.status != 202 {
			t.Fatalf("forwarded delivery #%d from node2's host = %v; want 202", i+1, got)
		}
		if got := send(t, ts, "GET", "/v1/status", "", withBearer(byNode2, "honua_x")); got.status != 401 {
			t.Fatalf("forwarded request #%d with a wrong token from node2's host = %v; want 401", i+1, got)
		}
	}
	if got := send(t, ts, "GET", "/v1/status", "", withBearer(nil, good)); got.status != 200 {
		t.Errorf("right token from node2's host after its forwarded failures = %v; want 200", got)
	}

	// The same header from an address that is no member's is counted.
	stranger := "192.0.2.10:5000"
	var codes []int
	for range 3 {
		codes = append(codes, sendFrom(s, stranger, "POST", "/v1/webhooks/generic", "", byNode2).status)
	}
	for range 3 {
		codes = append(codes, sendFrom(s, stranger, "GET", "/v1/status", "", withBearer(byNode2, "honua_x")).status)
	}
	if want := []int{202, 202, 429, 401, 401, 429}; fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("3 deliveries, then 3 wrong tokens, marked forwarded by node2 but from a stranger = %v; want %v", codes, want)
	}
	// Requests from a member's host that are not forwarded are counted.
	codes = codes[:0]
	for range 3 {
		codes = append(codes, send(t, ts, "POST", "/v1/webhooks/generic", "", nil).status)
	}
	if want := []int{202, 202, 429}; fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("3 deliveries from node2's host, not forwarded = %v; want %v", codes, want)
	}
}

// A follower forwards at most MaxForwarded requests to the leader at once;
// the next is answered 503 busy with a Retry-After, without reaching the
// leader, and is served once a slot frees.
func TestForwardingIsBounded(t *testing.T) {
	entered := make(chan struct{}, 8)
	release := make(chan struct{})
	leader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	defer leader.Close()
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer releaseOnce()
	addr := strings.TrimPrefix(leader.URL, "http://")
	s := NewServer(Config{Cluster: &fakeCluster{id: "node1", leader: "node2", leaderAddr: addr}, Store: newTestFSM(t).f,
		Limits: Limits{MaxForwarded: 2}})
	ts := httptest.NewServer(s)
	defer ts.Close()
	approve := func() answer {
		return send(t, ts, "POST", "/v1/deployments/d1/approve", `{}`, map[string]string{"Content-Type": "application/json"})
	}

	held := make(chan answer, 2)
	for range 2 {
		go func() { held <- approve() }()
		<-entered
	}
	if got := approve(); got.status != 503 || got.code != "busy" || got.retryAfter != "1" {
		t.Errorf("a 3rd write while 2 are forwarded = %v; want 503 busy (Retry-After \"1\")", got)
	}
	if got := testutil.ToFloat64(s.metrics.throttled.WithLabelValues("forward", "forwarding")); got != 1 {
		t.Errorf("honua_api_throttled_total{endpoint=forward,reason=forwarding} = %v; want 1", got)
	}
	releaseOnce()
	for range 2 {
		if got := <-held; got.status != 200 {
			t.Errorf("a held write = %v; want 200", got)
		}
	}
	if got := approve(); got.status != 200 {
		t.Errorf("a write once the others finished = %v; want 200", got)
	}
}
