package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/target"
	"github.com/honua-io/honua-gitops/test/gitserver"
)

// dirTarget returns a directory target serving at dir/<env>.
func dirTarget(t *testing.T, path string) Target {
	t.Helper()
	tg, err := target.New(target.Config{Type: "directory", Path: path})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// served reads the manifest a directory target serves.
func served(t *testing.T, path string) target.Manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(path, ".honua", "deployment.json"))
	if err != nil {
		t.Fatalf("read the served manifest: %v", err)
	}
	var m target.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func statesOf(d *fsm.Deployment) []fsm.DeploymentState {
	var out []fsm.DeploymentState
	for _, tr := range d.Transitions {
		out = append(out, tr.To)
	}
	return out
}

// TestDeployToDirectory: a development change goes through every state to
// Completed, and the target serves exactly the repository's metadata.json.
func TestDeployToDirectory(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(merge(envFiles("development", points), map[string]string{
		policyPath: testPolicy, "environments/common/shared-config.json": `{"cache": 60}`,
	}), "initial")
	path := filepath.Join(t.TempDir(), "development")
	pc := startPipeline(t, repo, pipelineOptions{envs: map[string]EnvironmentSettings{
		"development": {Targets: []TargetSpec{{Target: dirTarget(t, path)}}},
	}})
	pc.deploymentOf("development", repo.Head(), fsm.StateCompleted)

	files := envFiles("development", points, roads)
	c := pc.commit(files, "add roads")
	d := pc.deploymentOf("development", c, fsm.StateCompleted)
	want := []fsm.DeploymentState{fsm.StatePending, fsm.StateValidating, fsm.StatePlanning, fsm.StateBackingUp,
		fsm.StateApplying, fsm.StatePostValidating, fsm.StateCompleted}
	if got := statesOf(d); !slices.Equal(got, want) {
		t.Errorf("states = %v; want %v", got, want)
	}
	got, err := os.ReadFile(filepath.Join(path, "metadata.json"))
	if err != nil || !bytes.Equal(got, []byte(files["environments/development/metadata.json"])) {
		t.Errorf("served metadata.json is not byte-identical to the repository's (err %v)", err)
	}
	if _, err := os.Stat(filepath.Join(path, "shared-config.json")); err != nil {
		t.Errorf("shared-config.json is not in the bundle: %v", err)
	}
	m := served(t, path)
	if m.DeploymentID != d.ID || m.Commit != c || m.FencingToken != d.FencingToken || m.FencingToken == 0 {
		t.Errorf("served manifest = %+v; want deployment %s at %s with token %d", m, d.ID, short(c), d.FencingToken)
	}
	if d.Backup == nil || d.Backup.Commit == "" || !strings.Contains(d.Backup.BundleID, d.Backup.DeploymentID) {
		t.Errorf("backup = %+v; want the previous deployment recorded", d.Backup)
	}
	if e, _ := pc.Leader().FSM.Environment("development"); e.DeployedCommit != c {
		t.Errorf("deployed commit = %s; want %s", short(e.DeployedCommit), short(c))
	}
}

// TestFailingHealthCheckRollsBack: a deployment whose health check never
// passes fails and rolls back on its own; the old bundle serves again.
func TestFailingHealthCheckRollsBack(t *testing.T) {
	repo := gitserver.NewRepo(t)
	good := repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: quickHealthPolicy}), "initial")
	path := filepath.Join(t.TempDir(), "staging")
	// The server is unhealthy while it serves a bundle with the roads
	// layer.
	var checks atomic.Int32
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		checks.Add(1)
		b, _ := os.ReadFile(filepath.Join(path, "metadata.json"))
		if bytes.Contains(b, []byte("roads")) {
			http.Error(w, "roads table missing", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer health.Close()
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1, envs: map[string]EnvironmentSettings{
		"staging": {Targets: []TargetSpec{{Target: dirTarget(t, path), HealthChecks: []string{health.URL + "/healthz"}}}},
	}})
	pc.deploymentOf("staging", good, fsm.StateCompleted)

	bad := pc.commit(envFiles("staging", points, roads), "roads, but the table is missing")
	d := pc.deploymentOf("staging", bad, fsm.StateRolledBack)
	want := []fsm.DeploymentState{fsm.StatePending, fsm.StateValidating, fsm.StatePlanning, fsm.StateBackingUp,
		fsm.StateApplying, fsm.StatePostValidating, fsm.StateFailed, fsm.StateRollingBack, fsm.StateRolledBack}
	if got := statesOf(d); !slices.Equal(got, want) {
		t.Errorf("states = %v; want %v", got, want)
	}
	if !strings.Contains(d.Error, "roads table missing") && !strings.Contains(d.Error, "503") {
		t.Errorf("error %q does not say why the health check failed", d.Error)
	}
	if m := served(t, path); m.Commit != good {
		t.Errorf("target serves %s after the rollback; want the good commit %s", short(m.Commit), short(good))
	}
	if e, _ := pc.Leader().FSM.Environment("staging"); e.DeployedCommit != good {
		t.Errorf("deployed commit = %s; want %s", short(e.DeployedCommit), short(good))
	}
}

