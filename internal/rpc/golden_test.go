package rpc

// The golden tests pin the bytes of every answer the API gives, from a
// state built with fixed times and ids, served through the real handlers
// over real HTTP. The wire format is a contract with clients: a change to
// the replicated state, to the planner's or the validator's documents, or
// to the API's own types must not change it unnoticed. When an answer is
// meant to change, regenerate the files and review their diff:
//
//	go test ./internal/rpc/ -run TestGolden -update

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/configrepo"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/gossipkey"
	"github.com/honua-io/honua-gitops/internal/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestGolden* from the answers")

// goldenDir holds one file per answer: its status line, then its body.
const goldenDir = "testdata/golden"

// goldenCluster is a leading node whose view of the cluster is fixed.
type goldenCluster struct {
	*leaderCluster
}

func (c *goldenCluster) Status() cluster.Status {
	contact := t0.Add(-3 * time.Second)
	st := cluster.Status{NodeID: "node1", State: "Leader", Term: 7, LastIndex: 120, CommitIndex: 119,
		AppliedIndex: 118, LastContact: &contact, Version: "1.4.0", Members: c.Members()}
	st.Leader = goldenLeader()
	return st
}

func (c *goldenCluster) Members() []cluster.Member {
	return []cluster.Member{
		{ID: "node1", RaftAddr: "10.0.0.1:7000", GossipAddr: "10.0.0.1:7001", APIAddr: "10.0.0.1:8080",
			Version: "1.4.0", Voter: true, Status: "alive"},
		{ID: "node2", RaftAddr: "10.0.0.2:7000", GossipAddr: "10.0.0.2:7001", APIAddr: "10.0.0.2:8080",
			Version: "1.4.0", Voter: true, Status: "suspect"},
		{ID: "node3", RaftAddr: "10.0.0.3:7000", Voter: false, Status: "dead"},
	}
}

// goldenLeader is the leader the golden node knows.
func goldenLeader() *cluster.Leader { return &cluster.Leader{ID: "node1", APIAddr: "10.0.0.1:8080"} }

// goldenKeyring is a node's gossip keyring of two keys.
type goldenKeyring struct{}

// goldenKeys are the keyring's keys, primary first.
var goldenKeys = [][]byte{bytes.Repeat([]byte{1}, gossipkey.Size), bytes.Repeat([]byte{2}, gossipkey.Size)}

func (goldenKeyring) GossipKeyring() cluster.Keyring {
	kr := cluster.Keyring{Node: "node1", Encrypted: true, Primary: gossipkey.Fingerprint(goldenKeys[0])}
	for _, k := range goldenKeys {
		kr.Keys = append(kr.Keys, gossipkey.Fingerprint(k))
	}
	kr.Count = len(kr.Keys)
	return kr
}
func (goldenKeyring) InstallGossipKey([]byte) (bool, error) { return true, nil }
func (goldenKeyring) UseGossipKey([]byte) (bool, error)     { return false, nil }
func (goldenKeyring) RemoveGossipKey([]byte) (bool, error) {
	return false, fmt.Errorf("remove gossip key: %w", cluster.ErrGossipKeyPrimary)
}

