package rpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/reconcile"
)

// leaderCluster is a one-node "cluster" that leads and applies commands to
// a real FSM. Like cluster.Node, it refuses a command whose encoding is over
// its cap (fakeCommandCap) with cluster.ErrTooLarge.
type leaderCluster struct {
	fakeCluster
	tf *testFSM
}

// fakeCommandCap is leaderCluster's cap on a command, below the API's
// limit on a request body so that a test can pass one and not the other.
const fakeCommandCap = 48 << 10

func newLeaderCluster(t *testing.T) *leaderCluster {
	c := &leaderCluster{fakeCluster: fakeCluster{id: "node1", leader: "node1"}, tf: newTestFSM(t)}
	c.tf.a.Refuse = func(cmd fsm.Command, b []byte) error {
		if len(b) > fakeCommandCap {
			return fmt.Errorf("apply %T: %d bytes encoded: %w", cmd, len(b), cluster.ErrTooLarge)
		}
		return nil
	}
	return c
}

func (c *leaderCluster) Apply(ctx context.Context, cmd fsm.Command) (any, error) {
	return c.tf.a.Apply(ctx, cmd)
}

func (c *leaderCluster) RemoveMember(id string) error {
	if id == "node1" {
		return fmt.Errorf("remove member %s: %w", id, cluster.ErrRemoveLeader)
	}
	if id == "node2" {
		return nil
	}
	if id == "node3" {
		return fmt.Errorf("remove member %s: %w", id, cluster.ErrMemberAlive)
	}
	return fmt.Errorf("remove member %s: %w", id, cluster.ErrUnknownMember)
}

// fakePipeline answers rollbacks and approver groups.
type fakePipeline struct {
	fakePoller
	c         *leaderCluster
	approvers []string
	previous  string // the Completed deployment a rollback goes to by default
}

func (p *fakePipeline) Rollback(ctx context.Context, env, to, by string) (*fsm.Deployment, error) {
	switch to {
	case "nowhere":
		return nil, fmt.Errorf("roll back %s: %w", env, reconcile.ErrNothingToRollBack)
	case "unknown":
		return nil, fmt.Errorf("roll back %s to %q: %w", env, to, reconcile.ErrUnknownTarget)
	}
	if to == "" {
		to = p.previous
	}
	res, err := p.c.Apply(ctx, &fsm.CreateRollback{Environment: env, To: to, Initiator: by, Time: t0})
	if err != nil {
		return nil, err
	}
	return res.(*fsm.Deployment), nil
}

func (p *fakePipeline) Approvers(context.Context, string) ([]string, error) { return p.approvers, nil }

// apiFixture is a leader's API over a real FSM holding one deployment of
// production waiting for approval, and tokens of each role.
type apiFixture struct {
	s       *Server
	c       *leaderCluster
	waiting string
	tokens  map[string]string // role name → token
	logs    *bytes.Buffer
}

