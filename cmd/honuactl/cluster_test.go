package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/plan"
	"github.com/honua-io/honua-gitops/internal/rpc"
	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/harness"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBuild()
	os.Exit(code)
}

// clusterTimeout bounds every wait on the real cluster; the machine is
// small and shared, so it is generous.
const clusterTimeout = 90 * time.Second

// ctlCluster runs honuactl against a real cluster.
type ctlCluster struct {
	t      *testing.T
	c      *harness.Cluster
	addrs  string
	admin  string
	viewer string
}

func (cc *ctlCluster) run(token, addrs string, args ...string) result {
	cc.t.Helper()
	env := map[string]string{}
	if token != "" {
		env["HONUA_TOKEN"] = token
	}
	r := invocation{env: env, clock: time.Now}.run(cc.t, append([]string{"--addr", addrs}, args...)...)
	cc.t.Logf("honuactl %s → exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// ctl runs honuactl as the admin, with every node's address.
func (cc *ctlCluster) ctl(args ...string) result {
	cc.t.Helper()
	return cc.run(cc.admin, cc.addrs, args...)
}

// waitHealthy waits until every node names the same leader and lists
// three alive voters, and returns the leader.
func (cc *ctlCluster) waitHealthy() api.Leader {
	cc.t.Helper()
	var leader api.Leader
	err := harness.Poll(clusterTimeout, "one leader and three alive voters on every node", func() error {
		leader = api.Leader{}
		for _, n := range cc.c.Nodes() {
			r := invocation{env: map[string]string{"HONUA_TOKEN": cc.admin}, clock: time.Now}.run(cc.t,
				"--addr", n.APIAddr(), "status", "-o", "json")
			var st api.Status
			if err := jsonErr(r.stdout, &st); err != nil {
				return fmt.Errorf("%s: %w (%s)", n, err, r.stderr)
			}
			if st.Leader == nil || leader.ID != "" && st.Leader.ID != leader.ID {
				return fmt.Errorf("%s: leader %+v; others %+v", n, st.Leader, leader)
			}
			leader = *st.Leader
			alive := 0
			for _, m := range st.Members {
				if m.Status == "alive" && m.Voter {
					alive++
				}
			}
			if alive != 3 {
				return fmt.Errorf("%s: %d alive voters: %+v", n, alive, st.Members)
			}
		}
		return nil
	})
	if err != nil {
		cc.t.Fatal(err)
	}
	return leader
}

// deploymentOf waits for staging's newest deployment of commit and
// returns its id.
func (cc *ctlCluster) deploymentOf(commit, kind string) string {
	cc.t.Helper()
	var id string
	err := harness.Poll(clusterTimeout, fmt.Sprintf("a %s deployment of %.12s", kind, commit), func() error {
		r := invocation{env: map[string]string{"HONUA_TOKEN": cc.admin}, clock: time.Now}.run(cc.t,
			"--addr", cc.addrs, "deployments", "--env", "staging", "-o", "json")
		if r.code != exitOK {
			return fmt.Errorf("%s", r)
		}
		var ds []api.DeploymentSummary
		decode(cc.t, r.stdout, &ds)
		for _, d := range ds {
			if d.Commit == commit && d.Kind == kind {
				id = d.ID
				return nil
			}
		}
		return fmt.Errorf("none among %d deployments", len(ds))
	})
	if err != nil {
		cc.t.Fatal(err)
	}
	return id
}

// TestCluster drives a real three-node cluster with honuactl: a repository
// whose staging deployments need one approval, tokens, approvals through a
// follower, waits, history, a rollback and a sync.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts honuad processes; skipped with -short")
	}
	gitserver.RequireGit(t)
	repo := gitserver.NewRepo(t)
	// Every staging deployment waits for one approval.
	c1 := repo.Commit(sampleconfig.Merge(sampleconfig.Env("staging", sampleconfig.Points),
		sampleconfig.WithPolicy(sampleconfig.AlwaysApprove(1, "staging"))), "staging with one layer")

	dir := t.TempDir()
	admin, adminEntry, err := rpc.NewToken("ops-admin", rpc.RoleAdmin, []string{"ops"})
	if err != nil {
		t.Fatal(err)
	}
	viewer, viewerEntry, err := rpc.NewToken("watcher", rpc.RoleViewer, nil)
	if err != nil {
		t.Fatal(err)
	}
	tokens := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokens, []byte("tokens:\n"+adminEntry+viewerEntry), 0o600); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "staging")
	config := filepath.Join(dir, "honuad.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`repository:
  url: %s
  pollInterval: 1s
environments:
  staging:
    targets:
      - type: directory
        path: %s
`, repo.Path(), target)), 0o644); err != nil {
		t.Fatal(err)
	}

	c := harness.Start(t, 3, harness.Options{Args: []string{"--config", config, "--tokens-file", tokens}})
	var addrs []string
	for _, n := range c.Nodes() {
		addrs = append(addrs, n.APIAddr())
	}
	cc := &ctlCluster{t: t, c: c, addrs: strings.Join(addrs, ","), admin: admin, viewer: viewer}
	// The harness's waits read /v1/status without a token, which this
	// cluster refuses: honuactl waits instead.
	leader := cc.waitHealthy()
	followerAddr := func() string {
		t.Helper()
		for _, n := range c.Nodes() {
			if n.ID() != leader.ID {
				return n.APIAddr()
			}
		}
		t.Fatal("no follower")
		return ""
	}

	t.Log("status and members")
	r := cc.ctl("status")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Leader:", leader.ID}, []string{"Repository:", repo.Path()},
		[]string{leader.ID, "alive", "leader"})
	r = cc.ctl("status", "-o", "json")
	wantCode(t, r, exitOK)
	var st api.Status
	decode(t, r.stdout, &st)
	if st.Leader == nil || st.Leader.ID != leader.ID || len(st.Members) != 3 {
		t.Errorf("status JSON: leader %+v, %d members; want %s and 3", st.Leader, len(st.Members), leader.ID)
	}
	r = cc.ctl("members")
	wantCode(t, r, exitOK)
	for _, n := range c.Nodes() {
		wantLines(t, r.stdout, []string{n.ID(), "alive", "true", n.APIAddr()})
	}
	r = cc.ctl("-o", "json", "members")
	wantCode(t, r, exitOK)
	var ms []api.Member
	decode(t, r.stdout, &ms)
	if len(ms) != 3 {
		t.Errorf("members JSON lists %d; want 3", len(ms))
	}

	t.Log("the first deployment waits for approval")
	id1 := cc.deploymentOf(c1, "auto")
	r = cc.ctl("wait", id1, "--for", "AwaitingApproval", "--timeout", clusterTimeout.String())
	wantCode(t, r, exitOK)
	r = cc.ctl("deployments")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{id1, "staging", "AwaitingApproval", "auto", shortSHA(c1) + " ", "0/1"})
	r = cc.ctl("deployments", "--env", "staging", "--state", "AwaitingApproval", "-o", "json")
	wantCode(t, r, exitOK)
	var ds []api.DeploymentSummary
	decode(t, r.stdout, &ds)
	if len(ds) != 1 || ds[0].ID != id1 {
		t.Errorf("deployments JSON = %+v; want %s alone", ds, id1)
	}

	r = cc.ctl("deployment", id1)
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout,
		[]string{"Deployment:", id1},
		[]string{"State:", "AwaitingApproval"},
		[]string{"Plan:", "nothing deployed → " + shortSHA(c1)},
		[]string{"added", "layer", "layers/sample-points", "low"},
		[]string{"Approvals:", "0 of 1"},
		[]string{"Validation:", "valid"},
		[]string{"Planning", "AwaitingApproval"},
	)
	r = cc.ctl("deployment", id1, "-o", "json", "--verbose")
	wantCode(t, r, exitOK)
	var d api.Deployment
	decode(t, r.stdout, &d)
	if d.ID != id1 || d.State != "AwaitingApproval" || len(d.Plan) == 0 || d.Approval == nil || d.Approval.Required != 1 {
		t.Errorf("deployment JSON = %s", r.stdout)
	}
	r = cc.ctl("diff", id1)
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Plan of " + id1, shortSHA(c1)}, []string{"+ added layer layers/sample-points"})
	r = cc.ctl("diff", id1, "-o", "json")
	wantCode(t, r, exitOK)
	var doc plan.Document
	decode(t, r.stdout, &doc)
	if doc.Plan == nil || doc.Commit != c1 || doc.Added == 0 {
		t.Errorf("diff JSON = %s", r.stdout)
	}

	t.Log("refused approvals")
	r = cc.run(cc.viewer, cc.addrs, "approve", id1)
	wantCode(t, r, exitRefused)
	wantLines(t, r.stderr, []string{"watcher", "(403 forbidden)"})
	r = cc.run("", cc.addrs, "approve", id1)
	wantCode(t, r, exitRefused)
	wantLines(t, r.stderr, []string{"(401 unauthorized)"})
	if strings.Contains(r.stderr+r.stdout, admin) || strings.Contains(r.stderr+r.stdout, viewer) {
		t.Error("a token was printed")
	}

	t.Log("approve through a follower, and wait")
	r = cc.run(cc.admin, followerAddr(), "approve", id1, "--comment", "first one")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Approved " + id1, "1/1 approvals"})
	r = cc.ctl("wait", id1, "--timeout", clusterTimeout.String())
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Deployment " + id1 + " is Completed."})
	r = cc.ctl("wait", id1, "--for", "Completed", "-o", "json")
	wantCode(t, r, exitOK)
	decode(t, r.stdout, &d)
	if d.State != "Completed" || len(d.Approvals) != 1 || d.Approvals[0].Identity != "ops-admin" || d.Approvals[0].Comment != "first one" {
		t.Errorf("wait JSON: %s with approvals %+v; want Completed, approved by ops-admin", d.State, d.Approvals)
	}
	// A retried approval is a duplicate, even once the deployment moved
	// on; a rejection now is refused.
	r = cc.ctl("approve", id1)
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Your approval of " + id1 + " was already recorded"})
	r = cc.ctl("reject", id1, "--reason", "too late")
	wantCode(t, r, exitRefused)
	wantLines(t, r.stderr, []string{id1, "Completed", "AwaitingApproval", "(409 wrong_state)"})
	r = cc.ctl("wait", id1, "--for", "RolledBack")
	wantCode(t, r, exitRefused)

	t.Log("a second deployment")
	c2 := repo.Commit(map[string]string{"environments/staging/metadata.json": sampleconfig.Metadata(sampleconfig.Points, sampleconfig.Roads)}, "add roads")
	id2 := cc.deploymentOf(c2, "auto")
	r = cc.ctl("wait", id2, "--for", "AwaitingApproval", "--timeout", clusterTimeout.String())
	wantCode(t, r, exitOK)
	r = cc.ctl("deployment", id2, "-o", "json")
	wantCode(t, r, exitOK)
	decode(t, r.stdout, &d)
	t.Run("approval message names the deployed commit's policy", func(t *testing.T) {
		var msg string
		for _, tr := range d.Transitions {
			if tr.To == "AwaitingApproval" {
				msg = tr.Message
			}
		}
		if want := "policy of the deployed commit " + shortSHA(c1); !strings.Contains(msg, want) {
			t.Errorf("%s's AwaitingApproval message is %q; want it to say %q", id2, msg, want)
		}
	})
	r = cc.ctl("diff", id2)
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Plan of " + id2, shortSHA(c1) + " → " + shortSHA(c2)}, []string{"+ added layer layers/roads", "risk low"})
	r = cc.run(cc.admin, followerAddr(), "approve", id2, "-o", "json")
	wantCode(t, r, exitOK)
	var ar api.ApproveResult
	decode(t, r.stdout, &ar)
	if ar.Duplicate || ar.Deployment == nil || ar.Deployment.ID != id2 {
		t.Errorf("approve JSON = %s", r.stdout)
	}
	r = cc.ctl("wait", id2, "--for", "Completed", "--timeout", clusterTimeout.String(), "-o", "json")
	wantCode(t, r, exitOK)

	t.Log("history")
	r = cc.ctl("history", "staging")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout,
		[]string{id2, "Completed", shortSHA(c2)},
		[]string{id1, "Completed", shortSHA(c1)},
		[]string{"Total:", "2: 2 Completed"},
		[]string{"Success rate:", "100%"},
		[]string{"Average duration:"},
	)
	r = cc.ctl("history", "staging", "--verbose", "-o", "json")
	wantCode(t, r, exitOK)
	var h api.History
	decode(t, r.stdout, &h)
	if h.Totals.Completed != 2 || len(h.Deployments) != 2 || h.Deployments[0].ID != id2 {
		t.Errorf("history JSON = %s", r.stdout)
	}

	t.Log("rollback")
	r = cc.ctl("rollback", "staging")
	wantCode(t, r, exitUsage)
	r = cc.ctl("rollback", "staging", "--yes")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout,
		[]string{"Current:", id2, shortSHA(c2)},
		[]string{"Target:", id1, shortSHA(c1)},
		[]string{"Rolling staging back to " + shortSHA(c1)},
	)
	rb := cc.deploymentOf(c1, "rollback")
	r = cc.ctl("wait", rb, "--for", "Completed", "--timeout", clusterTimeout.String())
	wantCode(t, r, exitOK)
	// Rolled back again, from the rollback to the commit before it.
	r = cc.ctl("rollback", "staging", "--yes", "-o", "json")
	wantCode(t, r, exitOK)
	decode(t, r.stdout, &d)
	if d.Kind != "rollback" || d.Commit != c2 {
		t.Errorf("second rollback: %s of %.12s; want a rollback to %.12s", d.Kind, d.Commit, c2)
	}
	wantLines(t, r.stderr, []string{"Current:", rb, shortSHA(c1)}, []string{"Target:", id2, shortSHA(c2)})
	r = cc.ctl("wait", d.ID, "--for", "Completed", "--timeout", clusterTimeout.String())
	wantCode(t, r, exitOK)

	t.Log("sync --wait, approved while it waits")
	for _, output := range []string{"table", "json"} {
		done := make(chan result, 1)
		go func() {
			done <- invocation{env: map[string]string{"HONUA_TOKEN": admin}, clock: time.Now}.run(t,
				"--addr", cc.addrs, "sync", "staging", "--wait", "-o", output, "--timeout", clusterTimeout.String())
		}()
		var syncID string
		err := harness.Poll(clusterTimeout, "the sync's deployment to wait for approval", func() error {
			select {
			case r := <-done:
				done <- r
				return fmt.Errorf("sync --wait ended early: %s", r)
			default:
			}
			r := invocation{env: map[string]string{"HONUA_TOKEN": admin}, clock: time.Now}.run(t,
				"--addr", cc.addrs, "deployments", "--env", "staging", "--state", "AwaitingApproval", "-o", "json")
			var ds []api.DeploymentSummary
			if err := jsonErr(r.stdout, &ds); err != nil {
				return err
			}
			for _, d := range ds {
				if d.Kind == "manual-sync" {
					syncID = d.ID
					return nil
				}
			}
			return fmt.Errorf("no manual-sync deployment awaiting approval among %+v", ds)
		})
		if err != nil {
			t.Fatal(err)
		}
		r := cc.run(cc.admin, followerAddr(), "approve", syncID)
		wantCode(t, r, exitOK)
		r = <-done
		t.Logf("honuactl sync staging --wait -o %s → exit %d\n%s%s", output, r.code, r.stdout, r.stderr)
		wantCode(t, r, exitOK)
		if output == "table" {
			wantLines(t, r.stdout,
				[]string{"Sync of staging requested"},
				[]string{syncID, "Pending", "sync requested by ops-admin"},
				[]string{syncID, "Planning → AwaitingApproval"},
				[]string{syncID, "AwaitingApproval →"},
				[]string{syncID, "PostValidating → Completed"},
				[]string{"Deployment " + syncID + " is Completed."},
			)
		} else {
			decode(t, r.stdout, &d)
			if d.ID != syncID || d.State != "Completed" || d.Kind != "manual-sync" || d.Commit != c2 {
				t.Errorf("sync --wait JSON: %s %s %s of %.12s; want %s Completed manual-sync of %.12s", d.ID, d.State, d.Kind, d.Commit, syncID, c2)
			}
		}
	}
	got, err := os.ReadFile(filepath.Join(target, "metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != sampleconfig.Metadata(sampleconfig.Points, sampleconfig.Roads) {
		t.Errorf("the target's metadata.json after the sync:\n%s\nwant the head's", got)
	}

	t.Log("suspend, cancel, resume, override")
	r = cc.ctl("suspend", "staging")
	wantCode(t, r, exitUsage)
	r = cc.run(cc.viewer, cc.addrs, "suspend", "staging", "--reason", "incident 7")
	wantCode(t, r, exitRefused)
	wantLines(t, r.stderr, []string{"(403 forbidden)"})
	r = cc.run(cc.admin, followerAddr(), "suspend", "staging", "--reason", "incident 7")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"staging is suspended", "ops-admin", "incident 7"})
	r = cc.ctl("history", "staging")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Suspended:", "by ops-admin", "incident 7"})
	r = cc.ctl("environments")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"ENVIRONMENT", "SUSPENDED"}, []string{"staging", "by ops-admin", "incident 7"})
	r = cc.run(cc.admin, leader.APIAddr, "status")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Suspended:", "staging by ops-admin", "incident 7"})
	c3 := repo.Commit(map[string]string{"environments/staging/metadata.json": sampleconfig.Metadata(sampleconfig.Roads)}, "only roads")
	id3 := cc.deploymentOf(c3, "auto")
	r = cc.ctl("deployment", id3, "-o", "json")
	wantCode(t, r, exitOK)
	decode(t, r.stdout, &d)
	if d.State != "Pending" {
		t.Errorf("a suspended environment's new deployment is %s; want Pending", d.State)
	}
	r = cc.ctl("cancel", id3)
	wantCode(t, r, exitUsage)
	r = cc.run(cc.admin, followerAddr(), "cancel", id3, "--reason", "not during the incident")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Cancelled " + id3, "by ops-admin", "not during the incident", "Cancelled."})
	r = cc.ctl("cancel", id3, "--reason", "again", "-o", "json")
	wantCode(t, r, exitOK)
	decode(t, r.stdout, &d)
	if d.State != "Cancelled" || d.Cancellation == nil || d.Cancellation.Reason != "not during the incident" {
		t.Errorf("retried cancel answered %s, %+v; want the first cancellation", d.State, d.Cancellation)
	}
	r = cc.ctl("resume", "staging", "-o", "json")
	wantCode(t, r, exitOK)
	var en api.Environment
	decode(t, r.stdout, &en)
	if en.Suspended != nil {
		t.Errorf("resume answered suspension %+v; want none", en.Suspended)
	}
	c4 := repo.Commit(map[string]string{"environments/staging/metadata.json": sampleconfig.Metadata(sampleconfig.Points)}, "only points")
	id4 := cc.deploymentOf(c4, "auto")
	r = cc.ctl("wait", id4, "--for", "AwaitingApproval", "--timeout", clusterTimeout.String())
	wantCode(t, r, exitOK)
	r = cc.ctl("override", id4, "--reason", "hotfix")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{id4, "overridden by ops-admin: hotfix"})
	r = cc.ctl("cancel", id2, "--reason", "too late")
	wantCode(t, r, exitRefused)
	wantLines(t, r.stderr, []string{id2, "(409 wrong_state)"})

	r = cc.ctl("approve", id4)
	wantCode(t, r, exitOK)
	r = cc.ctl("wait", id4, "--for", "Completed", "--timeout", clusterTimeout.String())
	wantCode(t, r, exitOK)

	t.Log("plan: preview a branch")
	r = cc.ctl("plan", "staging")
	wantCode(t, r, exitUsage)
	r = cc.run(cc.viewer, followerAddr(), "plan", "staging", "--ref", "main")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Preview of staging at main"}, []string{"Validation:", "valid"}, []string{"No changes."})
	feature := repo.CommitOnBranch("feature/roads", map[string]string{
		"environments/staging/metadata.json": sampleconfig.Metadata(sampleconfig.Points, sampleconfig.Roads)}, "add roads on a branch")
	r = cc.run(cc.viewer, cc.addrs, "plan", "staging", "--ref", "feature/roads")
	wantCode(t, r, exitPlanChanges)
	wantLines(t, r.stdout, []string{"Preview of staging at feature/roads", shortSHA(feature)},
		[]string{"+ added layer layers/roads"}, []string{"Approval:", "required"})
	r = cc.ctl("plan", "staging", "--ref", feature, "-o", "json")
	wantCode(t, r, exitPlanChanges)
	var p api.Preview
	decode(t, r.stdout, &p)
	if p.Commit != feature || !p.Valid || !p.Changes || p.Approval == nil || !p.Approval.Required || p.Plan == nil {
		t.Errorf("plan JSON: %s", r.stdout)
	}
	repo.CommitOnBranch("broken", map[string]string{"environments/staging/metadata.json": `{"layers": [`}, "broken JSON")
	r = cc.ctl("plan", "staging", "--ref", "broken")
	wantCode(t, r, exitPlanInvalid)
	wantLines(t, r.stdout, []string{"Validation:", "invalid"}, []string{"environments/staging/metadata.json:"}, []string{"would fail validation"})
	r = cc.ctl("plan", "staging", "--ref", "no-such-branch")
	wantCode(t, r, exitRefused)
	wantLines(t, r.stderr, []string{"no-such-branch", "(404 not_found)"})
	r = cc.ctl("plan", "staging", "--ref", "a:b")
	wantCode(t, r, exitRefused)
	wantLines(t, r.stderr, []string{"(400 invalid)"})
	if head := repo.Head(); head == feature {
		t.Errorf("the watched branch moved to the previewed commit")
	}

	t.Log("version")
	r = cc.ctl("version")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Client:", "honuactl"}, []string{"Server:", "honuad"})
}

func jsonErr(s string, v any) error {
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("not JSON (%v): %s", err, s)
	}
	return nil
}
