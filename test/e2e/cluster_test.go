package e2e

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/honua-io/honua-gitops/test/harness"
)

// TestFailover kills the leader of a three-node cluster, sees the survivors
// elect another, and brings the killed node back as a follower that catches
// up.
func TestFailover(t *testing.T) {
	skipIfShort(t)
	c := harness.Start(t, 3, harness.Options{})
	old := waitForHealthy(t, c, "n1", "n2", "n3")
	for _, n := range c.Nodes() {
		if err := harness.Poll(waitTimeout, n.ID()+" to be ready", func() error {
			ready, why, err := n.Ready()
			if err == nil && !ready {
				err = fmt.Errorf("not ready: %s", why)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	before := mustStatus(t, old)

	old.Kill()
	leader, err := c.WaitForNewLeader(old, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	after := mustStatus(t, leader)
	t.Logf("killed leader %s (term %d); %s took over in term %d", old.ID(), before.Term, leader.ID(), after.Term)
	if after.Term <= before.Term {
		t.Errorf("new leader %s has term %d; want more than the killed leader's %d", leader.ID(), after.Term, before.Term)
	}

	old.Restart()
	if err := harness.Poll(waitTimeout, old.ID()+" to rejoin as a follower", func() error {
		st, err := old.Status()
		if err == nil && (st.State != "Follower" || st.LeaderID() == "") {
			err = fmt.Errorf("%s", st)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	leader = waitForHealthy(t, c, "n1", "n2", "n3")
	target := mustStatus(t, leader).AppliedIndex
	if err := old.WaitForApplied(target, waitTimeout); err != nil {
		t.Fatal(err)
	}
}

// TestRestartWholeCluster stops every node at once with SIGTERM and starts
// them again on their data dirs: the cluster comes back with one leader and
// the same members, without bootstrapping anew or losing its log.
func TestRestartWholeCluster(t *testing.T) {
	skipIfShort(t)
	c := harness.Start(t, 3, harness.Options{})
	waitForHealthy(t, c, "n1", "n2", "n3")
	bootstrapped := false
	for _, n := range c.Nodes() {
		bootstrapped = bootstrapped || strings.Contains(n.Log(), "bootstrapping cluster")
	}
	if !bootstrapped {
		t.Fatal(`no node logged "bootstrapping cluster" in the first run; the check of the second run would prove nothing`)
	}
	before := map[string]harness.Status{}
	for _, n := range c.Nodes() {
		before[n.ID()] = mustStatus(t, n)
	}

	stopAll(t, c)

	for _, n := range c.Nodes() {
		n.Restart()
	}
	waitForHealthy(t, c, "n1", "n2", "n3")
	for _, n := range c.Nodes() {
		if strings.Contains(n.Log(), "bootstrapping cluster") {
			t.Errorf("%s bootstrapped a new cluster on restart", n.ID())
		}
		st, was := mustStatus(t, n), before[n.ID()]
		if st.Term < was.Term || st.LastIndex < was.LastIndex {
			t.Errorf("%s went back: term %d, last index %d after restart; %d, %d before",
				n.ID(), st.Term, st.LastIndex, was.Term, was.LastIndex)
		}
	}
}

// TestQuorumAfterWholeClusterStop stops every node at once with SIGTERM and
// starts two of the three again: two of three voters are a quorum, so they
// should elect a leader without waiting for the third.
func TestQuorumAfterWholeClusterStop(t *testing.T) {
	skipIfShort(t)
	c := harness.Start(t, 3, harness.Options{})
	waitForHealthy(t, c, "n1", "n2", "n3")
	stopAll(t, c)

	// Leaving, a node asks the leader to remove it from the raft
	// configuration. Were the leader to do so for those that leave first,
	// the smallest configuration a node holds would be the latest: restart
	// two nodes that are not a majority of it, if there are two.
	configs := map[string][]string{}
	var latest []string
	for _, n := range c.Nodes() {
		configs[n.ID()] = raftServers(t, n.DataDir())
		if latest == nil || len(configs[n.ID()]) < len(latest) {
			latest = configs[n.ID()]
		}
	}
	var order []*harness.Node // those outside latest first
	for _, inLatest := range []bool{false, true} {
		for _, n := range c.Nodes() {
			if slices.Contains(latest, n.ID()) == inLatest {
				order = append(order, n)
			}
		}
	}
	pair := order[:2]
	t.Logf("raft configurations after the stop: %v; restarting %s and %s", configs, pair[0], pair[1])
	for _, n := range pair {
		n.Restart()
	}
	if _, err := c.WaitForLeader(waitTimeout); err != nil {
		t.Fatalf("two of three restarted nodes elected no leader; raft configurations after the stop %v: %v", configs, err)
	}
	// The leader keeps a departed member as a voter rather than shrink
	// below three, so every configuration still names all three.
	for id, servers := range configs {
		if len(servers) != 3 {
			t.Errorf("%s's raft configuration after the stop = %v; want all three voters", id, servers)
		}
	}
}

// stopAll sends SIGTERM to every node at once and checks each exits 0.
func stopAll(t *testing.T, c *harness.Cluster) {
	t.Helper()
	nodes := c.Nodes()
	codes := make([]int, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { codes[i], errs[i] = n.Stop() })
	}
	wg.Wait()
	for i, n := range nodes {
		if errs[i] != nil {
			t.Error(errs[i])
		} else if codes[i] != 0 {
			t.Errorf("%s exited %d on SIGTERM; want 0", n.ID(), codes[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}
