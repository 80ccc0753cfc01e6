package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/test/gitserver"
)

// approveAll has alice and bob of devops-team approve deployment id (the
// test policy's production needs both).
func (pc *pipelineCluster) approveAll(id string) {
	pc.t.Helper()
	for _, who := range []string{"alice", "bob"} {
		if _, err := pc.approve(id, who, "devops-team"); err != nil {
			pc.t.Fatalf("approve %s by %s: %v", id, who, err)
		}
	}
}

// refusedRollback asks for a rollback that must be refused with an error
// wrapping one of want, and checks that it created nothing.
func (pc *pipelineCluster) refusedRollback(env, to string, want ...error) error {
	pc.t.Helper()
	n := pc.historyLen(env)
	d, err := pc.leaderRec().Rollback(context.Background(), env, to, "mallory")
	if err == nil {
		pc.t.Fatalf("Rollback(%s, %q) created %s (kind %s, commit %s); want it refused", env, to, d.ID, d.Kind, short(d.Commit))
	}
	matched := false
	for _, w := range want {
		matched = matched || errors.Is(err, w)
	}
	if !matched {
		pc.t.Fatalf("Rollback(%s, %q) = %v; want an error wrapping one of %v", env, to, err, want)
	}
	if got := pc.historyLen(env); got != n {
		pc.t.Fatalf("Rollback(%s, %q) was refused but %s has %d deployments (%d before)", env, to, env, got, n)
	}
	return err
}

// TestRollbackGoesOnlyToACompletedDeployment: one approver cannot deploy a
// commit that waits for approval, or one that was rejected, by "rolling
// back" to it: a rollback goes only to a Completed deployment of the
// environment, named by its id or its commit.
func TestRollbackGoesOnlyToACompletedDeployment(t *testing.T) {
	repo := gitserver.NewRepo(t)
	c0 := repo.Commit(merge(envFiles("production", points), envFiles("staging", points),
		map[string]string{policyPath: testPolicy}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1})
	d0 := pc.deploymentOf("production", c0, fsm.StateAwaitingApproval)
	pc.approveAll(d0.ID)
	pc.deploymentOf("production", c0, fsm.StateCompleted)
	c1 := pc.commit(envFiles("production", points, roads), "roads (low risk: no approval)")
	pc.deploymentOf("production", c1, fsm.StateCompleted)

	// A commit that loosens production's policy is rejected; the next
	// one waits for approval.
	rejected := pc.commit(map[string]string{policyPath: loosenedPolicy}, "no more approvals in production")
	dr := pc.deploymentOf("production", rejected, fsm.StateAwaitingApproval)
	if _, err := pc.Apply(&fsm.Reject{ID: dr.ID, Identity: "alice", Groups: []string{"devops-team"},
		Time: pc.clock.Now(), Reason: "no"}); err != nil {
		t.Fatal(err)
	}
	waiting := pc.commit(envFiles("production", points), "drop roads")
	dw := pc.deploymentOf("production", waiting, fsm.StateAwaitingApproval)
	// A commit that never made a deployment of production.
	stagingOnly := pc.commit(envFiles("staging", points, roads), "staging only")
	pc.deploymentOf("staging", stagingOnly, fsm.StateCompleted)

	for _, tc := range []struct{ name, to string }{
		{"the rejected deployment's commit", rejected},
		{"the rejected deployment's commit, abbreviated", rejected[:12]},
		{"the rejected deployment's id", dr.ID},
		{"the waiting deployment's commit", waiting},
		{"the waiting deployment's id", dw.ID},
		{"a commit never deployed to production", stagingOnly},
		{"a deployment of another environment", pc.deploymentOf("staging", stagingOnly, fsm.StateCompleted).ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := pc.refusedRollback("production", tc.to, fsm.ErrWrongState, fsm.ErrInvalid, ErrUnknownTarget)
			if !strings.Contains(err.Error(), "Completed") {
				t.Errorf("Rollback error %q does not say that only a Completed deployment may be rolled back to", err)
			}
		})
	}
	if d, _ := pc.Leader().FSM.Deployment(dw.ID); d.State != fsm.StateAwaitingApproval {
		t.Errorf("the waiting deployment is %s after the refused rollbacks; want it still AwaitingApproval", d.State)
	}

	// The FSM holds the same rule whoever proposes the command.
	for _, to := range []string{dr.ID, dw.ID} {
		if _, err := pc.Apply(&fsm.CreateRollback{Environment: "production", To: to, Initiator: "mallory",
			Time: pc.clock.Now()}); !errors.Is(err, fsm.ErrWrongState) {
			t.Errorf("Apply(CreateRollback to %s) = %v; want ErrWrongState", to, err)
		}
	}
	if _, err := pc.Apply(&fsm.CreateDeployment{Environment: "production", Commit: rejected, Kind: fsm.KindRollback,
		Initiator: "mallory", Time: pc.clock.Now()}); !errors.Is(err, fsm.ErrInvalid) {
		t.Errorf("Apply(CreateDeployment of kind rollback) = %v; want ErrInvalid", err)
	}

	// A Completed deployment, by id or by commit, is a rollback target.
	rb := pc.rollback("production", c0[:10], "alice")
	if rb.Kind != fsm.KindRollback || rb.Commit != c0 || rb.RollbackTo != d0.ID {
		t.Fatalf("rollback = kind %s commit %s to %q; want a rollback to %s (%s)", rb.Kind, short(rb.Commit), rb.RollbackTo, d0.ID, short(c0))
	}
}

