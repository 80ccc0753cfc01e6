package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/fsm/fsmtest"
	"github.com/honua-io/honua-gitops/internal/reconcile"
)

// fakeCluster is the node as the API sees it.
type fakeCluster struct {
	id         string
	leader     string
	leaderAddr string
	ready      bool
	notReady   string
}

func (f *fakeCluster) ID() string {
	if f.id == "" {
		return "node1"
	}
	return f.id
}
func (f *fakeCluster) Status() cluster.Status {
	return cluster.Status{NodeID: f.ID(), State: "Follower", Term: 7,
		Members: []cluster.Member{{ID: f.ID(), Status: "alive", Voter: true}}}
}
func (f *fakeCluster) Ready() (bool, string)        { return f.ready, f.notReady }
func (f *fakeCluster) Leader() (id, apiAddr string) { return f.leader, f.leaderAddr }
func (f *fakeCluster) IsLeader() bool               { return f.leader == f.ID() }
func (f *fakeCluster) LeaderReady() bool            { return f.IsLeader() }
func (f *fakeCluster) VerifyLeader() error          { return nil }
func (f *fakeCluster) Members() []cluster.Member    { return f.Status().Members }
func (f *fakeCluster) RemoveMember(string) error    { return cluster.ErrUnknownMember }
func (f *fakeCluster) AppliedIndex() uint64         { return 42 }
func (f *fakeCluster) LastContact() time.Time       { return time.Time{} }
func (f *fakeCluster) Apply(context.Context, fsm.Command) (any, error) {
	return nil, cluster.ErrNotLeader
}
func (f *fakeCluster) SaveBackup(w io.Writer) error {
	_, err := io.WriteString(w, fakeBackup(f.ID()))
	return err
}
func (f *fakeCluster) RestoreBackup(r io.Reader) (uint64, error) {
	b, _ := io.ReadAll(r)
	if string(b) != fakeBackup("node1") {
		return 0, cluster.ErrBadBackup
	}
	return 77, nil
}

// fakeBackup is the backup the fake cluster saves and takes: a backup's
// header line, and a few words for the state.
func fakeBackup(id string) string {
	state := "state of " + id
	return fmt.Sprintf(`{"format":"honua-backup","version":1,"size":%d}`, len(state)) + "\n" + state
}

// fakePoller records the polls it was asked for.
type fakePoller struct {
	mu      sync.Mutex
	reasons []string
	commits []string // the commit each poll named ("" for none)
}

func (p *fakePoller) Rollback(_ context.Context, env, to, by string) (*fsm.Deployment, error) {
	return nil, errors.New("not in this test")
}
func (p *fakePoller) Approvers(context.Context, string) ([]string, error) { return nil, nil }

// Preview refuses the refs named "bad" and "gone" as the reconciler does
// (TestPreviewErrors); the pipeline's own previews are tested with a real
// repository in internal/reconcile and cmd/honuactl.
func (p *fakePoller) Preview(_ context.Context, env, ref string) (*reconcile.Preview, error) {
	switch ref {
	case "bad":
		return nil, fmt.Errorf("ref %q: %w", ref, reconcile.ErrBadRef)
	case "gone":
		return nil, fmt.Errorf("ref %q: %w", ref, reconcile.ErrRefNotFound)
	}
	return nil, errors.New("not in this test")
}

func (p *fakePoller) PollNow(reason string) { p.PollCommit(reason, "") }

func (p *fakePoller) PollCommit(reason, commit string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reasons = append(p.reasons, reason)
	p.commits = append(p.commits, commit)
}

// named returns the commit each poll asked for named.
func (p *fakePoller) named() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.commits...)
}

func (p *fakePoller) polls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.reasons...)
}

// testFSM is a real FSM fed commands as raft would (fsmtest.Applier).
type testFSM struct {
	t *testing.T
	a *fsmtest.Applier
	f *fsm.FSM
}

func newTestFSM(t *testing.T) *testFSM {
	a := fsmtest.New()
	return &testFSM{t: t, a: a, f: a.FSM}
}

// apply applies c and fails the test if it is refused.
func (tf *testFSM) apply(c fsm.Command) any {
	tf.t.Helper()
	return tf.a.Must(tf.t, c)
}

// index is the index of the last command applied.
func (tf *testFSM) index() uint64 { return tf.a.Index() }

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func newTestServer(c *fakeCluster, store Store, poller Pipeline) *Server {
	cfg := Config{Cluster: c, Store: store}
	if poller != nil {
		cfg.Pipeline = poller
		cfg.Repository = &RepositoryInfo{URL: "git://127.0.0.1/config.git", Branch: "main"}
	}
	return NewServer(cfg)
}

func do(t *testing.T, h http.Handler, method, path string, body string, headers map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body api.ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q is not JSON: %v", rec.Body, err)
	}
	if body.Error == "" {
		t.Errorf("error body %s has no message", rec.Body)
	}
	return body.Code
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
			rec := do(t, newTestServer(tt.cluster, newTestFSM(t).f, nil), "GET", tt.path, "", nil)
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
				if code := errorCode(t, rec); code != tt.wantCode {
					t.Errorf("code = %q; want %q", code, tt.wantCode)
				}
			}
		})
	}
}

func TestStatusBody(t *testing.T) {
	tf := newTestFSM(t)
	tf.apply(&fsm.SetSourceStatus{Error: "ls-remote git://127.0.0.1/config.git: connection refused", Time: t0})
	rec := do(t, newTestServer(&fakeCluster{}, tf.f, &fakePoller{}), "GET", "/v1/status", "", nil)
	var st api.Status
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.NodeID != "node1" || st.Term != 7 || st.Leader != nil || len(st.Members) != 1 {
		t.Errorf("status = %+v; want node1, term 7, no leader, one member", st)
	}
	if st.Repository == nil || st.Repository.Branch != "main" || !strings.Contains(st.Repository.Error, "connection refused") ||
		!st.Repository.ErrorSince.Equal(t0) {
		t.Errorf("status repository = %+v; want branch main and the replicated error", st.Repository)
	}
}

func readBody(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
