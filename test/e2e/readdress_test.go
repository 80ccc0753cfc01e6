package e2e

import (
	"fmt"
	"testing"

	"github.com/honua-io/honua-gitops/test/harness"
)

// TestWholeClusterComesBackAtNewAddresses: every node is stopped and
// started again on its data dir at a new IP — all pods of a StatefulSet
// rescheduled at once. Raft's configuration still holds the old addresses;
// the nodes find each other through gossip and raft dials the addresses
// gossip gives for each server id, so they elect a leader again.
func TestWholeClusterComesBackAtNewAddresses(t *testing.T) {
	skipIfShort(t)
	addrs := func(ip string) (string, string, string) {
		p := harness.FreePorts(t, 3)
		return fmt.Sprintf("%s:%d", ip, p[0]), fmt.Sprintf("%s:%d", ip, p[1]), fmt.Sprintf("%s:%d", ip, p[2])
	}
	first := harness.New(t, harness.Options{})
	for i := range 3 {
		h, r, g := addrs(fmt.Sprintf("127.0.0.%d", 11+i))
		first.Add(harness.NodeConfig{ID: fmt.Sprintf("n%d", i+1), BootstrapExpect: 3, HTTPAddr: h, RaftAddr: r, GossipAddr: g})
	}
	for _, n := range first.Nodes() {
		n.Start()
	}
	leader := waitForHealthy(t, first, "n1", "n2", "n3")
	before := mustStatus(t, leader)
	stopAll(t, first)

	second := harness.New(t, harness.Options{})
	for i, old := range first.Nodes() {
		h, r, g := addrs(fmt.Sprintf("127.0.0.%d", 21+i))
		second.Add(harness.NodeConfig{ID: old.ID(), DataDir: old.DataDir(), HTTPAddr: h, RaftAddr: r, GossipAddr: g})
	}
	for _, n := range second.Nodes() {
		n.Start()
	}
	leader = waitForHealthy(t, second, "n1", "n2", "n3")
	after := mustStatus(t, leader)
	if after.LastIndex < before.LastIndex {
		t.Errorf("the log went back: last index %d after, %d before", after.LastIndex, before.LastIndex)
	}
	// The leader moves the others' raft entries to their new addresses.
	err := harness.Poll(waitTimeout, "every voter at its new address", func() error {
		st, err := leader.Status()
		if err != nil {
			return err
		}
		for _, m := range st.Members {
			if m.Voter && m.RaftAddr != second.Node(m.ID).RaftAddr() {
				return fmt.Errorf("%s is a voter at %s, not %s", m.ID, m.RaftAddr, second.Node(m.ID).RaftAddr())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