func newAPIFixture(t *testing.T) *apiFixture {
	t.Helper()
	c := newLeaderCluster(t)
	f := &apiFixture{c: c, tokens: map[string]string{}, logs: &bytes.Buffer{}}
	var file strings.Builder
	file.WriteString("tokens:\n")
	for _, r := range []struct {
		name, role string
		groups     []string
	}{{"vera", "viewer", nil}, {"alice", "approver", []string{"devops-team"}}, {"olga", "approver", []string{"interns"}}, {"root", "admin", []string{"devops-team"}}} {
		role, _ := ParseRole(r.role)
		tok, entry, err := NewToken(r.name, role, r.groups)
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[r.name] = tok
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
	// production-1 and production-2 completed; production-3 waits.
	var completed []string
	for _, commit := range []string{"c0", "c1"} {
		d, _ := c.Apply(context.Background(), &fsm.CreateDeployment{Environment: "production", Commit: commit, Kind: fsm.KindAuto, Time: t0})
		id := d.(*fsm.Deployment).ID
		for _, to := range []fsm.DeploymentState{fsm.StateValidating, fsm.StatePlanning, fsm.StateBackingUp,
			fsm.StateApplying, fsm.StatePostValidating, fsm.StateCompleted} {
			if _, err := c.Apply(context.Background(), &fsm.TransitionDeployment{ID: id, To: to, Time: t0}); err != nil {
				t.Fatal(err)
			}
		}
		completed = append(completed, id)
	}
	d, _ := c.Apply(context.Background(), &fsm.CreateDeployment{Environment: "production", Commit: "c2", Kind: fsm.KindAuto, Time: t0})
	f.waiting = d.(*fsm.Deployment).ID
	for _, to := range []fsm.DeploymentState{fsm.StateValidating, fsm.StatePlanning} {
		if _, err := c.Apply(context.Background(), &fsm.TransitionDeployment{ID: f.waiting, To: to, Time: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Apply(context.Background(), &fsm.TransitionDeployment{ID: f.waiting, To: fsm.StateAwaitingApproval, Time: t0,
		Approval: &fsm.ApprovalRequirement{Required: 2, Groups: []string{"devops-team"}}}); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.s = NewServer(Config{Cluster: c, Store: c.tf.f, Tokens: tokens, Logger: logger,
		Pipeline:   &fakePipeline{c: c, approvers: []string{"devops-team"}, previous: completed[0]},
		Repository: &RepositoryInfo{URL: "git://x/config.git", Branch: "main"},
		Now:        func() time.Time { return t0.Add(time.Minute) }})
	return f
}

// do sends a request as the token named who, with a JSON body as the Go
// client sends one.
func (f *apiFixture) do(t *testing.T, who, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	h := map[string]string{}
	if body != "" {
		h["Content-Type"] = "application/json"
	}
	return f.doWith(t, who, method, path, body, h)
}

// doWith sends a request as the token named who with the headers given.
func (f *apiFixture) doWith(t *testing.T, who, method, path, body string, h map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	if tok, ok := f.tokens[who]; ok {
		h["Authorization"] = "Bearer " + tok
	} else if who != "" {
		h["Authorization"] = "Bearer " + who
	}
	return do(t, f.s, method, path, body, h)
}

// TestRoleMatrix: every endpoint behind authentication, with no token, an
// unknown token, and each role.
func TestRoleMatrix(t *testing.T) {
	endpoints := []struct {
		method, path, body string
		need               Role
	}{
		{"GET", "/v1/status", "", RoleViewer},
		{"GET", "/v1/environments", "", RoleViewer},
		{"GET", "/v1/environments/production", "", RoleViewer},
		{"GET", "/v1/environments/production/history", "", RoleViewer},
		{"GET", "/v1/deployments", "", RoleViewer},
		{"GET", "/v1/deployments/production-3", "", RoleViewer},
		{"GET", "/v1/cluster/members", "", RoleViewer},
		{"GET", "/v1/notifications", "", RoleViewer},
		{"GET", "/v1/whoami", "", RoleViewer},
		{"GET", "/v1/environments/production/approvers", "", RoleViewer},
		{"POST", "/v1/deployments/production-3/approve", `{"comment":"ok"}`, RoleApprover},
		{"POST", "/v1/deployments/production-3/reject", `{"reason":"no"}`, RoleApprover},
		{"POST", "/v1/environments/production/rollback", `{}`, RoleApprover},
		{"POST", "/v1/environments/production/sync", ``, RoleApprover},
		{"POST", "/v1/environments/production/suspend", `{"reason":"incident"}`, RoleApprover},
		{"POST", "/v1/environments/production/resume", `{}`, RoleApprover},
		{"POST", "/v1/deployments/production-3/cancel", `{"reason":"wrong commit"}`, RoleApprover},
		{"POST", "/v1/deployments/production-3/override", `{"reason":"hotfix"}`, RoleAdmin},
		{"DELETE", "/v1/cluster/members/node2", "", RoleAdmin},
		{"GET", "/v1/debug/state", "", RoleAdmin},
		{"GET", "/v1/agent/keyring", "", RoleAdmin},
	}
	who := []struct {
		name string
		role Role // 0: not authenticated
	}{{"", 0}, {"not-a-token", 0}, {"vera", RoleViewer}, {"alice", RoleApprover}, {"root", RoleAdmin}}
	for _, e := range endpoints {
		for _, w := range who {
			t.Run(fmt.Sprintf("%s %s as %q", e.method, e.path, w.name), func(t *testing.T) {
				f := newAPIFixture(t)
				rec := f.do(t, w.name, e.method, e.path, e.body)
				switch {
				case w.role == 0:
					if rec.Code != 401 || errorCode(t, rec) != "unauthorized" {
						t.Errorf("= %d %s; want 401 unauthorized", rec.Code, rec.Body)
					}
				case w.role < e.need:
					if rec.Code != 403 || errorCode(t, rec) != "forbidden" {
						t.Errorf("= %d %s; want 403 forbidden", rec.Code, rec.Body)
					}
				default:
					if rec.Code >= 400 {
						t.Errorf("= %d %s; want success", rec.Code, rec.Body)
					}
				}
			})
		}
	}
}

func TestProbesAndMetricsNeedNoToken(t *testing.T) {
	f := newAPIFixture(t)
	for _, p := range []string{"/healthz", "/metrics"} {
		if rec := f.do(t, "", "GET", p, ""); rec.Code != 200 {
			t.Errorf("GET %s without a token = %d; want 200", p, rec.Code)
		}
	}
}

// TestWriteErrors: each write's refusals and their codes.
func TestWriteErrors(t *testing.T) {
	big := `{"comment":"` + strings.Repeat("x", maxBody) + `"}`
	tests := []struct {
		name, who, method, path, body string
		wantStatus                    int
		wantCode                      string
		wantMsg                       string
	}{
		{"approve unknown deployment", "alice", "POST", "/v1/deployments/production-99/approve", `{}`, 404, "not_found", "production-99"},
		{"approve unknown field", "alice", "POST", "/v1/deployments/production-3/approve", `{"coment":"typo"}`, 400, "invalid", "coment"},
		{"approve not JSON", "alice", "POST", "/v1/deployments/production-3/approve", `{`, 400, "invalid", "request body"},
		{"approve oversize", "alice", "POST", "/v1/deployments/production-3/approve", big, 413, "too_large", ""},
		{"approve over the command cap", "alice", "POST", "/v1/deployments/production-3/approve",
			`{"comment":"` + strings.Repeat("x", fakeCommandCap) + `"}`, 413, "too_large", "too large to replicate"},
		{"approve outside the groups", "olga", "POST", "/v1/deployments/production-3/approve", `{}`, 403, "forbidden", "olga"},
		{"reject without reason", "alice", "POST", "/v1/deployments/production-3/reject", `{}`, 400, "invalid", "reason"},
		{"rollback nothing to go back to", "alice", "POST", "/v1/environments/production/rollback", `{"to":"nowhere"}`, 409, "wrong_state", "nothing to roll back"},
		{"rollback unknown target", "alice", "POST", "/v1/environments/production/rollback", `{"to":"unknown"}`, 400, "invalid", "unknown"},
		{"rollback to a waiting deployment", "alice", "POST", "/v1/environments/production/rollback", `{"to":"production-3"}`, 409, "wrong_state", "only a Completed deployment can be rolled back to"},
		{"rollback to what is deployed", "alice", "POST", "/v1/environments/production/rollback", `{"to":"production-2"}`, 409, "wrong_state", "is what is deployed"},
		{"rollback unknown environment", "alice", "POST", "/v1/environments/qa/rollback", `{}`, 404, "not_found", "qa"},
		{"rollback bad environment name", "alice", "POST", "/v1/environments/Prod/rollback", `{}`, 400, "invalid", "Prod"},
		{"rollback outside the groups", "olga", "POST", "/v1/environments/production/rollback", `{}`, 403, "forbidden", "olga is not in an approver group of production"},
		{"sync unknown environment", "alice", "POST", "/v1/environments/qa/sync", ``, 404, "not_found", "qa"},
		{"suspend without reason", "alice", "POST", "/v1/environments/production/suspend", `{}`, 400, "invalid", "reason is required"},
		{"suspend unknown environment", "alice", "POST", "/v1/environments/qa/suspend", `{"reason":"r"}`, 404, "not_found", "qa"},
		{"suspend outside the groups", "olga", "POST", "/v1/environments/production/suspend", `{"reason":"r"}`, 403, "forbidden", "olga"},
		{"resume outside the groups", "olga", "POST", "/v1/environments/production/resume", `{}`, 403, "forbidden", "olga"},
		{"cancel without reason", "alice", "POST", "/v1/deployments/production-3/cancel", `{"reason":" "}`, 400, "invalid", "reason is required"},
		{"cancel unknown deployment", "alice", "POST", "/v1/deployments/production-99/cancel", `{"reason":"r"}`, 404, "not_found", "production-99"},
		{"cancel a completed deployment", "alice", "POST", "/v1/deployments/production-2/cancel", `{"reason":"r"}`, 409, "wrong_state", "only a deployment that has not started"},
		{"cancel outside the groups", "olga", "POST", "/v1/deployments/production-3/cancel", `{"reason":"r"}`, 403, "forbidden", "olga"},
		{"override as an approver", "alice", "POST", "/v1/deployments/production-3/override", `{"reason":"r"}`, 403, "forbidden", "admin"},
		{"override without reason", "root", "POST", "/v1/deployments/production-3/override", `{}`, 400, "invalid", "reason is required"},
		{"override a completed deployment", "root", "POST", "/v1/deployments/production-2/override", `{"reason":"r"}`, 409, "wrong_state", "production-2"},
		{"preview without ref", "vera", "GET", "/v1/environments/production/plan", "", 400, "invalid", "ref is required"},
		{"preview unknown parameter", "vera", "GET", "/v1/environments/production/plan?ref=main&x=1", "", 400, "invalid", "unknown parameter"},
		{"preview bad ref", "vera", "GET", "/v1/environments/production/plan?ref=bad", "", 400, "invalid", "bad"},
		{"preview missing ref", "vera", "GET", "/v1/environments/production/plan?ref=gone", "", 404, "not_found", "gone"},
		{"remove the leader", "root", "DELETE", "/v1/cluster/members/node1", "", 409, "wrong_state", "leader"},
		{"remove unknown member", "root", "DELETE", "/v1/cluster/members/node9", "", 404, "not_found", "node9"},
		{"remove a live member", "root", "DELETE", "/v1/cluster/members/node3", "", 409, "wrong_state", "alive"},
		{"history bad cursor", "vera", "GET", "/v1/environments/production/history?cursor=x", "", 400, "invalid", "cursor"},
		{"history bad limit", "vera", "GET", "/v1/environments/production/history?limit=0", "", 400, "invalid", "limit"},
		{"history unknown environment", "vera", "GET", "/v1/environments/qa/history", "", 404, "not_found", "qa"},
		{"events bad id", "vera", "GET", "/v1/events?lastEventId=x", "", 400, "invalid", "event id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAPIFixture(t)
			rec := f.do(t, tt.who, tt.method, tt.path, tt.body)
			if rec.Code != tt.wantStatus {
				t.Fatalf("= %d %s; want %d", rec.Code, rec.Body, tt.wantStatus)
			}
			if code := errorCode(t, rec); code != tt.wantCode {
				t.Errorf("code = %q; want %q", code, tt.wantCode)
			}
			if !strings.Contains(rec.Body.String(), tt.wantMsg) {
				t.Errorf("body %s does not mention %q", rec.Body, tt.wantMsg)
			}
		})
	}
}

// TestApproveRejectFlow: approvals by token identity, a duplicate counted
// once, the wrong-state message, and a rejection.
func TestApproveRejectFlow(t *testing.T) {
	f := newAPIFixture(t)
	path := "/v1/deployments/" + f.waiting
	var res api.ApproveResult
	for i, want := range []bool{false, true} {
		rec := f.do(t, "alice", "POST", path+"/approve", `{"comment":"lgtm"}`)
		if rec.Code != 200 {
			t.Fatalf("approve #%d = %d %s", i+1, rec.Code, rec.Body)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		if res.Duplicate != want || len(res.Deployment.Approvals) != 1 || res.Deployment.Approvals[0].Identity != "alice" {
			t.Errorf("approve #%d = duplicate %v, approvals %+v; want duplicate %v and alice's one approval", i+1, res.Duplicate, res.Deployment.Approvals, want)
		}
	}
	rec := f.do(t, "root", "POST", path+"/reject", `{"reason":"not today"}`)
	if rec.Code != 200 {
		t.Fatalf("reject = %d %s", rec.Code, rec.Body)
	}
	// alice retrying her approval is told it was a duplicate, as the API
	// promises; anyone else is refused.
	rec = f.do(t, "alice", "POST", path+"/approve", `{}`)
	res = api.ApproveResult{}
	if err := json.Unmarshal(rec.Body.Bytes(), &res); rec.Code != 200 || err != nil || !res.Duplicate ||
		res.Deployment.State != api.StateRejected {
		t.Errorf("alice approving again once rejected = %d %s; want 200 duplicate showing Rejected", rec.Code, rec.Body)
	}
	rec = f.do(t, "olga", "POST", path+"/approve", `{}`)
	want := fmt.Sprintf("cannot approve deployment %s: it is Rejected, not AwaitingApproval", f.waiting)
	if rec.Code != 409 || errorCode(t, rec) != "wrong_state" || !strings.Contains(rec.Body.String(), want) {
		t.Errorf("approving a rejected deployment = %d %s; want 409 wrong_state %q", rec.Code, rec.Body, want)
	}
}

// TestTokensNeverLogged: neither a valid nor an invalid token reaches the
// logs.
func TestTokensNeverLogged(t *testing.T) {
	f := newAPIFixture(t)
	f.do(t, "alice", "POST", "/v1/deployments/"+f.waiting+"/approve", `{}`)
	f.do(t, "honua_deadbeef-wrong-token", "GET", "/v1/status", "")
	f.do(t, "root", "POST", "/v1/environments/production/rollback", `{}`)
	if f.logs.Len() == 0 {
		t.Fatal("nothing was logged; the check would prove nothing")
	}
	for name, tok := range f.tokens {
		if strings.Contains(f.logs.String(), tok) {
			t.Errorf("%s's token appears in the logs", name)
		}
	}
	if strings.Contains(f.logs.String(), "deadbeef-wrong-token") {
		t.Error("a refused token appears in the logs")
	}
}

func TestHistoryPagesAndTotals(t *testing.T) {
	f := newAPIFixture(t)
	c := f.c
	for i := range 4 {
		d, _ := c.Apply(context.Background(), &fsm.CreateDeployment{Environment: "staging", Commit: fmt.Sprintf("s%d", i), Kind: fsm.KindAuto, Time: t0})
		id := d.(*fsm.Deployment).ID
		for _, to := range []fsm.DeploymentState{fsm.StateValidating, fsm.StatePlanning, fsm.StateBackingUp, fsm.StateApplying,
			fsm.StatePostValidating, fsm.StateCompleted} {
			if i == 3 && to == fsm.StateBackingUp {
				to = fsm.StateFailed
			}
			c.Apply(context.Background(), &fsm.TransitionDeployment{ID: id, To: to, Time: t0.Add(time.Duration(i+1) * time.Minute)})
			if to == fsm.StateFailed {
				break
			}
		}
	}
	var h api.History
	rec := f.do(t, "vera", "GET", "/v1/environments/staging/history?limit=3", "")
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil || rec.Code != 200 {
		t.Fatalf("history = %d %s", rec.Code, rec.Body)
	}
	if len(h.Deployments) != 3 || h.NextCursor == "" || h.Totals.Total != 4 || h.Totals.Completed != 3 || h.Totals.Failed != 1 {
		t.Fatalf("history page = %+v, totals %+v; want 3 of 4, a cursor, 3 completed and 1 failed", h.Deployments, h.Totals)
	}
	if h.Totals.SuccessRate != 0.75 || h.Totals.AverageSeconds <= 0 {
		t.Errorf("totals = %+v; want success rate 0.75 and an average duration", h.Totals)
	}
	rec = f.do(t, "vera", "GET", "/v1/environments/staging/history?limit=3&cursor="+h.NextCursor, "")
	var next api.History
	if err := json.Unmarshal(rec.Body.Bytes(), &next); err != nil || len(next.Deployments) != 1 || next.NextCursor != "" {
		t.Errorf("second page = %s; want the last deployment and no cursor", rec.Body)
	}
}

// TestEventStream: the stream sends every transition with its id, resumes
// after Last-Event-ID, and follows new transitions as they happen.
func TestEventStream(t *testing.T) {
	f := newAPIFixture(t)
	ts := httptest.NewServer(f.s)
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open := func(last string) *bufio.Reader {
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+f.tokens["vera"])
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("open events: %v %v", resp, err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return bufio.NewReader(resp.Body)
	}
	next := func(r *bufio.Reader) fsm.Event {
		var id string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read event: %v", err)
			}
			switch {
			case strings.HasPrefix(line, "id: "):
				id = strings.TrimSpace(line[4:])
			case strings.HasPrefix(line, "data: "):
				var e fsm.Event
				if err := json.Unmarshal([]byte(line[6:]), &e); err != nil {
					t.Fatal(err)
				}
				if e.ID != id {
					t.Fatalf("event id line %q does not match the data's %q", id, e.ID)
				}
				return e
			}
		}
	}
	r := open("")
	// The two completed deployments' seven transitions each, then the
	// waiting one's four: Pending, Validating, Planning, AwaitingApproval.
	var seen []fsm.Event
	for range 2*7 + 4 {
		seen = append(seen, next(r))
	}
	if last := seen[len(seen)-1]; last.To != fsm.StateAwaitingApproval || last.DeploymentID != f.waiting {
		t.Fatalf("events = %+v; want the waiting deployment's four transitions last", seen)
	}
	// A transition made now arrives on the open stream.
	f.do(t, "alice", "POST", "/v1/deployments/"+f.waiting+"/reject", `{"reason":"no"}`)
	if e := next(r); e.To != fsm.StateRejected {
		t.Errorf("live event = %+v; want the rejection", e)
	}
	// Resuming after the second event replays from the third.
	r2 := open(seen[1].ID)
	if e := next(r2); e.ID != seen[2].ID {
		t.Errorf("resumed at %s; want %s", e.ID, seen[2].ID)
	}
}

func TestDebugStateIsTheDumpDigest(t *testing.T) {
	f := newAPIFixture(t)
	rec := f.do(t, "root", "GET", "/v1/debug/state", "")
	var st debugState
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || rec.Code != 200 {
		t.Fatalf("GET /v1/debug/state = %d %s", rec.Code, rec.Body)
	}
	b, _ := f.c.tf.f.Dump()
	if st.Bytes != len(b) || st.AppliedIndex != f.c.tf.index() || len(st.SHA256) != 64 {
		t.Errorf("debug state = %+v; want the digest of the %d-byte dump at index %d", st, len(b), f.c.tf.index())
	}
}

func TestSnapshotEndpoints(t *testing.T) {
	f := newAPIFixture(t)
	rec := f.do(t, "root", "GET", "/v1/snapshot", "")
	if rec.Code != 200 || rec.Body.String() != fakeBackup("node1") || rec.Header().Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("GET /v1/snapshot = %d %q %v", rec.Code, rec.Body, rec.Header())
	}
	octets := func() map[string]string { return map[string]string{"Content-Type": "application/octet-stream"} }
	if rec := f.doWith(t, "root", "POST", "/v1/snapshot", fakeBackup("node1"), octets()); rec.Code != 200 || !strings.Contains(rec.Body.String(), "77") {
		t.Errorf("POST /v1/snapshot = %d %s; want 200 with the applied index", rec.Code, rec.Body)
	}
	if rec := f.doWith(t, "root", "POST", "/v1/snapshot", "garbage", octets()); rec.Code != 400 || errorCode(t, rec) != "invalid" {
		t.Errorf("POST /v1/snapshot with garbage = %d %s; want 400 invalid", rec.Code, rec.Body)
	}
	// What a web page can send without a preflight is not read.
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		rec := f.doWith(t, "root", "POST", "/v1/snapshot", fakeBackup("node1"), map[string]string{"Content-Type": ct})
		if rec.Code != 415 || errorCode(t, rec) != "unsupported_media_type" {
			t.Errorf("POST /v1/snapshot as %q = %d %s; want 415 unsupported_media_type", ct, rec.Code, rec.Body)
		}
	}
	for _, who := range []string{"vera", "alice"} {
		if rec := f.do(t, who, "GET", "/v1/snapshot", ""); rec.Code != 403 {
			t.Errorf("GET /v1/snapshot as %s = %d; want 403", who, rec.Code)
		}
	}
}

// TestWriteErrFullDisk: a full disk (a backup to restore that this node
// could not keep) is 507 insufficient_storage with the message, not a 500.
func TestWriteErrFullDisk(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT} {
		err := fmt.Errorf("restore backup: keep its state in /var/lib/honua: %w",
			&os.PathError{Op: "write", Path: "/var/lib/honua/restore-1.tmp", Err: errno})
		rec := httptest.NewRecorder()
		writeErr(rec, err)
		if rec.Code != http.StatusInsufficientStorage || errorCode(t, rec) != "insufficient_storage" ||
			!strings.Contains(rec.Body.String(), "keep its state in /var/lib/honua") {
			t.Errorf("writeErr(%v) = %d %s; want 507 insufficient_storage with the message", errno, rec.Code, rec.Body)
		}
	}
}
