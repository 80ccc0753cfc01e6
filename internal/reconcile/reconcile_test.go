package reconcile

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/test/gitserver"
)

// TestPipelineOnCluster walks the front of the pipeline on a three-node
// cluster: first deployments, a production-only change waiting for two
// approvals, a rejection, and a newer commit superseding a waiting one.
func TestPipelineOnCluster(t *testing.T) {
	repo := gitserver.NewRepo(t)
	first := repo.Commit(merge(envFiles("development", points, roads), envFiles("staging", points, roads),
		envFiles("production", points, roads), map[string]string{policyPath: testPolicy}), "initial configuration")
	pc := startPipeline(t, repo, pipelineOptions{})

	// Every environment gets a first deployment. Development and staging
	// never need approval; production's first deployment adds a data
	// source (high risk), so it waits for two approvals.
	for _, env := range []string{"development", "staging"} {
		d := pc.deploymentOf(env, first, fsm.StateCompleted)
		if d.Kind != fsm.KindAuto || d.Initiator != "git-watcher" {
			t.Errorf("%s: kind %s by %s; want auto by git-watcher", env, d.Kind, d.Initiator)
		}
	}
	prod := pc.deploymentOf("production", first, fsm.StateAwaitingApproval)
	if rec := planOf(t, prod); rec.BaseCommit != "" || rec.Added == 0 || rec.Removed != 0 {
		t.Errorf("first production plan = %+v; want everything added against nothing", rec)
	}
	for _, who := range []string{"alice", "bob"} {
		if _, err := pc.approve(prod.ID, who, "devops-team"); err != nil {
			t.Fatal(err)
		}
	}
	pc.deploymentOf("production", first, fsm.StateCompleted)

	// A commit touching only production, removing a layer (breaking):
	// one deployment, in production, waiting for two approvals from
	// devops-team.
	before := map[string]int{"development": pc.historyLen("development"), "staging": pc.historyLen("staging")}
	second := pc.commit(envFiles("production", points), "drop roads from production")
	d := pc.deploymentOf("production", second, fsm.StateAwaitingApproval)
	if d.Approval == nil || d.Approval.Required != 2 || len(d.Approval.Groups) != 1 || d.Approval.Groups[0] != "devops-team" {
		t.Errorf("approval requirement = %+v; want 2 from devops-team", d.Approval)
	}
	if d.Approval != nil && !d.Approval.Expires.Equal(pc.clock.Now().Add(time.Hour)) {
		t.Errorf("approval expires %v; want an hour after %v", d.Approval.Expires, pc.clock.Now())
	}
	rec := planOf(t, d)
	if rec.BaseCommit != first || rec.Risk.String() != "medium" || !rec.Breaking || rec.Removed != 1 {
		t.Errorf("plan = %+v; want against %s, medium, breaking, one removal", rec, short(first))
	}
	if d.Risk != "medium" {
		t.Errorf("deployment risk = %q; want medium", d.Risk)
	}
	for env, n := range before {
		if got := pc.historyLen(env); got != n {
			t.Errorf("%s has %d deployments after a production-only commit; want %d", env, got, n)
		}
	}

	// Two distinct approvers clear it; the same one twice counts once and
	// someone outside the approver groups is refused.
	if res, err := pc.approve(d.ID, "alice", "devops-team"); err != nil || res.Duplicate {
		t.Fatalf("first approval = %+v, %v", res, err)
	}
	if res, err := pc.approve(d.ID, "alice", "devops-team"); err != nil || !res.Duplicate {
		t.Fatalf("alice approving again = %+v, %v; want a duplicate", res, err)
	}
	if _, err := pc.approve(d.ID, "mallory", "interns"); !errors.Is(err, fsm.ErrNotAllowed) {
		t.Fatalf("approval from outside the approver groups = %v; want ErrNotAllowed", err)
	}
	pc.deploymentOf("production", second, fsm.StateAwaitingApproval)
	if _, err := pc.approve(d.ID, "bob", "devops-team"); err != nil {
		t.Fatal(err)
	}
	cleared := pc.deploymentOf("production", second, fsm.StateCompleted)
	if len(cleared.Approvals) != 2 {
		t.Errorf("cleared with %d approvals; want 2", len(cleared.Approvals))
	}

	// One rejection ends a deployment.
	third := pc.commit(envFiles("production", layer{ID: "sample-points", SRID: 3857}), "reproject points")
	d = pc.deploymentOf("production", third, fsm.StateAwaitingApproval)
	if planOf(t, d).Risk.String() != "high" {
		t.Errorf("srid change risk = %v; want high", planOf(t, d).Risk)
	}
	if _, err := pc.Apply(&fsm.Reject{ID: d.ID, Identity: "carol", Groups: []string{"devops-team"},
		Time: pc.clock.Now(), Reason: "not during the migration"}); err != nil {
		t.Fatal(err)
	}
	d = pc.deploymentOf("production", third, fsm.StateRejected)
	if d.Rejection == nil || d.Rejection.Identity != "carol" {
		t.Errorf("rejection = %+v; want carol's", d.Rejection)
	}

	// A newer commit supersedes the waiting one: only the newest proceeds.
	fourth := pc.commit(envFiles("production", layer{ID: "sample-points", SRID: 3857}, roads), "reproject and restore roads")
	waiting := pc.deploymentOf("production", fourth, fsm.StateAwaitingApproval)
	fifth := pc.commit(envFiles("production", layer{ID: "sample-points", SRID: 3857}, roads, layer{ID: "parcels", SRID: 4326}), "add parcels")
	newest := pc.deploymentOf("production", fifth, fsm.StateAwaitingApproval)
	old := pc.deploymentOf("production", fourth, fsm.StateSuperseded)
	if !strings.Contains(lastMessage(old), newest.ID) {
		t.Errorf("superseded message %q does not name %s", lastMessage(old), newest.ID)
	}
	_ = waiting
}

