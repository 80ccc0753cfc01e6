package rpc

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/honua-io/honua-gitops/internal/cluster"
)

// fakeCluster is the node as the API sees it.
type fakeCluster struct {
	leader   string
	ready    bool
	notReady string
}

func (f *fakeCluster) ID() string { return "node1" }
func (f *fakeCluster) Status() cluster.Status {
	return cluster.Status{NodeID: "node1", State: "Follower", Term: 7,
		Members: []cluster.Member{{ID: "node1", Status: "alive", Voter: true}}}
}
func (f *fakeCluster) Ready() (bool, string)        { return f.ready, f.notReady }
func (f *fakeCluster) Leader() (id, apiAddr string) { return f.leader, "127.0.0.1:7202" }

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestEndpoints(t *testing.T) {
	tests := []struct {
		name       string
		cluster    *fakeCluster
		path       string
		wantStatus int
		wantCode   string
		wantLeader string
	}{
		{"healthz", &fakeCluster{}, "/healthz", 200, "", ""},
		{"ready", &fakeCluster{leader: "node2", ready: true}, "/readyz", 200, "", "node2"},
		{"not ready", &fakeCluster{notReady: "no leader known"}, "/readyz", 503, "not_ready", ""},
		{"status", &fakeCluster{leader: "node2"}, "/v1/status", 200, "", "node2"},
		{"unknown path", &fakeCluster{}, "/v1/nope", 404, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(t, NewServer(tt.cluster, slog.New(slog.DiscardHandler)), tt.path)
			if rec.Code != tt.wantStatus {
				t.Fatalf("GET %s = %d; want %d (body %s)", tt.path, rec.Code, tt.wantStatus, rec.Body)
			}
			if got := rec.Header().Get("X-Honua-Node"); got != "node1" {
				t.Errorf("X-Honua-Node = %q; want node1", got)
			}
			if got := rec.Header().Get("X-Honua-Leader"); got != tt.wantLeader {
				t.Errorf("X-Honua-Leader = %q; want %q", got, tt.wantLeader)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q; want application/json", ct)
			}
			if tt.wantCode != "" {
				var body errorBody
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
					t.Fatalf("error body is not JSON: %v", err)
				}
				if body.Code != tt.wantCode || body.Error == "" {
					t.Errorf("error body = %+v; want code %q and a message", body, tt.wantCode)
				}
			}
		})
	}
}

func TestStatusBody(t *testing.T) {
	rec := get(t, NewServer(&fakeCluster{}, slog.New(slog.DiscardHandler)), "/v1/status")
	var st cluster.Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.NodeID != "node1" || st.Term != 7 || st.Leader != nil || len(st.Members) != 1 {
		t.Errorf("status = %+v; want node1, term 7, no leader, one member", st)
	}
}