// TestFirstDeploymentCannotLoosenTheGate: while nothing is deployed, the
// policy that gated an environment's first deployment stays in force, so
// a commit after a rejected first deployment cannot turn approvals off.
func TestFirstDeploymentCannotLoosenTheGate(t *testing.T) {
	repo := gitserver.NewRepo(t)
	c0 := repo.Commit(merge(envFiles("production", points), map[string]string{policyPath: testPolicy}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1})
	d0 := pc.deploymentOf("production", c0, fsm.StateAwaitingApproval)
	if _, err := pc.Apply(&fsm.Reject{ID: d0.ID, Identity: "alice", Groups: []string{"devops-team"},
		Time: pc.clock.Now(), Reason: "not yet"}); err != nil {
		t.Fatal(err)
	}
	c1 := pc.commit(map[string]string{policyPath: loosenedPolicy}, "no more approvals in production")
	d1 := pc.deploymentOf("production", c1, fsm.StateAwaitingApproval)
	if d1.Approval == nil || d1.Approval.Required != 2 {
		t.Fatalf("the second first deployment waits for %+v; want the 2 approvals of the policy that gated the first", d1.Approval)
	}
	if msg := lastMessage(d1); !strings.Contains(msg, short(c0)) {
		t.Errorf("message %q does not name the commit whose policy is in force (%s)", msg, short(c0))
	}
}

// TestPinHoldsUntilTheEnvironmentChanges: a failed commit rolled back on
// its own, then a manual rollback while the branch still holds the failed
// commit: a commit that touches only another environment leaves the pin
// and does not send the failed change back into the pipeline; a commit
// that changes the environment does.
func TestPinHoldsUntilTheEnvironmentChanges(t *testing.T) {
	repo := gitserver.NewRepo(t)
	c0 := repo.Commit(merge(envFiles("staging", points), envFiles("development", points),
		map[string]string{policyPath: quickHealthPolicy}), "initial")
	path := filepath.Join(t.TempDir(), "staging")
	// The server is unhealthy while it serves a bundle with a parcels
	// layer.
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := os.ReadFile(filepath.Join(path, "metadata.json"))
		if bytes.Contains(b, []byte("parcels")) {
			http.Error(w, "parcels table missing", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer health.Close()
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1, envs: map[string]EnvironmentSettings{
		"staging": {Targets: []TargetSpec{{Target: dirTarget(t, path), HealthChecks: []string{health.URL + "/healthz"}}}},
	}})
	d0 := pc.deploymentOf("staging", c0, fsm.StateCompleted)
	c1 := pc.commit(envFiles("staging", points, roads), "roads")
	pc.deploymentOf("staging", c1, fsm.StateCompleted)
	bad := pc.commit(envFiles("staging", points, roads, layer{ID: "parcels", SRID: 4326}), "parcels, but the table is missing")
	dBad := pc.deploymentOf("staging", bad, fsm.StateRolledBack)

	// A deployment that rolled back is no rollback target.
	err := pc.refusedRollback("staging", dBad.ID, fsm.ErrWrongState)
	if !strings.Contains(err.Error(), "RolledBack") {
		t.Errorf("Rollback error %q does not say the deployment rolled back", err)
	}
	pc.refusedRollback("staging", bad, fsm.ErrWrongState, ErrUnknownTarget)

	pc.rollback("staging", d0.ID, "alice")
	pc.WaitForState("staging back on c0", func(f *fsm.FSM) error {
		if e, _ := f.Environment("staging"); e.DeployedCommit != c0 || e.Current != "" || e.Waiting != "" {
			return fmt.Errorf("deployed %s, current %q, waiting %q", short(e.DeployedCommit), e.Current, e.Waiting)
		}
		return nil
	})
	e, _ := pc.Leader().FSM.Environment("staging")
	if e.Pin == nil || e.Pin.Commit != c0 || e.Pin.From != bad {
		t.Fatalf("pin = %+v; want pinned to %s from %s, the commit the branch holds", e.Pin, short(c0), short(bad))
	}
	n := pc.historyLen("staging")
	dev := pc.commit(envFiles("development", points, roads), "development only")
	pc.deploymentOf("development", dev, fsm.StateCompleted)
	e, _ = pc.Leader().FSM.Environment("staging")
	if e.DeployedCommit != c0 || e.Pin == nil || pc.historyLen("staging") != n {
		t.Fatalf("after a development-only commit staging has deployed %s, pin %+v, %d deployments (%d before); want c0, pinned, none new",
			short(e.DeployedCommit), e.Pin, pc.historyLen("staging"), n)
	}
	fix := pc.commit(envFiles("staging", points, roads, layer{ID: "lakes", SRID: 4326}), "lakes instead of parcels")
	pc.deploymentOf("staging", fix, fsm.StateCompleted)
	if e, _ := pc.Leader().FSM.Environment("staging"); e.Pin != nil {
		t.Errorf("still pinned after a commit that changed staging: %+v", e.Pin)
	}
}
