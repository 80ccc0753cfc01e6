package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/configrepo"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/plan"
)

// testNow is the clock of every unit test: relative times are exact.
var testNow = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

// Commits of the fixture.
const (
	commit1 = "1111111111111111111111111111111111111111"
	commit2 = "2222222222222222222222222222222222222222"
	commit3 = "3333333333333333333333333333333333333333"
	commitP = "7777777777777777777777777777777777777777"
)

// request is one request the fake API received.
type request struct {
	Method, Path, Query, Auth, LastEventID string
	Body                                   string
}

// fakeAPI is an httptest server that answers like honuad, with fixed
// records: staging has staging-1 and staging-2 Completed (staging-2
// deployed) and staging-3 AwaitingApproval; production-7 is Completed.
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	requests []request
	// token, when set, is the only bearer token accepted.
	token string
	// deployments by id.
	deployments map[string]*api.Deployment
	// events are sent on /v1/events after the request's Last-Event-ID;
	// noEvents answers 404 there instead.
	events   []api.Event
	noEvents bool
	// editStatus, when set, changes the status before it is sent.
	editStatus func(*api.Status)
	// notifications is the outbox, newest first (fakenotifications_test.go).
	notifications []api.Notification
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{t: t, deployments: fixtureDeployments(t), notifications: fixtureNotifications()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", f.status)
	mux.HandleFunc("GET /v1/cluster/members", func(w http.ResponseWriter, r *http.Request) {
		writeJSONTest(w, http.StatusOK, fixtureStatus().Members)
	})
	mux.HandleFunc("DELETE /v1/cluster/members/{id}", func(w http.ResponseWriter, r *http.Request) {
		switch id := r.PathValue("id"); id {
		case "n1":
			writeErrorTest(w, http.StatusConflict, "wrong_state", "n1 is the leader: transfer leadership before removing it")
		case "n2", "n3":
			writeJSONTest(w, http.StatusOK, map[string]string{"removed": id})
		default:
			writeErrorTest(w, http.StatusNotFound, "not_found", "member "+id+" is not known")
		}
	})
	mux.HandleFunc("GET /v1/deployments", f.list)
	mux.HandleFunc("GET /v1/deployments/{id}", func(w http.ResponseWriter, r *http.Request) {
		d, ok := f.deployment(r.PathValue("id"))
		if !ok {
			writeErrorTest(w, http.StatusNotFound, "not_found", fmt.Sprintf("deployment %s is not known (it may have been pruned from history)", r.PathValue("id")))
			return
		}
		d.Notifications = f.notificationsOf(d.ID)
		writeJSONTest(w, http.StatusOK, d)
	})
	mux.HandleFunc("POST /v1/deployments/{id}/approve", f.approve)
	mux.HandleFunc("POST /v1/deployments/{id}/reject", f.reject)
	mux.HandleFunc("GET /v1/environments", func(w http.ResponseWriter, r *http.Request) {
		writeJSONTest(w, http.StatusOK, []api.EnvironmentDetail{
			{Environment: &api.Environment{Name: "production", History: []string{}}},
			{Environment: &api.Environment{Name: "staging", DeployedDeployment: "staging-2", History: []string{"staging-2"},
				Drift: &api.Drift{Deployment: "staging-2", Since: testNow.Add(-5 * time.Minute), Targets: []string{"directory /srv/staging"},
					Files: []string{"metadata.json", "roads.json"}, MoreFiles: 2}}},
		})
	})
	mux.HandleFunc("GET /v1/environments/{env}", f.environment)
	mux.HandleFunc("GET /v1/environments/{env}/history", f.history)
	mux.HandleFunc("POST /v1/environments/{env}/rollback", f.rollback)
	mux.HandleFunc("POST /v1/environments/{env}/sync", f.sync)
	mux.HandleFunc("GET /v1/events", f.eventStream)
	mux.HandleFunc("GET /v1/notifications", f.listNotifications)
	mux.HandleFunc("POST /v1/notifications/{id}/retry", f.retryNotification)
	f.srv = httptest.NewServer(f.record(mux))
	t.Cleanup(f.srv.Close)
	return f
}

// addr is the fake's host:port.
func (f *fakeAPI) addr() string { return f.srv.Listener.Addr().String() }

// record logs each request and checks the token when one is required.
func (f *fakeAPI) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.mu.Lock()
		f.requests = append(f.requests, request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Auth: r.Header.Get("Authorization"), LastEventID: r.Header.Get("Last-Event-ID"), Body: string(body)})
		token := f.token
		f.mu.Unlock()
		w.Header().Set("X-Honua-Node", "n1")
		w.Header().Set("X-Honua-Leader", "n1")
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			writeErrorTest(w, http.StatusUnauthorized, "unauthorized", "unknown token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// seen returns the requests received so far.
func (f *fakeAPI) seen() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

// last returns the last request to method and path.
func (f *fakeAPI) last(method, path string) (request, bool) {
	rs := f.seen()
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].Method == method && rs[i].Path == path {
			return rs[i], true
		}
	}
	return request{}, false
}