// TestValidationFailureListsEveryProblem: an invalid commit fails in
// Validating with all its problems, with file, line and column.
func TestValidationFailureListsEveryProblem(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1})
	pc.deploymentOf("staging", repo.Head(), fsm.StateCompleted)

	bad := `{
  "services": [{"id": "test-service", "title": "T", "dataSourceId": "missing-db"}],
  "layers": [
    {"id": "a", "serviceId": "nope", "geometryType": "Blob", "srid": -1}
  ]
}
`
	c := pc.commit(map[string]string{"environments/staging/metadata.json": bad}, "break staging")
	d := pc.deploymentOf("staging", c, fsm.StateFailed)
	for _, want := range []string{"missing-db", "nope", "Blob", "srid"} {
		if !strings.Contains(d.Error, want) {
			t.Errorf("error %q does not mention %s", d.Error, want)
		}
	}
	if !strings.Contains(d.Error, "environments/staging/metadata.json:") {
		t.Errorf("error %q does not name the file with a position", d.Error)
	}
	if !strings.Contains(string(d.Validation.JSON()), `"line"`) {
		t.Errorf("validation %s has no positions", d.Validation)
	}
}

// TestUnchangedEnvironmentsGetNoDeployment: a commit that touches no
// environment creates nothing; a commit to common touches them all.
func TestUnchangedEnvironmentsGetNoDeployment(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(merge(envFiles("staging", points), envFiles("development", points),
		map[string]string{policyPath: testPolicy}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1})
	for _, env := range []string{"staging", "development"} {
		pc.deploymentOf(env, repo.Head(), fsm.StateCompleted)
	}
	readme := pc.commit(map[string]string{"README.md": "docs only\n"}, "docs")
	pc.WaitForState("the docs commit to be seen", func(f *fsm.FSM) error {
		if e, _ := f.Environment("staging"); e.LatestSeenCommit != readme {
			return fmt.Errorf("latest seen %s", short(e.LatestSeenCommit))
		}
		return nil
	})
	for _, env := range []string{"staging", "development"} {
		if n := pc.historyLen(env); n != 1 {
			t.Errorf("%s has %d deployments after a docs-only commit; want 1", env, n)
		}
	}
	common := pc.commit(map[string]string{"environments/common/shared-config.json": `{"cacheSeconds": 60}`}, "shared config")
	for _, env := range []string{"staging", "development"} {
		pc.deploymentOf(env, common, fsm.StateCompleted)
	}
}

// TestDryRun: a dry-run environment is validated and planned, and stops.
func TestDryRun(t *testing.T) {
	repo := gitserver.NewRepo(t)
	c := repo.Commit(merge(envFiles("staging", points), envFiles("development", points),
		map[string]string{policyPath: testPolicy}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1, adjust: func(cfg *Config) {
		cfg.Environments = map[string]EnvironmentSettings{"staging": {DryRun: true}}
	}})
	d := pc.deploymentOf("staging", c, fsm.StatePlanning)
	if !d.DryRun || !strings.Contains(lastMessage(d), "dry run") || planOf(t, d).Plan == nil {
		t.Errorf("dry-run deployment = %+v; want a recorded plan and a dry-run message", d)
	}
	pc.deploymentOf("development", c, fsm.StateCompleted)
	// It stays in Planning: poke the pipeline and check again.
	pc.pollNow()
	if d2, _ := pc.Leader().FSM.Deployment(d.ID); d2.State != fsm.StatePlanning {
		t.Errorf("dry-run deployment moved on to %s", d2.State)
	}
}