// goldenPlan is a plan document with every kind of field set.
func goldenPlan(t *testing.T, base, commit string) json.RawMessage {
	t.Helper()
	doc := plan.Document{BaseCommit: base, Commit: commit, Note: "policy unchanged",
		Plan: &plan.Plan{Risk: plan.RiskHigh, Breaking: true, PolicyChanged: true, Added: 1, Modified: 2, Removed: 1,
			Truncated: true, OmittedChanges: 3,
			Changes: []plan.Change{
				{Action: plan.ActionAdded, Kind: plan.KindService, Path: "services/parcels", Risk: plan.RiskLow, Reason: "service added"},
				{Action: plan.ActionModified, Kind: plan.KindLayer, Path: "layers/roads", Breaking: true, Risk: plan.RiskHigh,
					Reason: "srid changed", OmittedDiffs: 2, Diff: []plan.FieldDiff{
						{Field: "srid", From: 4326, To: 3857, Risk: plan.RiskHigh, Breaking: true, Reason: "srid changed"},
						{Field: "title", From: "Roads <main>", To: "Roads & streets", Risk: plan.RiskLow, Reason: "title changed"},
						{Field: "style", From: map[string]any{"color": "red", "width": 2.5},
							To:   plan.ValueSummary{Bytes: 2048, SHA256: strings.Repeat("ab", 32), Prefix: `{"color":"blue"`},
							Risk: plan.RiskLow, Reason: "style changed", ToSummarized: true},
						{Field: "extent[0]", From: []any{-180.0, 1e21}, Risk: plan.RiskMedium, Reason: "extent removed"},
					}},
				{Action: plan.ActionRemoved, Kind: plan.KindField, Path: "layers/roads/fields/name", Breaking: true,
					Risk: plan.RiskMedium, Reason: "field removed"},
				{Action: plan.ActionModified, Kind: plan.KindPolicy, Path: "policy", Risk: plan.RiskMedium, Reason: "policy changed"},
			}}}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goldenValidation is a validation report with problems.
func goldenValidation(t *testing.T, problems ...configrepo.Problem) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(configrepo.NewReport(problems))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newGoldenServer serves a state that sets every field the API shows:
//
//	production-1  Completed, with backup and fencing token, its plan dropped
//	production-2  Completed
//	production-3  AwaitingApproval, one approval of two, approval expiring
//	staging-4     Rejected
//	staging-5     Failed, after applying (error)
//	dev-6         dry run, stopped after planning (Completed)
//
//	edge-7        Completed
//	edge-8        RollingBack after it failed applying: edge's current
//
// staging is pinned, dev has a sync pending, edge has drifted, and the
// source has a head and an error.
func newGoldenServer(t *testing.T) (*httptest.Server, *apiFixture) {
	t.Helper()
	f := newAPIFixtureTokens(t)
	c := f.c
	apply := func(cmd fsm.Command) any {
		t.Helper()
		res, err := c.Apply(context.Background(), cmd)
		if err != nil {
			t.Fatalf("apply %T: %v", cmd, err)
		}
		return res
	}
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	create := func(env, commit string, kind fsm.Kind, dry bool, m int) string {
		d := apply(&fsm.CreateDeployment{Environment: env, Commit: commit, Branch: "main", Kind: kind,
			Initiator: "watcher", Time: at(m), Message: "commit " + commit + " seen", DryRun: dry})
		return d.(*fsm.Deployment).ID
	}
	move := func(id string, to fsm.DeploymentState, m int, mod func(*fsm.TransitionDeployment)) {
		tr := &fsm.TransitionDeployment{ID: id, To: to, Time: at(m), Message: "to " + to.String()}
		if mod != nil {
			mod(tr)
		}
		apply(tr)
	}
	complete := func(id, base, commit string, m int) {
		move(id, fsm.StateValidating, m, nil)
		move(id, fsm.StatePlanning, m+1, func(tr *fsm.TransitionDeployment) {
			tr.Validation = goldenValidation(t)
		})
		move(id, fsm.StateBackingUp, m+2, func(tr *fsm.TransitionDeployment) {
			tr.Plan, tr.Risk = goldenPlan(t, base, commit), "high"
		})
		apply(&fsm.IssueFencingToken{ID: id})
		move(id, fsm.StateApplying, m+3, func(tr *fsm.TransitionDeployment) { tr.BackupBundleID = "bundle-" + commit })
		move(id, fsm.StatePostValidating, m+4, nil)
		move(id, fsm.StateCompleted, m+5, nil)
	}

	apply(&fsm.ObserveCommit{Environment: "production", Commit: "aaaa1111", Time: at(0)})
	p1 := create("production", "aaaa1111", fsm.KindAuto, false, 1)
	complete(p1, "", "aaaa1111", 2)
	apply(&fsm.ObserveCommit{Environment: "production", Commit: "bbbb2222", Time: at(10)})
	p2 := create("production", "bbbb2222", fsm.KindManualSync, false, 11)
	complete(p2, "aaaa1111", "bbbb2222", 12)
	apply(&fsm.ObserveCommit{Environment: "production", Commit: "cccc3333", Time: at(20)})
	p3 := create("production", "cccc3333", fsm.KindAuto, false, 21)
	move(p3, fsm.StateValidating, 22, nil)
	move(p3, fsm.StatePlanning, 23, func(tr *fsm.TransitionDeployment) {
		tr.Validation = goldenValidation(t)
	})
	move(p3, fsm.StateAwaitingApproval, 24, func(tr *fsm.TransitionDeployment) {
		tr.Plan, tr.Risk = goldenPlan(t, "bbbb2222", "cccc3333"), "high"
		tr.Approval = &fsm.ApprovalRequirement{Required: 2, Groups: []string{"devops-team", "sre"}, Expires: at(24 * 60)}
	})
	apply(&fsm.Approve{ID: p3, Identity: "olga", Groups: []string{"devops-team"}, Time: at(25), Comment: "looks fine"})

	apply(&fsm.ObserveCommit{Environment: "staging", Commit: "dddd4444", Time: at(30)})
	s4 := create("staging", "dddd4444", fsm.KindAuto, false, 31)
	move(s4, fsm.StateValidating, 32, nil)
	move(s4, fsm.StatePlanning, 33, func(tr *fsm.TransitionDeployment) { tr.Validation = goldenValidation(t) })
	move(s4, fsm.StateAwaitingApproval, 34, func(tr *fsm.TransitionDeployment) {
		tr.Plan, tr.Risk = goldenPlan(t, "", "dddd4444"), "high"
		tr.Approval = &fsm.ApprovalRequirement{Required: 1}
	})
	apply(&fsm.Reject{ID: s4, Identity: "alice", Groups: []string{"devops-team"}, Time: at(35), Reason: "not on a friday"})
	s5 := create("staging", "eeee5555", fsm.KindAuto, false, 36)
	move(s5, fsm.StateValidating, 37, nil)
	move(s5, fsm.StatePlanning, 38, func(tr *fsm.TransitionDeployment) { tr.Validation = goldenValidation(t) })
	move(s5, fsm.StateBackingUp, 39, func(tr *fsm.TransitionDeployment) {
		tr.Plan, tr.Risk = goldenPlan(t, "", "eeee5555"), "low"
	})
	apply(&fsm.IssueFencingToken{ID: s5, Above: 1000})
	move(s5, fsm.StateApplying, 40, nil)
	move(s5, fsm.StateFailed, 41, func(tr *fsm.TransitionDeployment) { tr.Error = "target geo-1: 502 bad gateway" })
	apply(&fsm.SetPin{Environment: "staging", Pin: &fsm.Pin{Commit: "dddd4444", From: "eeee5555", By: "alice", Since: at(42)}})

	apply(&fsm.ObserveCommit{Environment: "dev", Commit: "ffff6666", Time: at(50)})
	d6 := create("dev", "ffff6666", fsm.KindAuto, true, 51)
	move(d6, fsm.StateValidating, 52, nil)
	move(d6, fsm.StatePlanning, 53, func(tr *fsm.TransitionDeployment) {
		tr.Validation = goldenValidation(t,
			configrepo.Problem{File: "environments/dev/metadata.json", Line: 12, Column: 7, Path: "layers[1].srid", Message: "must be a positive integer, got -3"},
			configrepo.Problem{File: "environments/dev/datasources.json", Message: "is not valid JSON"})
	})
	move(d6, fsm.StateFailed, 54, func(tr *fsm.TransitionDeployment) { tr.Error = "validation failed" })
	apply(&fsm.RequestSync{Environment: "dev", By: "root", Time: at(55)})

	apply(&fsm.ObserveCommit{Environment: "edge", Commit: "1111aaaa", Time: at(60)})
	e7 := create("edge", "1111aaaa", fsm.KindAuto, false, 61)
	complete(e7, "", "1111aaaa", 62)
	e8 := create("edge", "2222bbbb", fsm.KindAuto, false, 70)
	move(e8, fsm.StateValidating, 71, nil)
	move(e8, fsm.StatePlanning, 72, func(tr *fsm.TransitionDeployment) { tr.Validation = goldenValidation(t) })
	move(e8, fsm.StateBackingUp, 73, func(tr *fsm.TransitionDeployment) {
		tr.Plan, tr.Risk = goldenPlan(t, "1111aaaa", "2222bbbb"), "high"
	})
	apply(&fsm.IssueFencingToken{ID: e8})
	move(e8, fsm.StateApplying, 74, func(tr *fsm.TransitionDeployment) { tr.BackupBundleID = "bundle-1111aaaa" })
	token := apply(&fsm.IssueFencingToken{ID: e8}).(uint64)
	canary := []string{"canary"}
	apply(&fsm.RecordWave{ID: e8, Phase: fsm.WaveApplying, Targets: canary, Token: token, Time: at(74)})
	apply(&fsm.RecordWave{ID: e8, Phase: fsm.WaveBaking, Targets: canary, Token: token, Time: at(74), BakeUntil: at(76),
		Message: "healthy"})
	apply(&fsm.RecordWave{ID: e8, Phase: fsm.WaveBaking, Targets: canary, Token: token, Time: at(74), Round: &fsm.AnalysisRound{
		Time: at(74), Results: []fsm.AnalysisResult{{Check: "error-rate", Target: "canary", Value: 0.25, Status: "failed"}}}})
	apply(&fsm.RecordWave{ID: e8, Phase: fsm.WaveFailed, Targets: canary, Time: at(74), Message: "error-rate of canary = 0.25 (failed)"})
	move(e8, fsm.StateFailed, 75, func(tr *fsm.TransitionDeployment) { tr.Error = "health check failed" })
	move(e8, fsm.StateRollingBack, 76, nil)

	// Only each environment's newest deployment keeps its documents.
	apply(&fsm.SetSettings{HistoryRetention: 100, PlanRetention: 1})

	apply(&fsm.SetSourceStatus{Head: "ffff6666", Time: at(56)})
	apply(&fsm.SetSourceStatus{Error: "fetch: connection refused", Time: at(57)})
	apply(&fsm.SetDrift{Environment: "edge", Deployment: "edge-7", Drifted: true, Targets: []string{"directory /srv/honua/edge"},
		Files: []string{"extra.json", "metadata.json"}, MoreFiles: 3, Time: at(58)})

	f.waiting = p3
	gc := &goldenCluster{leaderCluster: c}
	f.s = NewServer(Config{Cluster: gc, Store: c.tf.f, Tokens: f.s.cfg.Tokens,
		Pipeline:   &fakePipeline{c: c, approvers: []string{"devops-team"}, previous: p1},
		Repository: &RepositoryInfo{URL: "https://git.example.com/config.git", Branch: "main"},
		Keyring:    goldenKeyring{},
		Now:        func() time.Time { return at(60) }})
	srv := httptest.NewServer(f.s)
	t.Cleanup(srv.Close)
	return srv, f
}

// newAPIFixtureTokens is newAPIFixture's tokens over an empty FSM.
func newAPIFixtureTokens(t *testing.T) *apiFixture {
	t.Helper()
	f := newAPIFixture(t)
	f.c = newLeaderCluster(t)
	return f
}

// goldenCall is one request of TestGoldenAnswers.
type goldenCall struct {
	name, who, method, path, body string
	header                        map[string]string
}

// TestGoldenAnswers sends every request the API answers, in an order that
// reaches each answer, and compares each answer's status and body with its
// golden file.
func TestGoldenAnswers(t *testing.T) {
	srv, f := newGoldenServer(t)
	jsonCT := map[string]string{"Content-Type": "application/json"}
	calls := []goldenCall{
		{name: "healthz", method: "GET", path: "/healthz"},
		{name: "readyz-not-ready", method: "GET", path: "/readyz"},
		{name: "status", who: "vera", method: "GET", path: "/v1/status"},
		{name: "members", who: "vera", method: "GET", path: "/v1/cluster/members"},
		{name: "environments", who: "vera", method: "GET", path: "/v1/environments"},
		{name: "environment-production", who: "vera", method: "GET", path: "/v1/environments/production"},
		{name: "environment-staging-pinned", who: "vera", method: "GET", path: "/v1/environments/staging"},
		{name: "environment-edge-current", who: "vera", method: "GET", path: "/v1/environments/edge"},
		{name: "deployment-rolling-back", who: "vera", method: "GET", path: "/v1/deployments/edge-8"},
		{name: "environment-dev-sync-pending", who: "vera", method: "GET", path: "/v1/environments/dev"},
		{name: "history-production", who: "vera", method: "GET", path: "/v1/environments/production/history"},
		{name: "history-production-page", who: "vera", method: "GET", path: "/v1/environments/production/history?limit=1"},
		{name: "history-production-cursor", who: "vera", method: "GET", path: "/v1/environments/production/history?limit=1&cursor=production-3"},
		{name: "history-staging", who: "vera", method: "GET", path: "/v1/environments/staging/history"},
		{name: "deployments", who: "vera", method: "GET", path: "/v1/deployments"},
		{name: "deployments-filtered", who: "vera", method: "GET", path: "/v1/deployments?env=production&state=Completed&limit=1"},
		{name: "deployment-completed", who: "vera", method: "GET", path: "/v1/deployments/production-1"},
		{name: "deployment-awaiting", who: "vera", method: "GET", path: "/v1/deployments/production-3"},
		{name: "deployment-rejected", who: "vera", method: "GET", path: "/v1/deployments/staging-4"},
		{name: "deployment-failed", who: "vera", method: "GET", path: "/v1/deployments/staging-5"},
		{name: "deployment-dry-run-invalid", who: "vera", method: "GET", path: "/v1/deployments/dev-6"},
		{name: "debug-state", who: "root", method: "GET", path: "/v1/debug/state"},
		{name: "whoami", who: "alice", method: "GET", path: "/v1/whoami"},
		{name: "whoami-viewer", who: "vera", method: "GET", path: "/v1/whoami"},
		{name: "approvers-production", who: "vera", method: "GET", path: "/v1/environments/production/approvers"},
		{name: "error-approvers-unknown", who: "vera", method: "GET", path: "/v1/environments/qa/approvers"},
		{name: "keyring", who: "root", method: "GET", path: "/v1/agent/keyring"},
		{name: "keyring-install", who: "root", method: "POST", path: "/v1/agent/keyring", header: jsonCT,
			body: `{"op":"install","key":"` + gossipkey.Encode(bytes.Repeat([]byte{3}, gossipkey.Size)) + `"}`},
		{name: "keyring-use-unchanged", who: "root", method: "POST", path: "/v1/agent/keyring", header: jsonCT,
			body: `{"op":"use","key":"` + gossipkey.Encode(goldenKeys[0]) + `"}`},
		{name: "approve", who: "alice", method: "POST", path: "/v1/deployments/production-3/approve", header: jsonCT,
			body: `{"comment":"ship it"}`},
		{name: "approve-duplicate", who: "alice", method: "POST", path: "/v1/deployments/production-3/approve", header: jsonCT,
			body: `{"comment":"ship it"}`},
		{name: "reject", who: "root", method: "POST", path: "/v1/deployments/production-3/reject", header: jsonCT,
			body: `{"reason":"changed my mind"}`},
		{name: "rollback", who: "alice", method: "POST", path: "/v1/environments/production/rollback", header: jsonCT, body: `{}`},
		{name: "sync", who: "alice", method: "POST", path: "/v1/environments/staging/sync"},
		{name: "environment-production-after", who: "vera", method: "GET", path: "/v1/environments/production"},
		{name: "remove-member", who: "root", method: "DELETE", path: "/v1/cluster/members/node2"},
		{name: "snapshot-save", who: "root", method: "GET", path: "/v1/snapshot"},
		{name: "snapshot-restore", who: "root", method: "POST", path: "/v1/snapshot",
			header: map[string]string{"Content-Type": "application/octet-stream"}, body: fakeBackup("node1")},
		{name: "webhook-generic", method: "POST", path: "/v1/webhooks/generic"},

		{name: "error-no-endpoint", who: "vera", method: "GET", path: "/v1/nothing"},
		{name: "error-webhook-unknown", method: "POST", path: "/v1/webhooks/bitbucket"},
		{name: "error-unauthorized", method: "GET", path: "/v1/status"},
		{name: "error-bad-token", who: "not-a-token", method: "GET", path: "/v1/status"},
		{name: "error-forbidden", who: "vera", method: "POST", path: "/v1/deployments/production-3/approve"},
		{name: "error-deployment-unknown", who: "vera", method: "GET", path: "/v1/deployments/production-99"},
		{name: "error-promote-wrong-state", who: "alice", method: "POST", path: "/v1/deployments/edge-8/promote", header: jsonCT, body: `{}`},
		{name: "error-abort-no-reason", who: "alice", method: "POST", path: "/v1/deployments/edge-8/abort", header: jsonCT, body: `{}`},
		{name: "error-abort-forbidden", who: "vera", method: "POST", path: "/v1/deployments/edge-8/abort", header: jsonCT,
			body: `{"reason":"r"}`},
		{name: "error-environment-unknown", who: "vera", method: "GET", path: "/v1/environments/qa"},
		{name: "error-environment-invalid", who: "vera", method: "GET", path: "/v1/environments/Not_Valid"},
		{name: "error-deployments-limit", who: "vera", method: "GET", path: "/v1/deployments?limit=0"},
		{name: "error-deployments-param", who: "vera", method: "GET", path: "/v1/deployments?colour=red"},
		{name: "error-deployments-state", who: "vera", method: "GET", path: "/v1/deployments?state=Done"},
		{name: "error-history-cursor", who: "vera", method: "GET", path: "/v1/environments/production/history?cursor=gone-1"},
		{name: "error-events-last-id", who: "vera", method: "GET", path: "/v1/events?lastEventId=garbage"},
		{name: "error-approve-wrong-state", who: "alice", method: "POST", path: "/v1/deployments/production-1/approve"},
		{name: "error-approve-unknown-field", who: "alice", method: "POST", path: "/v1/deployments/production-1/approve",
			header: jsonCT, body: `{"comentary":"typo"}`},
		{name: "error-approve-media-type", who: "alice", method: "POST", path: "/v1/deployments/production-1/approve",
			header: map[string]string{"Content-Type": "text/plain"}, body: `{}`},
		{name: "error-reject-no-reason", who: "alice", method: "POST", path: "/v1/deployments/production-1/reject",
			header: jsonCT, body: `{}`},
		{name: "error-rollback-nothing", who: "alice", method: "POST", path: "/v1/environments/production/rollback",
			header: jsonCT, body: `{"to":"nowhere"}`},
		{name: "error-rollback-unknown", who: "alice", method: "POST", path: "/v1/environments/production/rollback",
			header: jsonCT, body: `{"to":"unknown"}`},
		{name: "error-rollback-not-approver", who: "olga", method: "POST", path: "/v1/environments/production/rollback",
			header: jsonCT, body: `{}`},
		{name: "error-remove-leader", who: "root", method: "DELETE", path: "/v1/cluster/members/node1"},
		{name: "error-remove-alive", who: "root", method: "DELETE", path: "/v1/cluster/members/node3"},
		{name: "error-keyring-op", who: "root", method: "POST", path: "/v1/agent/keyring", header: jsonCT,
			body: `{"op":"rotate","key":""}`},
		{name: "error-keyring-remove-primary", who: "root", method: "POST", path: "/v1/agent/keyring", header: jsonCT,
			body: `{"op":"remove","key":"` + gossipkey.Encode(goldenKeys[0]) + `"}`},
		{name: "error-snapshot-bad", who: "root", method: "POST", path: "/v1/snapshot",
			header: map[string]string{"Content-Type": "application/octet-stream"}, body: "not a backup\n"},
	}
	for _, c := range calls {
		h := map[string]string{}
		for k, v := range c.header {
			h[k] = v
		}
		if tok, ok := f.tokens[c.who]; ok {
			h["Authorization"] = "Bearer " + tok
		} else if c.who != "" {
			h["Authorization"] = "Bearer " + c.who
		}
		got := goldenRequest(t, srv, c.method, c.path, c.body, h)
		checkGolden(t, c.name, got)
	}
}

// TestGoldenEvents pins the event stream: every transition of the golden
// state, then one environment's, then a resumption after an event.
func TestGoldenEvents(t *testing.T) {
	srv, f := newGoldenServer(t)
	auth := map[string]string{"Authorization": "Bearer " + f.tokens["vera"]}
	all := len(f.c.tf.f.EventsAfter(fsm.EventID{}, ""))
	staging := len(f.c.tf.f.EventsAfter(fsm.EventID{}, "staging"))
	checkGolden(t, "events", readEvents(t, srv, "/v1/events", auth, all))
	checkGolden(t, "events-staging", readEvents(t, srv, "/v1/events?env=staging", auth, staging))
	first := f.c.tf.f.EventsAfter(fsm.EventID{}, "")
	resume := map[string]string{"Authorization": auth["Authorization"], "Last-Event-ID": first[all-3].ID}
	checkGolden(t, "events-resumed", readEvents(t, srv, "/v1/events", resume, 2))
}

// goldenRequest sends a request over HTTP and renders its answer: status
// line, Content-Type, a blank line and the body.
func goldenRequest(t *testing.T, srv *httptest.Server, method, path, body string, h map[string]string) []byte {
	t.Helper()
	resp, b := roundTrip(t, srv, method, path, body, h)
	return fmt.Appendf(nil, "%s %s\n%d %s\nContent-Type: %s\n\n%s", method, path, resp.StatusCode,
		http.StatusText(resp.StatusCode), resp.Header.Get("Content-Type"), b)
}

// readEvents reads n events of the stream at path, then hangs up. It
// leaves out heartbeats, which come at times no test decides.
func readEvents(t *testing.T, srv *httptest.Server, path string, h map[string]string, n int) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	out := fmt.Appendf(nil, "GET %s\n%d %s\nContent-Type: %s\n\n", path, resp.StatusCode,
		http.StatusText(resp.StatusCode), resp.Header.Get("Content-Type"))
	r := bufio.NewReader(resp.Body)
	for seen := 0; seen < n; {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("GET %s: after %d of %d events: %v", path, seen, n, err)
		}
		if strings.HasPrefix(line, ":") {
			if _, err := r.ReadString('\n'); err != nil { // the blank line after a heartbeat
				t.Fatalf("GET %s: %v", path, err)
			}
			continue
		}
		out = append(out, line...)
		if line == "\n" {
			seen++
		}
	}
	return out
}

// checkGolden compares got with the golden file of name, or rewrites it
// under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(goldenDir, name+".golden")
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v (run go test ./internal/rpc/ -run TestGolden -update to create it)", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("answer %s differs from %s:\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}