func (f *fakeAPI) deployment(id string) (*api.Deployment, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.deployments[id]
	if !ok {
		return nil, false
	}
	c := *d
	c.Transitions = append([]api.Transition(nil), d.Transitions...)
	return &c, true
}

func (f *fakeAPI) status(w http.ResponseWriter, _ *http.Request) {
	st := fixtureStatus()
	f.mu.Lock()
	edit := f.editStatus
	f.mu.Unlock()
	if edit != nil {
		edit(st)
	}
	writeJSONTest(w, http.StatusOK, st)
}

func fixtureStatus() *api.Status {
	return &api.Status{
		NodeID: "n1", State: "Leader", Leader: &api.Leader{ID: "n1", APIAddr: "127.0.0.1:7201"},
		Term: 3, LastIndex: 100, CommitIndex: 100, AppliedIndex: 100, Version: "1.2.3",
		Members: []api.Member{
			{ID: "n1", RaftAddr: "127.0.0.1:7301", GossipAddr: "127.0.0.1:7401", APIAddr: "127.0.0.1:7201", Version: "1.2.3", Voter: true, Status: "alive"},
			{ID: "n2", RaftAddr: "127.0.0.1:7302", GossipAddr: "127.0.0.1:7402", APIAddr: "127.0.0.1:7202", Version: "1.2.3", Voter: true, Status: "alive"},
			{ID: "n3", RaftAddr: "127.0.0.1:7303", GossipAddr: "127.0.0.1:7403", APIAddr: "127.0.0.1:7203", Version: "1.2.3", Voter: true, Status: "dead"},
		},
		Repository: &api.RepositoryStatus{URL: "git://git.example/config.git", Branch: "main",
			SourceStatus: api.SourceStatus{Head: commit3, HeadSince: testNow.Add(-5 * time.Minute)}},
	}
}

// fixtureDeployments builds the records; staging-3's plan and validation
// are the planner's own types, encoded.
func fixtureDeployments(t *testing.T) map[string]*api.Deployment {
	t.Helper()
	at := func(ago time.Duration) time.Time { return testNow.Add(-ago) }
	tr := func(from, to api.DeploymentState, when time.Time, index uint64, msg string) api.Transition {
		return api.Transition{From: from, To: to, Time: when, Index: index, Message: msg}
	}
	completed := func(id, commit string, created time.Time, base uint64) *api.Deployment {
		return &api.Deployment{ID: id, Environment: "staging", Commit: commit, Branch: "main", Kind: api.KindAuto,
			Initiator: "git-watcher", State: api.StateCompleted, CreatedAt: created, UpdatedAt: created.Add(4 * time.Second),
			Risk: "low", FencingToken: base,
			Transitions: []api.Transition{
				tr("", api.StatePending, created, base, "commit seen"),
				tr(api.StatePending, api.StateValidating, created.Add(time.Second), base+1, "validating"),
				tr(api.StateValidating, api.StatePlanning, created.Add(time.Second), base+2, "valid"),
				tr(api.StatePlanning, api.StateBackingUp, created.Add(2*time.Second), base+3, "no approval needed"),
				tr(api.StateBackingUp, api.StateApplying, created.Add(2*time.Second), base+4, "backup recorded"),
				tr(api.StateApplying, api.StatePostValidating, created.Add(3*time.Second), base+5, "applied"),
				tr(api.StatePostValidating, api.StateCompleted, created.Add(4*time.Second), base+6, "deployed and healthy"),
			}}
	}
	doc := plan.Document{BaseCommit: commit2, Commit: commit3, Plan: &plan.Plan{
		Risk: plan.RiskHigh, Breaking: true, Added: 1, Modified: 1,
		Changes: []plan.Change{
			{Action: plan.ActionAdded, Kind: plan.KindLayer, Path: "layers/roads", Risk: plan.RiskLow, Reason: "layer added"},
			{Action: plan.ActionModified, Kind: plan.KindLayer, Path: "layers/sample-points", Risk: plan.RiskHigh, Breaking: true,
				Reason: "srid changed", Diff: []plan.FieldDiff{
					{Field: "srid", From: 4326, To: 3857, Risk: plan.RiskHigh, Breaking: true, Reason: "srid changed"},
					{Field: "title", From: "Sample Points", To: "Points", Risk: plan.RiskLow, Reason: "title changed"},
				}},
		}}}
	planJSON, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	validation, err := json.Marshal(configrepo.NewReport(nil))
	if err != nil {
		t.Fatal(err)
	}
	invalid, err := json.Marshal(configrepo.NewReport([]configrepo.Problem{{File: "environments/development/metadata.json",
		Line: 12, Column: 7, Path: "layers[1].srid", Message: "must be a positive integer, got -3"}}))
	if err != nil {
		t.Fatal(err)
	}
	c3 := at(10 * time.Minute)
	s3 := &api.Deployment{ID: "staging-3", Environment: "staging", Commit: commit3, Branch: "main", Kind: api.KindAuto,
		Initiator: "git-watcher", State: api.StateAwaitingApproval, CreatedAt: c3, UpdatedAt: at(3 * time.Minute),
		Plan: planJSON, Validation: validation, Risk: "high",
		Approval:  &api.ApprovalRequirement{Required: 2, Groups: []string{"devops-team"}, Expires: testNow.Add(23 * time.Hour)},
		Approvals: []api.Approval{{Identity: "alice", Groups: []string{"devops-team"}, Time: at(3 * time.Minute), Comment: "looks right"}},
		Transitions: []api.Transition{
			tr("", api.StatePending, c3, 90, "commit 333333333333 seen (poll); changed since the deployed commit 222222222222"),
			tr(api.StatePending, api.StateValidating, c3.Add(time.Second), 91, "validating"),
			tr(api.StateValidating, api.StatePlanning, c3.Add(time.Second), 92, "valid"),
			tr(api.StatePlanning, api.StateAwaitingApproval, c3.Add(2*time.Second), 93, "needs 2 approvals: risk high"),
		}}
	p7 := completed("production-7", commitP, at(72*time.Hour), 40)
	p7.Environment = "production"
	c2 := at(30 * time.Minute)
	dev2 := &api.Deployment{ID: "development-2", Environment: "development", Commit: commit3, Kind: api.KindAuto,
		Initiator: "git-watcher", State: api.StateFailed, CreatedAt: c2, UpdatedAt: c2.Add(time.Second), Validation: invalid,
		Error: "validation failed: 1 problem",
		Transitions: []api.Transition{
			tr("", api.StatePending, c2, 60, "commit seen"),
			tr(api.StatePending, api.StateValidating, c2, 61, "validating"),
			tr(api.StateValidating, api.StateFailed, c2.Add(time.Second), 62, "validation failed: 1 problem"),
		}}
	return map[string]*api.Deployment{
		"development-2": dev2,
		"staging-1":     completed("staging-1", commit1, at(48*time.Hour), 10),
		"staging-2":     completed("staging-2", commit2, at(2*time.Hour), 20),
		"staging-3":     s3,
		"production-7":  p7,
	}
}