// TestDeploymentWindow: a cleared deployment outside its window waits in
// Scheduled and proceeds by itself when the window opens.
func TestDeploymentWindow(t *testing.T) {
	repo := gitserver.NewRepo(t)
	c := repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: windowPolicy}), "initial")
	// Wednesday 2026-11-25 23:00 UTC is 18:00 in New York: closed until
	// Thursday 09:00 EST (14:00 UTC).
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1, startAt: time.Date(2026, 11, 25, 23, 0, 0, 0, time.UTC)})
	d := pc.deploymentOf("staging", c, fsm.StateScheduled)
	if msg := lastMessage(d); !strings.Contains(msg, "outside") || !strings.Contains(msg, "2026-11-26T14:00:00Z") {
		t.Errorf("scheduled message %q; want it outside the window, proceeding at 2026-11-26T14:00:00Z", msg)
	}
	pc.clock.Set(time.Date(2026, 11, 26, 13, 59, 0, 0, time.UTC))
	pc.wake()
	pc.clock.Set(time.Date(2026, 11, 26, 14, 0, 1, 0, time.UTC))
	pc.wake()
	pc.deploymentOf("staging", c, fsm.StateCompleted)
}

// TestApprovalExpires: a deployment nobody approves in time fails.
func TestApprovalExpires(t *testing.T) {
	repo := gitserver.NewRepo(t)
	c := repo.Commit(merge(envFiles("production", points), map[string]string{policyPath: testPolicy}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1})
	d := pc.deploymentOf("production", c, fsm.StateAwaitingApproval)
	pc.clock.Set(d.Approval.Expires.Add(time.Second))
	pc.wake()
	d = pc.deploymentOf("production", c, fsm.StateFailed)
	if d.Error != "approval expired" {
		t.Errorf("error = %q; want approval expired", d.Error)
	}
}

// TestSyncDeploysEvenWithoutChange: a sync request makes a manual-sync
// deployment of the head, by the requester, though nothing changed.
func TestSyncDeploysEvenWithoutChange(t *testing.T) {
	repo := gitserver.NewRepo(t)
	c := repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1})
	pc.deploymentOf("staging", c, fsm.StateCompleted)
	if _, err := pc.Apply(&fsm.RequestSync{Environment: "staging", By: "alice", Time: pc.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	pc.WaitForState("a manual-sync deployment", func(f *fsm.FSM) error {
		h := f.History("staging")
		if len(h) != 2 || h[0].Kind != fsm.KindManualSync || h[0].Initiator != "alice" || h[0].Commit != c {
			return fmt.Errorf("history %d deployments, newest %+v", len(h), h[0])
		}
		if e, _ := f.Environment("staging"); e.PendingSync != nil {
			return fmt.Errorf("sync still pending")
		}
		return nil
	})
}

// TestRepositoryGoesAway: an unreachable remote shows in every node's
// status and in the metrics while the cluster keeps serving, and clears
// when the remote returns.
func TestRepositoryGoesAway(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "initial")
	daemon := gitserver.StartDaemon(t, repo.Root())
	pc := startPipeline(t, repo, pipelineOptions{url: daemon.URL(repo.Name())})
	pc.deploymentOf("staging", repo.Head(), fsm.StateCompleted)

	daemon.Stop()
	pc.pollNow()
	pc.WaitForState("the repository error to be replicated", func(f *fsm.FSM) error {
		src := f.Source()
		if src.Error == "" || !strings.Contains(src.Error, daemon.Addr()) {
			return fmt.Errorf("source = %+v", src)
		}
		return nil
	})
	leader := pc.Leader()
	var i int
	for i = range pc.Nodes() {
		if pc.Nodes()[i] == leader {
			break
		}
	}
	if n := testutil.ToFloat64(pc.recs[i].metrics.gitRequests.WithLabelValues("ls-remote", "error")); n < 1 {
		t.Errorf("honua_git_requests_total{op=ls-remote,result=error} = %v on the leader; want at least 1", n)
	}
	// The cluster keeps serving writes.
	if _, err := pc.Apply(&fsm.ObserveCommit{Environment: "staging", Commit: "still-serving", Time: pc.clock.Now()}); err != nil {
		t.Fatal(err)
	}

	daemon.Start()
	next := repo.Commit(envFiles("staging", points, roads), "add roads")
	pc.pollNow()
	pc.WaitForState("the repository to recover", func(f *fsm.FSM) error {
		if src := f.Source(); src.Error != "" || src.Head != next {
			return fmt.Errorf("source = %+v", src)
		}
		return nil
	})
	pc.deploymentOf("staging", next, fsm.StateCompleted)
}

