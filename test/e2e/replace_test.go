package e2e

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

// TestReplaceNode follows docs/operations.md's "Replace a node" on real
// processes: a node whose machine (and data dir) is lost is replaced by a
// fresh node with a new id, and the lost one removed; then a node whose
// disk is lost comes back under its old id with an empty data dir and new
// addresses, as a StatefulSet pod with a new volume does. Each time the
// cluster ends with three alive voters holding the same state.
func TestReplaceNode(t *testing.T) {
	skipIfShort(t)
	c := harness.Start(t, 3, harness.Options{})
	leader := waitForHealthy(t, c, "n1", "n2", "n3")
	before := waitSameState(t, c, "")

	// n3's machine is gone: a new node n4 joins, then n3 is removed.
	lost := c.Node("n3")
	if lost == leader {
		lost = c.Node("n2")
	}
	lost.Kill()
	if err := os.RemoveAll(lost.DataDir()); err != nil {
		t.Fatal(err)
	}
	// The runbook removes a member once the others see it dead: one that
	// gossip still sees alive would be added back at once.
	waitMemberStatus(t, leader, lost.ID(), "dead")
	n4 := c.Add(harness.NodeConfig{ID: "n4", Join: []string{leader.GossipAddr()}})
	n4.Start()
	if err := harness.Poll(waitTimeout, "n4 to be an alive voter", func() error {
		st, err := leader.Status()
		if err != nil {
			return err
		}
		for _, m := range st.Members {
			if m.ID == "n4" && m.Voter && m.Status == "alive" {
				return nil
			}
		}
		return fmt.Errorf("%s", st)
	}); err != nil {
		t.Fatal(err)
	}
	removeMember(t, leader, lost.ID())
	var ids []string
	for _, n := range c.Nodes() {
		if n.Running() {
			ids = append(ids, n.ID())
		}
	}
	leader = waitForVoters(t, c, ids...)
	if got := waitSameState(t, c, ""); got.SHA256 != before.SHA256 {
		t.Errorf("after replacing %s with n4 the cluster holds %s; want %s", lost, got, before)
	}

	// A disk is lost: the node comes back under its id, with an empty data
	// dir and new addresses.
	var victim *harness.Node
	for _, n := range c.Nodes() {
		if n.Running() && n != leader {
			victim = n
			break
		}
	}
	victim.Kill()
	if err := os.RemoveAll(victim.DataDir()); err != nil {
		t.Fatal(err)
	}
	// Started while the others still see the old process alive, the new
	// one would exit: "node id is already used by a live member".
	waitMemberStatus(t, leader, victim.ID(), "dead")
	again := c.Add(harness.NodeConfig{ID: victim.ID(), Join: []string{leader.GossipAddr()}})
	start := time.Now()
	again.Start()
	waitForVoters(t, c, ids...)
	t.Logf("%s came back with an empty data dir and new addresses: three alive voters after %v", victim.ID(), time.Since(start).Round(time.Second))
	if got := waitSameState(t, c, ""); got.SHA256 != before.SHA256 {
		t.Errorf("after %s came back with an empty data dir the cluster holds %s; want %s", victim.ID(), got, before)
	}
	st := mustStatus(t, again)
	for _, m := range st.Members {
		if m.ID == victim.ID() && m.RaftAddr != again.RaftAddr() {
			t.Errorf("%s is listed at raft address %s; want its new address %s", m.ID, m.RaftAddr, again.RaftAddr())
		}
	}
}

// waitForVoters waits until every running node names the same leader and
// lists exactly ids as its voters, all alive; a removed member may still be
// listed as a dead non-voter (for an hour). It returns the leader.
func waitForVoters(t *testing.T, c *harness.Cluster, ids ...string) *harness.Node {
	t.Helper()
	slices.Sort(ids)
	var leader *harness.Node
	err := harness.Poll(2*waitTimeout, fmt.Sprintf("one leader and alive voters %v on every node", ids), func() error {
		l, err := c.Leader()
		if err != nil {
			return err
		}
		for _, n := range c.Nodes() {
			if !n.Running() {
				continue
			}
			st, err := n.Status()
			if err != nil {
				return err
			}
			var voters []string
			for _, m := range st.Members {
				if m.Voter {
					if m.Status != "alive" {
						return fmt.Errorf("voter %s is %s: %s", m.ID, m.Status, st)
					}
					voters = append(voters, m.ID)
				}
			}
			if !slices.Equal(voters, ids) {
				return fmt.Errorf("voters %v: %s", voters, st)
			}
		}
		leader = l
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return leader
}

// waitMemberStatus waits until node n lists member id with status.
func waitMemberStatus(t *testing.T, n *harness.Node, id, status string) {
	t.Helper()
	err := harness.Poll(waitTimeout, fmt.Sprintf("%s to see %s %s", n, id, status), func() error {
		st, err := n.Status()
		if err != nil {
			return err
		}
		for _, m := range st.Members {
			if m.ID == id && m.Status == status {
				return nil
			}
		}
		return fmt.Errorf("%s", st)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// removeMember removes a member through DELETE /v1/cluster/members/{id} of
// node n (no tokens file: the request acts as the admin anonymous).
func removeMember(t *testing.T, n *harness.Node, id string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, "http://"+n.APIAddr()+"/v1/cluster/members/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE /v1/cluster/members/%s on %s: %d; want 200", id, n, resp.StatusCode)
	}
}