func summaryOf(d *api.Deployment) *api.DeploymentSummary {
	s := &api.DeploymentSummary{ID: d.ID, Environment: d.Environment, Commit: d.Commit, Branch: d.Branch, Kind: string(d.Kind),
		Initiator: d.Initiator, State: d.State, Risk: d.Risk, Error: d.Error, Approvals: len(d.Approvals),
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if n := len(d.Transitions); n > 0 {
		s.Message = d.Transitions[n-1].Message
	}
	if d.Approval != nil {
		s.Required = d.Approval.Required
	}
	return s
}

// sorted returns the deployments of env (all when empty), newest first.
func (f *fakeAPI) sorted(env string) []*api.DeploymentSummary {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*api.DeploymentSummary
	for _, d := range f.deployments {
		if env == "" || d.Environment == env {
			out = append(out, summaryOf(d))
		}
	}
	// Newest first.
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].CreatedAt.After(out[i].CreatedAt) {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func (f *fakeAPI) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var out []*api.DeploymentSummary
	for _, s := range f.sorted(q.Get("env")) {
		if st := q.Get("state"); st != "" && string(s.State) != st {
			continue
		}
		out = append(out, s)
	}
	if l, _ := strconv.Atoi(q.Get("limit")); l > 0 && l < len(out) {
		out = out[:l]
	}
	if out == nil {
		out = []*api.DeploymentSummary{}
	}
	writeJSONTest(w, http.StatusOK, out)
}

func (f *fakeAPI) approve(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, ok := f.deployment(id)
	switch {
	case !ok:
		writeErrorTest(w, http.StatusNotFound, "not_found", "deployment "+id+": not found")
	case d.State != api.StateAwaitingApproval:
		writeErrorTest(w, http.StatusConflict, "wrong_state",
			fmt.Sprintf("cannot approve deployment %s: it is %s, not AwaitingApproval", id, d.State))
	default:
		var body struct{ Comment string }
		_ = json.Unmarshal([]byte(readBody(r)), &body)
		d.Approvals = append(d.Approvals, api.Approval{Identity: "bob", Time: testNow, Comment: body.Comment})
		writeJSONTest(w, http.StatusOK, api.ApproveResult{Deployment: d})
	}
}

func (f *fakeAPI) reject(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, ok := f.deployment(id)
	if !ok {
		writeErrorTest(w, http.StatusNotFound, "not_found", "deployment "+id+": not found")
		return
	}
	var body struct{ Reason string }
	_ = json.Unmarshal([]byte(readBody(r)), &body)
	d.State = api.StateRejected
	d.Rejection = &api.Rejection{Identity: "bob", Time: testNow, Reason: body.Reason}
	writeJSONTest(w, http.StatusOK, d)
}

func (f *fakeAPI) environment(w http.ResponseWriter, r *http.Request) {
	switch r.PathValue("env") {
	case "staging":
		e := &api.Environment{Name: "staging", DeployedCommit: commit2, DeployedDeployment: "staging-2",
			LatestSeenCommit: commit3, Waiting: "staging-3", History: []string{"staging-1", "staging-2", "staging-3"}}
		writeJSONTest(w, http.StatusOK, api.EnvironmentDetail{Environment: e})
	case "empty":
		writeJSONTest(w, http.StatusOK, api.EnvironmentDetail{Environment: &api.Environment{Name: "empty", History: []string{}}})
	default:
		writeErrorTest(w, http.StatusNotFound, "not_found", "environment "+r.PathValue("env")+" is not known")
	}
}

func (f *fakeAPI) history(w http.ResponseWriter, r *http.Request) {
	env := r.PathValue("env")
	if env != "staging" {
		writeErrorTest(w, http.StatusNotFound, "not_found", "environment "+env+" is not known")
		return
	}
	all := f.sorted(env)
	h := api.History{Environment: env, Deployments: all, Totals: api.HistoryTotals{
		Total: 3, Completed: 2, InProgress: 1, SuccessRate: 1, AverageDuration: "4s", AverageSeconds: 4}}
	if l, _ := strconv.Atoi(r.URL.Query().Get("limit")); l > 0 && l < len(all) {
		h.Deployments = all[:l]
		h.NextCursor = all[l-1].ID
	}
	writeJSONTest(w, http.StatusOK, h)
}

func (f *fakeAPI) rollback(w http.ResponseWriter, r *http.Request) {
	var body struct{ To string }
	_ = json.Unmarshal([]byte(readBody(r)), &body)
	commit := commit1
	if body.To != "" && body.To != "staging-1" {
		writeErrorTest(w, http.StatusNotFound, "not_found", fmt.Sprintf("roll back staging to %q: no such deployment or commit", body.To))
		return
	}
	d := &api.Deployment{ID: "staging-4", Environment: "staging", Commit: commit, Kind: api.KindRollback, Initiator: "bob",
		State: api.StatePending, CreatedAt: testNow, UpdatedAt: testNow,
		Transitions: []api.Transition{{To: api.StatePending, Time: testNow, Index: 101,
			Message: "rollback of staging from 222222222222 to deployment staging-1 (commit 111111111111) requested by bob"}}}
	writeJSONTest(w, http.StatusAccepted, d)
}

func (f *fakeAPI) sync(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("env") != "staging" {
		writeErrorTest(w, http.StatusNotFound, "not_found", "environment "+r.PathValue("env")+": not found")
		return
	}
	e := &api.Environment{Name: "staging", DeployedCommit: commit2, DeployedDeployment: "staging-2",
		PendingSync: &api.SyncRequest{By: "bob", Time: testNow}, History: []string{"staging-1", "staging-2", "staging-3"}}
	writeJSONTest(w, http.StatusAccepted, e)
}

// eventStream sends the fake's events after Last-Event-ID, then holds the
// stream open until the client leaves.
func (f *fakeAPI) eventStream(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	events, none := append([]api.Event(nil), f.events...), f.noEvents
	f.mu.Unlock()
	if none {
		writeErrorTest(w, http.StatusNotFound, "not_found", "no such endpoint: GET /v1/events")
		return
	}
	after, err := fsm.ParseEventID(r.Header.Get("Last-Event-ID"))
	if err != nil {
		writeErrorTest(w, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	for _, e := range events {
		id, _ := fsm.ParseEventID(e.ID)
		if id.Index < after.Index || id.Index == after.Index && id.N <= after.N {
			continue
		}
		if env := r.URL.Query().Get("env"); env != "" && e.Environment != env {
			continue
		}
		b, _ := json.Marshal(e)
		fmt.Fprintf(w, "id: %s\nevent: transition\ndata: %s\n\n", e.ID, b)
	}
	fmt.Fprint(w, ": heartbeat\n\n")
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

func readBody(r *http.Request) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

func writeJSONTest(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeErrorTest(w http.ResponseWriter, status int, code, msg string) {
	writeJSONTest(w, status, api.ErrorBody{Error: msg, Code: code})
}