// TestPolicyChangeNeedsApprovalUnderTheOldPolicy: a commit cannot loosen
// its own gate. Turning production's approvals off still waits for the
// approvals the deployed policy asks for.
func TestPolicyChangeNeedsApprovalUnderTheOldPolicy(t *testing.T) {
	repo := gitserver.NewRepo(t)
	first := repo.Commit(merge(envFiles("production", points), envFiles("staging", points),
		map[string]string{policyPath: testPolicy}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1})
	d := pc.deploymentOf("production", first, fsm.StateAwaitingApproval)
	for _, who := range []string{"alice", "bob"} {
		if _, err := pc.approve(d.ID, who, "devops-team"); err != nil {
			t.Fatal(err)
		}
	}
	pc.deploymentOf("production", first, fsm.StateCompleted)
	pc.deploymentOf("staging", first, fsm.StateCompleted)

	c := pc.commit(map[string]string{policyPath: loosenedPolicy}, "no more approvals in production")
	d = pc.deploymentOf("production", c, fsm.StateAwaitingApproval)
	if rec := planOf(t, d); !rec.PolicyChanged || rec.Risk.String() != "high" {
		t.Errorf("plan = %+v; want the policy change rated high", rec)
	}
	if msg := lastMessage(d); !strings.Contains(msg, "policy") || d.Approval == nil || d.Approval.Required != 2 {
		t.Errorf("awaiting %+v with message %q; want the old policy's 2 approvals because the policy changed", d.Approval, msg)
	}
	// Staging's own entry did not change, and it never needs approval:
	// the change goes through there.
	pc.deploymentOf("staging", c, fsm.StateCompleted)
}

// TestForcePushIsPlannedAgainstWhatIsDeployed: a force-push to an
// unrelated history is followed, and planned against the deployed commit.
func TestForcePushIsPlannedAgainstWhatIsDeployed(t *testing.T) {
	repo := gitserver.NewRepo(t)
	first := repo.Commit(merge(envFiles("staging", points, roads), map[string]string{policyPath: testPolicy}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1})
	pc.deploymentOf("staging", first, fsm.StateCompleted)

	rewritten := repo.NewRoot(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "rewritten history")
	pc.pollNow()
	d := pc.deploymentOf("staging", rewritten, fsm.StateCompleted)
	rec := planOf(t, d)
	if rec.BaseCommit != first || rec.Removed != 1 || !rec.Breaking {
		t.Errorf("plan after force-push = %+v; want against %s with the roads layer removed", rec, short(first))
	}
}

// TestUnrelatedCommitKeepsTheWaitingDeployment: a commit that does not
// touch an environment leaves its waiting deployment, and the approvals it
// collected, alone — for a first deployment too.
func TestUnrelatedCommitKeepsTheWaitingDeployment(t *testing.T) {
	repo := gitserver.NewRepo(t)
	first := repo.Commit(merge(envFiles("production", points), envFiles("staging", points),
		map[string]string{policyPath: testPolicy}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1})
	d := pc.deploymentOf("production", first, fsm.StateAwaitingApproval)
	if _, err := pc.approve(d.ID, "alice", "devops-team"); err != nil {
		t.Fatal(err)
	}
	second := pc.commit(envFiles("staging", points, roads), "staging only")
	pc.deploymentOf("staging", second, fsm.StateCompleted)
	if h := pc.Leader().FSM.History("production"); len(h) != 1 || h[0].ID != d.ID || h[0].State != fsm.StateAwaitingApproval || len(h[0].Approvals) != 1 {
		t.Fatalf("production history after a staging-only commit = %d deployments, newest %s %s with %d approvals; want %s still waiting with alice's approval",
			len(h), h[0].ID, h[0].State, len(h[0].Approvals), d.ID)
	}
}

// TestFolderProblemsAreReplicated: a folder under environments/ that is not
// an environment is recorded with its problem in the replicated source
// status, on every node, while the valid environments deploy; a commit that
// removes it clears the problem.
func TestFolderProblemsAreReplicated(t *testing.T) {
	repo := gitserver.NewRepo(t)
	c := repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy,
		"environments/Bad_Env/metadata.json": "{}"}), "initial, with a bad folder")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 3})
	if d := pc.deploymentOf("staging", c, fsm.StateCompleted); d.Subject != "initial, with a bad folder" {
		t.Errorf("deployment subject = %q; want the commit's first line", d.Subject)
	}
	pc.WaitForState("the folder's problem to be replicated", func(f *fsm.FSM) error {
		src := f.Source()
		if len(src.Problems) != 1 || src.Problems[0].Path != "environments" ||
			!strings.Contains(src.Problems[0].Message, `"Bad_Env" is not a valid environment name`) {
			return fmt.Errorf("source = %+v", src)
		}
		return nil
	})
	next := repo.Delete("remove the bad folder", "environments/Bad_Env")
	pc.pollNow()
	pc.WaitForState("the problem to clear", func(f *fsm.FSM) error {
		if src := f.Source(); src.Head != next || len(src.Problems) != 0 {
			return fmt.Errorf("source = %+v", src)
		}
		return nil
	})
}