// TestManualRollbackPinsUntilTheNextCommit: a rollback to the previous
// deployment pins the environment; polling the same head does not redeploy
// it; the next commit touching it deploys and unpins.
func TestManualRollbackPinsUntilTheNextCommit(t *testing.T) {
	repo := gitserver.NewRepo(t)
	first := repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "initial")
	path := filepath.Join(t.TempDir(), "staging")
	pc := startPipeline(t, repo, pipelineOptions{envs: map[string]EnvironmentSettings{
		"staging": {Targets: []TargetSpec{{Target: dirTarget(t, path)}}},
	}})
	firstDeploy := pc.deploymentOf("staging", first, fsm.StateCompleted)
	second := pc.commit(envFiles("staging", points, roads), "add roads")
	pc.deploymentOf("staging", second, fsm.StateCompleted)

	rb := pc.rollback("staging", "", "alice")
	if rb.Kind != fsm.KindRollback || rb.Commit != first || rb.Initiator != "alice" {
		t.Fatalf("rollback deployment = %+v; want kind rollback to %s by alice", rb, short(first))
	}
	d := pc.deploymentOf("staging", first, fsm.StateCompleted)
	if d.ID != rb.ID {
		// deploymentOf finds the newest deployment of the commit.
		t.Fatalf("found %s; want the rollback %s", d.ID, rb.ID)
	}
	e, _ := pc.Leader().FSM.Environment("staging")
	if e.Pin == nil || e.Pin.Commit != first || e.Pin.From != second || e.DeployedCommit != first {
		t.Fatalf("environment = pin %+v, deployed %s; want pinned to %s from %s", e.Pin, short(e.DeployedCommit), short(first), short(second))
	}
	if m := served(t, path); m.Commit != first {
		t.Errorf("target serves %s; want %s", short(m.Commit), short(first))
	}
	// Polling the same head changes nothing while pinned.
	n := pc.historyLen("staging")
	pc.pollNow()
	pc.WaitForState("a poll", func(f *fsm.FSM) error { return nil })
	if got := pc.historyLen("staging"); got != n {
		t.Errorf("a poll of the rolled-back-from head created a deployment (%d → %d)", n, got)
	}
	// Rolling back to an unknown target or to what is deployed is refused.
	for _, to := range []string{"nope", first, firstDeploy.ID} {
		if _, err := pc.leaderRec().Rollback(context.Background(), "staging", to, "alice"); err == nil {
			t.Errorf("Rollback(staging, %q) = nil; want an error", to)
		}
	}
	third := pc.commit(envFiles("staging", points, roads, layer{ID: "parcels", SRID: 4326}), "add parcels")
	pc.deploymentOf("staging", third, fsm.StateCompleted)
	if e, _ := pc.Leader().FSM.Environment("staging"); e.Pin != nil {
		t.Errorf("still pinned after a new commit: %+v", e.Pin)
	}
}

// leaderRec returns the leader's reconciler.
func (pc *pipelineCluster) leaderRec() *Reconciler {
	leader := pc.Leader()
	for i, n := range pc.Nodes() {
		if n == leader {
			return pc.recs[i]
		}
	}
	pc.t.Fatal("no leader")
	return nil
}

// rollback asks the leader to roll env back to to.
func (pc *pipelineCluster) rollback(env, to, by string) *fsm.Deployment {
	pc.t.Helper()
	d, err := pc.leaderRec().Rollback(context.Background(), env, to, by)
	if err != nil {
		pc.t.Fatalf("Rollback(%s, %q): %v", env, to, err)
	}
	return d
}

