package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/test/harness"
)

// killNode SIGKILLs n. Killing the leader is an outage: the first write
// acknowledged after it is reported.
func (r *Run) killNode(n *harness.Node, what string, leader bool) {
	r.t.Helper()
	n.Kill()
	r.Logf("%s", what)
	if leader {
		r.outage(what)
	}
}

// killLeader: SIGKILL the leader; the others elect another; it comes back
// after a while and catches up.
func (r *Run) killLeader() {
	r.t.Helper()
	old := r.leader()
	r.killNode(old, "SIGKILL leader "+old.ID(), true)
	nl, err := r.cluster.WaitForNewLeader(old, leaderTimeout)
	if err != nil {
		r.t.Fatal(err)
	}
	r.Logf("%s leads after %s was killed", nl.ID(), old.ID())
	r.idle(r.between(500*time.Millisecond, 2*time.Second))
	r.restart(old)
}

// killFollower: SIGKILL a follower; the others go on; it comes back (often
// behind the leader's trailing logs, so by snapshot) and catches up.
func (r *Run) killFollower() {
	r.t.Helper()
	f := r.follower(nil)
	r.killNode(f, "SIGKILL follower "+f.ID(), false)
	r.idle(r.between(time.Second, 3*time.Second))
	r.restart(f)
}

// killTwoOfFive: SIGKILL two of five nodes at once (the leader among them
// half of the time); the three left keep a quorum.
func (r *Run) killTwoOfFive() {
	r.t.Helper()
	leader := r.leader()
	nodes := r.members()
	r.rng.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
	victims := nodes[:2]
	if r.rng.IntN(2) == 0 && !slices.Contains(victims, leader) {
		victims[0] = leader
	}
	for _, n := range victims {
		what := "SIGKILL " + n.ID() + " (two of five)"
		if n == leader {
			what = "SIGKILL leader " + n.ID() + " (two of five)"
		}
		r.killNode(n, what, n == leader)
	}
	l, err := r.cluster.WaitForLeader(leaderTimeout)
	if err != nil {
		r.t.Fatal(err)
	}
	r.Logf("%s leads the three left", l.ID())
	r.idle(r.between(time.Second, 3*time.Second))
	r.restart(victims...)
}

// killLeaderSnapshot: SIGKILL the leader as soon as it starts writing a
// snapshot (its snapshot store creates <data-dir>/raft/snapshots/*.tmp).
func (r *Run) killLeaderSnapshot() {
	r.t.Helper()
	leader := r.leader()
	dir := filepath.Join(leader.DataDir(), "raft", "snapshots")
	name, err := awaitSnapshotStart(dir, settleTimeout, func() { leader.Kill() })
	if err != nil {
		r.t.Fatalf("leader %s: %v", leader, err)
	}
	what := fmt.Sprintf("SIGKILL leader %s as it started snapshot %s", leader.ID(), name)
	r.outage(what)
	_, statErr := os.Stat(filepath.Join(dir, name))
	caught := statErr == nil
	r.Logf("%s; the snapshot was left unfinished: %v", what, caught)
	r.note("kill-leader-snapshot: killed %s while it wrote snapshot %s; left unfinished: %v", leader.ID(), name, caught)
	if _, err := r.cluster.WaitForNewLeader(leader, leaderTimeout); err != nil {
		r.t.Fatal(err)
	}
	r.idle(r.between(500*time.Millisecond, 2*time.Second))
	r.restart(leader)
}

