package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/test/harness"
)

// TestDayTwoAcrossFailover runs the day-two commands against three real
// nodes across a leader failover, with honuactl (issue 15): development
// is suspended through a follower, and a production deployment waiting
// for approval is cancelled through the other follower; then the leader is
// killed. On the new leader the suspension holds — the deployment of a new
// commit, which the new leader creates, stays Pending while the pipeline
// moves production's on to AwaitingApproval — and the cancellation
// stands: the same cancel retried by the same identity answers the first
// cancellation (exit 0), and another approver's is refused with 409
// wrong_state; an admin's window override made before the failover stands
// and its retry answers it again. Resumed through the restarted old leader, development
// deploys the commit, and every node ends with the same state.
func TestDayTwoAcrossFailover(t *testing.T) {
	skipIfShort(t)
	s := newScenarioFixture(t)
	s.start()
	s.waitFor(t, s.deploymentOf(t, "development", s.first), "Completed")
	prod := s.deploymentOf(t, "production", s.first)
	s.waitFor(t, prod, "AwaitingApproval")

	old, err := s.c.Leader()
	if err != nil {
		t.Fatal(err)
	}
	followers, err := s.c.Followers()
	if err != nil || len(followers) != 2 {
		t.Fatalf("followers %v, %v; want two", followers, err)
	}

	var en api.Environment
	res := s.ctlOK(t, "alice", followers[0].APIAddr(), "suspend", "development", "--reason", "incident 9", "-o", "json")
	decodeCtl(t, res, &en)
	if su := en.Suspended; su == nil || su.By != "alice" || su.Reason != "incident 9" {
		t.Fatalf("suspend through follower %s answered suspension %+v; want by alice: incident 9", followers[0].ID(), su)
	}
	var overridden api.Deployment
	res = s.ctlOK(t, "admin", followers[0].APIAddr(), "override", prod, "--reason", "hotfix window", "-o", "json")
	decodeCtl(t, res, &overridden)
	if o := overridden.WindowOverride; o == nil || o.Identity != "admin" || o.Reason != "hotfix window" {
		t.Fatalf("override of %s through follower %s answered %+v; want admin's hotfix window", prod, followers[0].ID(), o)
	}
	var cancelled api.Deployment
	res = s.ctlOK(t, "alice", followers[1].APIAddr(), "cancel", prod, "--reason", "wrong quarter", "-o", "json")
	decodeCtl(t, res, &cancelled)
	if c := cancelled.Cancellation; cancelled.State != api.StateCancelled || c == nil || c.Identity != "alice" || c.Reason != "wrong quarter" {
		t.Fatalf("cancel of %s through follower %s answered %s, cancellation %+v; want Cancelled by alice: wrong quarter",
			prod, followers[1].ID(), cancelled.State, c)
	}

	old.Kill()
	leader, err := s.c.WaitForNewLeader(old, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed leader %s; %s leads", old.ID(), leader.ID())
	token := s.adminToken(t)
	var detail api.EnvironmentDetail
	// A consistent read waits for the new leader's barrier (503 before).
	if err := harness.Poll(waitTimeout, "a consistent read of development on the new leader", func() error {
		return nodeGetJSON(leader, token, "/v1/environments/development?consistent=true", &detail)
	}); err != nil {
		t.Fatal(err)
	}
	if su := detail.Suspended; su == nil || su.By != "alice" || su.Reason != "incident 9" {
		t.Fatalf("new leader %s: development's suspension is %+v; want by alice: incident 9", leader.ID(), su)
	}

	// One commit changes both environments. The new leader polls it and
	// creates a deployment of each; production's goes on to wait for
	// approval, which shows the pipeline stepped past development's.
	meta := scenarioMetadata(samplePoints, sampleLines)
	commit := s.repo.Commit(map[string]string{
		"environments/development/metadata.json": meta,
		"environments/production/metadata.json":  meta,
	}, "add the sample-lines layer everywhere")
	s.files["development"][commit], s.files["production"][commit] = meta, meta
	dev := s.deploymentOf(t, "development", commit)
	prod2 := s.deploymentOf(t, "production", commit)
	s.waitFor(t, prod2, "AwaitingApproval")
	checkPending := func(when string) {
		t.Helper()
		if d := s.deployment(t, dev); d.State != "Pending" {
			t.Fatalf("%s: suspended development's deployment %s", when, d)
		}
	}
	checkPending("once production's deployment of the same commit awaits approval")

	// The cancellation stands on the new leader: a retry by alice answers
	// it again, bob's is refused.
	var again api.Deployment
	res = s.ctlOK(t, "alice", leader.APIAddr(), "cancel", prod, "--reason", "retried", "-o", "json")
	decodeCtl(t, res, &again)
	if c := again.Cancellation; again.State != api.StateCancelled || c == nil || c.Identity != "alice" ||
		c.Reason != "wrong quarter" || !c.Time.Equal(cancelled.Cancellation.Time) {
		t.Errorf("retried cancel of %s on the new leader answered %s, cancellation %+v; want the first one %+v",
			prod, again.State, c, cancelled.Cancellation)
	}
	res = s.ctl(t, "bob", s.addrs(), "cancel", prod, "--reason", "me too")
	if res.code == 0 || !strings.Contains(res.stderr, "(409 wrong_state)") {
		t.Errorf("bob's cancel of %s, cancelled by alice: %s; want it refused with 409 wrong_state", prod, res)
	}
	// So does the window override: admin's retry answers the first one.
	var overriddenAgain api.Deployment
	res = s.ctlOK(t, "admin", leader.APIAddr(), "override", prod, "--reason", "retried", "-o", "json")
	decodeCtl(t, res, &overriddenAgain)
	if o := overriddenAgain.WindowOverride; o == nil || o.Identity != "admin" || o.Reason != "hotfix window" ||
		!o.Time.Equal(overridden.WindowOverride.Time) {
		t.Errorf("retried override of %s on the new leader answered %+v; want the first one %+v",
			prod, o, overridden.WindowOverride)
	}
	if d := s.deployment(t, prod); d.State != "Cancelled" {
		t.Errorf("after the retries, %s", d)
	}
	checkPending("after the cancellations")

	// Resumed through the restarted old leader, development deploys.
	old.Restart()
	waitForHealthy(t, s.c, "n1", "n2", "n3")
	res = s.ctlOK(t, "bob", old.APIAddr(), "resume", "development", "-o", "json")
	en = api.Environment{}
	decodeCtl(t, res, &en)
	if en.Suspended != nil {
		t.Errorf("resume through %s answered suspension %+v; want none", old.ID(), en.Suspended)
	}
	s.waitFor(t, dev, "Completed")
	s.checkTarget(t, "development", dev, meta)
	if d := s.deployment(t, prod2); d.State != "AwaitingApproval" {
		t.Errorf("production's deployment after development's resumption: %s; want it still AwaitingApproval", d)
	}
	digest := waitSameState(t, s.c, token)
	if err := harness.Poll(waitTimeout, "every node to show development resumed", func() error {
		for _, n := range s.c.Nodes() {
			var e api.EnvironmentDetail
			if err := nodeGetJSON(n, token, "/v1/environments/development", &e); err != nil {
				return err
			}
			if e.Suspended != nil {
				return fmt.Errorf("%s: development is suspended: %+v", n.ID(), e.Suspended)
			}
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	t.Logf("every node agrees: %s", digest)
}

// decodeCtl decodes honuactl's JSON output into out.
func decodeCtl(t *testing.T, res ctlResult, out any) {
	t.Helper()
	if err := json.Unmarshal([]byte(res.stdout), out); err != nil {
		t.Fatalf("%s\ndecode: %v", res, err)
	}
}
