package netns

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

// TestIsolatedLeader runs a three-node honuad cluster in namespaces, cuts
// the leader off from the majority while clients still reach it, and heals.
func TestIsolatedLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts honuad processes; skipped with -short")
	}
	nw := New(t, 3)
	c := harness.New(t, harness.Options{Args: []string{"--insecure-no-auth"}})
	for i := range nw.N() {
		cfg := nw.NodeConfig(i)
		cfg.BootstrapExpect = nw.N()
		c.Add(cfg)
	}
	nodes := c.Nodes()
	for _, n := range nodes {
		n.Start()
	}
	for i, n := range nodes {
		checkRunsIn(t, n, nw.Node(i).Namespace, harness.Build(t))
	}
	leader, err := c.WaitForLeader(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitForMembers(time.Minute, 3, "alive"); err != nil {
		t.Fatal(err)
	}
	old := indexOf(nodes, leader)

	if err := nw.Isolate(old); err != nil {
		t.Fatal(err)
	}
	t.Logf("isolated %s: %s", leader, nw)
	var majority []*harness.Node
	for i, n := range nodes {
		if i != old {
			majority = append(majority, n)
		}
	}
	// The harness's WaitForNewLeader asks every live node, and the old
	// leader, which still answers, knows no leader; ask the majority.
	newLeader, err := leaderAmong(majority, time.Minute)
	if err != nil {
		t.Fatalf("%v\n%s", err, nw)
	}
	if newLeader == leader {
		t.Fatalf("the majority names %s, the isolated node, as leader\n%s", leader, nw)
	}
	err = harness.Poll(time.Minute, fmt.Sprintf("%s, isolated, to say on its client link that it does not lead", leader), func() error {
		st, err := leader.Status()
		if err != nil {
			return err
		}
		if st.State == "Leader" || st.LeaderID() != "" {
			return fmt.Errorf("it says %s", st)
		}
		ready, why, err := leader.Ready()
		if err != nil {
			return err
		}
		if ready {
			return fmt.Errorf("/readyz says ready; %s", st)
		}
		t.Logf("%s: %s; /readyz: %s", leader, st, why)
		return nil
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, nw)
	}

	// Keep it cut off until the majority's gossip declared it dead:
	// memberlist then stops talking to it, and only honuad's reconnect
	// loop brings the views together again after the heal.
	err = harness.Poll(2*time.Minute, "the majority to see "+leader.ID()+" as dead", func() error {
		st, err := majority[0].Status()
		if err != nil {
			return err
		}
		for _, m := range st.Members {
			if m.ID == leader.ID() && m.Status != "dead" {
				return fmt.Errorf("%s is %s", m.ID, m.Status)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, nw)
	}

	if err := nw.HealAll(); err != nil {
		t.Fatal(err)
	}
	healed, err := c.WaitForLeader(time.Minute)
	if err != nil {
		t.Fatalf("after HealAll: %v", err)
	}
	if err := c.WaitForMembers(time.Minute, 3, "alive"); err != nil {
		t.Fatalf("after HealAll: %v", err)
	}
	t.Logf("leader %s, then %s while %s was isolated, then %s after healing", leader, newLeader, leader, healed)

	// SIGKILL reaches honuad through ip netns exec, and a restart runs in
	// the same namespace with the same addresses.
	healed.Kill()
	healed.Restart()
	i := indexOf(nodes, healed)
	checkRunsIn(t, healed, nw.Node(i).Namespace, harness.Build(t))
	if _, err := c.WaitForLeader(time.Minute); err != nil {
		t.Fatalf("after restarting %s: %v", healed, err)
	}
	if err := c.WaitForMembers(time.Minute, 3, "alive"); err != nil {
		t.Fatalf("after restarting %s: %v", healed, err)
	}
}

// checkRunsIn checks that the process the harness started for n is honuad
// itself (ip netns exec execs it in place, so signals reach it) and that it
// runs in namespace ns.
func checkRunsIn(t *testing.T, n *harness.Node, ns, bin string) {
	t.Helper()
	pid := n.PID()
	err := harness.Poll(10*time.Second, fmt.Sprintf("process %d of %s to be honuad", pid, n), func() error {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil {
			return err
		}
		if exe != bin {
			return fmt.Errorf("it runs %s", exe)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want, got syscall.Stat_t
	if err := syscall.Stat("/run/netns/"+ns, &want); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &got); err != nil {
		t.Fatal(err)
	}
	if got.Ino != want.Ino || got.Dev != want.Dev {
		t.Fatalf("%s (pid %d) runs in network namespace inode %d; want %s's, %d", n, pid, got.Ino, ns, want.Ino)
	}
}

// leaderAmong waits until every node of nodes names the same leader, one
// of them, which says it leads.
func leaderAmong(nodes []*harness.Node, timeout time.Duration) (*harness.Node, error) {
	var leader *harness.Node
	err := harness.Poll(timeout, "the majority to agree on a leader among them", func() error {
		leader = nil
		var sts []harness.Status
		for _, n := range nodes {
			st, err := n.Status()
			if err != nil {
				return err
			}
			sts = append(sts, st)
		}
		for i, st := range sts {
			if st.LeaderID() == "" || st.LeaderID() != sts[0].LeaderID() {
				return fmt.Errorf("they do not agree: %v", sts)
			}
			if st.NodeID == st.LeaderID() && st.State == "Leader" {
				leader = nodes[i]
			}
		}
		if leader == nil {
			return fmt.Errorf("%s is not among them or does not lead: %v", sts[0].LeaderID(), sts)
		}
		return nil
	})
	return leader, err
}

func indexOf(nodes []*harness.Node, n *harness.Node) int {
	for i, m := range nodes {
		if m == n {
			return i
		}
	}
	return -1
}