// blockingTarget applies only when released, and records what it got.
type blockingTarget struct {
	entered chan string // the deployment id of each apply that started
	release chan struct{}
	applied atomic.Value // string: last applied deployment
}

func (b *blockingTarget) String() string { return "blocking test target" }
func (b *blockingTarget) Apply(ctx context.Context, bundle *target.Bundle) error {
	select {
	case b.entered <- bundle.Manifest.DeploymentID:
	default:
	}
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.applied.Store(bundle.Manifest.DeploymentID)
	return nil
}

// TestNewLeaderResumesAnApplyingDeployment: the leader stops while a
// deployment is Applying; the next leader applies it again, with a higher
// fencing token, and completes it.
func TestNewLeaderResumesAnApplyingDeployment(t *testing.T) {
	repo := gitserver.NewRepo(t)
	c := repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "initial")
	bt := &blockingTarget{entered: make(chan string, 8), release: make(chan struct{})}
	pc := startPipeline(t, repo, pipelineOptions{envs: map[string]EnvironmentSettings{
		"staging": {Targets: []TargetSpec{{Target: bt}}},
	}})
	d := pc.deploymentOf("staging", c, fsm.StateApplying)
	<-bt.entered
	first := pc.Leader()
	tokenBefore := first.FSM.LastFencingToken()
	pc.Stop(first)
	close(bt.release) // the new leader's apply goes through
	d = pc.deploymentOf("staging", c, fsm.StateCompleted)
	if d.FencingToken <= tokenBefore {
		t.Errorf("completed with fencing token %d; want more than the first leader's %d", d.FencingToken, tokenBefore)
	}
	if got, _ := bt.applied.Load().(string); got != d.ID {
		t.Errorf("target applied %q; want %s", got, d.ID)
	}
	_ = fmt.Sprint
}

// TestSecondRollbackKeepsThePin: rolling back twice in a row pins the
// environment from the commit the branch still holds, so an unrelated
// commit does not bring that commit back.
func TestSecondRollbackKeepsThePin(t *testing.T) {
	repo := gitserver.NewRepo(t)
	c0 := repo.Commit(merge(envFiles("staging", points), envFiles("development", points),
		map[string]string{policyPath: testPolicy}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1})
	pc.deploymentOf("staging", c0, fsm.StateCompleted)
	c1 := pc.commit(envFiles("staging", points, roads), "roads")
	pc.deploymentOf("staging", c1, fsm.StateCompleted)
	c2 := pc.commit(envFiles("staging", points, roads, layer{ID: "parcels", SRID: 4326}), "parcels")
	pc.deploymentOf("staging", c2, fsm.StateCompleted)

	pc.rollback("staging", c1, "alice")
	pc.WaitForState("staging back on c1", func(f *fsm.FSM) error {
		if e, _ := f.Environment("staging"); e.DeployedCommit != c1 {
			return fmt.Errorf("deployed %s", short(e.DeployedCommit))
		}
		return nil
	})
	pc.rollback("staging", c0, "alice")
	pc.WaitForState("staging back on c0", func(f *fsm.FSM) error {
		if e, _ := f.Environment("staging"); e.DeployedCommit != c0 {
			return fmt.Errorf("deployed %s", short(e.DeployedCommit))
		}
		return nil
	})
	e, _ := pc.Leader().FSM.Environment("staging")
	if e.Pin == nil || e.Pin.From != c2 {
		t.Fatalf("pin = %+v; want pinned from %s, the commit the branch still holds", e.Pin, short(c2))
	}
	n := pc.historyLen("staging")
	dev := pc.commit(envFiles("development", points, roads), "development only")
	pc.deploymentOf("development", dev, fsm.StateCompleted)
	e, _ = pc.Leader().FSM.Environment("staging")
	if e.DeployedCommit != c0 || e.Pin == nil || pc.historyLen("staging") != n {
		t.Errorf("after a development-only commit staging has deployed %s, pin %+v, %d deployments (%d before); want c0, pinned, none new",
			short(e.DeployedCommit), e.Pin, pc.historyLen("staging"), n)
	}
}