// restartCluster: stop every node (SIGTERM, or SIGKILL as in a power cut,
// by the seed) and start them all again.
func (r *Run) restartCluster() {
	r.t.Helper()
	nodes := r.members()
	if r.rng.IntN(2) == 0 {
		r.outage("SIGKILL every node (the whole cluster)")
		for _, n := range nodes {
			n.Kill()
		}
		r.Logf("SIGKILLed every node: %v", nodes)
	} else {
		r.outage("SIGTERM every node (the whole cluster)")
		var wg sync.WaitGroup
		errs := make([]error, len(nodes))
		for i, n := range nodes {
			wg.Go(func() { _, errs[i] = n.Stop() })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			r.t.Errorf("stop the whole cluster: %v", err)
		}
		r.Logf("stopped every node with SIGTERM: %v", nodes)
	}
	r.idle(r.between(500*time.Millisecond, 2*time.Second))
	r.outage("restart of the whole cluster")
	for _, n := range nodes {
		n.Restart()
	}
	r.waitCaughtUp(nodes...)
}

// replaceMember: SIGKILL a follower, remove it as an operator would
// (DELETE /v1/cluster/members/{id} as admin), and add a fresh node with an
// empty disk, which must catch up by snapshot.
func (r *Run) replaceMember() {
	r.t.Helper()
	dead := r.follower(nil)
	r.killNode(dead, "SIGKILL follower "+dead.ID()+" (to be replaced)", false)
	// Remove it once gossip knows it failed, as the README's operator
	// would: a member removed while gossip still sees it alive is added
	// back as a voter (TestRemoveMemberStaysRemoved).
	err := harness.Poll(settleTimeout, "gossip to mark "+dead.ID()+" dead", func() error {
		ms, err := r.adminClient().Members(context.Background())
		if err != nil {
			return err
		}
		if i := slices.IndexFunc(ms, func(m api.Member) bool { return m.ID == dead.ID() }); i >= 0 && ms[i].Status != "dead" {
			return fmt.Errorf("%s is %s", dead.ID(), ms[i].Status)
		}
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	err = harness.Poll(settleTimeout, "the removal of "+dead.ID(), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		err := r.adminClient().RemoveMember(ctx, dead.ID())
		var ae *api.Error
		if errors.As(err, &ae) && ae.Code == "not_found" {
			return nil // removed by an earlier attempt whose answer was lost
		}
		return err
	})
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.removed[dead.ID()] = true
	r.mu.Unlock()
	// The members list keeps a removed node a while, as a dead
	// non-voter (from gossip).
	err = harness.Poll(settleTimeout, "the members to drop "+dead.ID()+" as a voter", func() error {
		ms, err := r.adminClient().Members(context.Background())
		if err != nil {
			return err
		}
		if slices.ContainsFunc(ms, func(m api.Member) bool { return m.ID == dead.ID() && m.Voter }) {
			return fmt.Errorf("members still list %s as a voter: %v", dead.ID(), ms)
		}
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	fresh := r.addNode(harness.NodeConfig{})
	r.mu.Lock()
	r.nodes = append(r.nodes, fresh)
	r.mu.Unlock()
	fresh.Start()
	r.watchEvents(fresh)
	r.Logf("removed %s; added %s with an empty data dir", dead.ID(), fresh.ID())
	err = harness.Poll(settleTimeout, fresh.ID()+" to become a voter", func() error {
		ms, err := r.adminClient().Members(context.Background())
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(ms, func(m api.Member) bool { return m.ID == fresh.ID() && m.Voter && m.Status == "alive" }) {
			return fmt.Errorf("members: %v", ms)
		}
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	r.waitCaughtUp(fresh)
	ms, err := r.adminClient().Members(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	var voters []string
	for _, m := range ms {
		if m.Voter {
			voters = append(voters, m.ID)
		}
	}
	want := ids(r.members())
	slices.Sort(want)
	slices.Sort(voters)
	if !slices.Equal(voters, want) {
		r.t.Errorf("after replacing %s with %s the voters are %v; want the running nodes %v", dead.ID(), fresh.ID(), voters, want)
	}
	if !strings.Contains(fresh.Log(), "Installed remote snapshot") {
		r.t.Errorf("%s caught up without installing a snapshot; its log has no %q", fresh, "Installed remote snapshot")
	}
}
