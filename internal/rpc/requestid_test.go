package rpc

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRequestIDs(t *testing.T) {
	f := newAPIFixture(t)
	tests := []struct {
		name, sent string
		keep       bool
	}{
		{"kept", "deploy-42.abc_X", true},
		{"generated", "", false},
		{"unsafe replaced", "bad id\nwith newline", false},
		{"too long replaced", strings.Repeat("a", 129), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{"Authorization": "Bearer " + f.tokens["vera"]}
			if tt.sent != "" {
				h["X-Request-Id"] = tt.sent
			}
			rec := do(t, f.s, "GET", "/v1/status", "", h)
			got := rec.Header().Get("X-Request-Id")
			if tt.keep && got != tt.sent {
				t.Errorf("X-Request-Id = %q; want %q kept", got, tt.sent)
			}
			if !tt.keep && (got == tt.sent || !validRequestID(got)) {
				t.Errorf("X-Request-Id = %q; want a fresh id", got)
			}
		})
	}
}

// TestRequestIDFollowsTheForward: the leader logs the lines a forwarded
// write causes under the id the client gave the follower.
func TestRequestIDFollowsTheForward(t *testing.T) {
	leader := newAPIFixture(t)
	ts := httptest.NewServer(leader.s)
	defer ts.Close()
	follower := NewServer(Config{Cluster: &fakeCluster{id: "node2", leader: "node1", leaderAddr: strings.TrimPrefix(ts.URL, "http://")},
		Store: leader.c.tf.f})
	rec := do(t, follower, "POST", "/v1/deployments/"+leader.waiting+"/approve", `{}`,
		map[string]string{"Authorization": "Bearer " + leader.tokens["alice"], "X-Request-Id": "trace-me-7",
			"Content-Type": "application/json"})
	if rec.Code != 200 {
		t.Fatalf("approve through the follower = %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(leader.logs.String(), "request_id=trace-me-7") {
		t.Errorf("the leader's log does not carry the request id:\n%s", leader.logs)
	}
}
