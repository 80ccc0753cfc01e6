package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/test/harness"
)

// TestRecoverFromQuorumLoss follows docs/operations.md's quorum-loss
// runbook on real processes. A three-node cluster with deployments (one
// Completed, one AwaitingApproval) loses two nodes and their disks: the
// survivor has no leader and refuses writes. The operator stops it, runs
// honuad recover with a peers.json that lists only the survivor, and starts
// it: it leads a one-node cluster with every record it had. Two fresh nodes
// (new ids, empty data dirs) join it, and the three hold the same state,
// approve the waiting deployment, and deploy it.
func TestRecoverFromQuorumLoss(t *testing.T) {
	skipIfShort(t)
	s := newScenarioFixture(t)
	s.start()
	token := s.adminToken(t)
	dev := s.waitFor(t, s.deploymentOf(t, "development", s.first), "Completed")
	prod := s.waitFor(t, s.deploymentOf(t, "production", s.first), "AwaitingApproval")
	before := waitSameState(t, s.c, token)

	// The survivor is a follower: the lost nodes include the leader.
	leader, err := s.c.WaitForLeader(waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	var survivor *harness.Node
	var lost []*harness.Node
	for _, n := range s.c.Nodes() {
		if n != leader && survivor == nil {
			survivor = n
		} else {
			lost = append(lost, n)
		}
	}
	want, err := recordsOf(survivor, token)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("state before the loss: %s; leader %s, survivor %s", before, leader, survivor)

	for _, n := range lost {
		n.Kill()
	}
	if err := harness.Poll(waitTimeout, survivor.ID()+" to lose its leader", func() error {
		ready, why, err := survivor.Ready()
		if err == nil && ready {
			err = fmt.Errorf("still ready")
		}
		if err == nil {
			t.Logf("%s: GET /readyz: 503 %q", survivor, why)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Run("writes are refused without quorum", func(t *testing.T) {
		res := s.ctl(t, "alice", survivor.APIAddr(), "approve", prod.ID)
		if res.code != 1 || !strings.Contains(res.stderr, "503 no_leader") {
			t.Errorf("approving without quorum: %s\nwant exit 1 with 503 no_leader", res)
		}
	})

	peers := filepath.Join(t.TempDir(), "peers.json")
	writePeers(t, peers, survivor)
	t.Run("recover refuses a running node", func(t *testing.T) {
		code, stderr := runHonuad(t, "recover", "--node-id", survivor.ID(), "--data-dir", survivor.DataDir(), "--peers", peers)
		if code == 0 || !strings.Contains(stderr, "stop the node first") {
			t.Errorf("honuad recover on a running node's data dir: exit %d, %q; want a refusal saying to stop it", code, stderr)
		}
	})

	if code, err := survivor.Stop(); err != nil || code != 0 {
		t.Fatalf("stop survivor %s: exit %d, %v; want 0", survivor, code, err)
	}
	for _, n := range lost {
		if err := os.RemoveAll(n.DataDir()); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("recover refuses peers without this node", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "peers.json")
		writePeers(t, other, lost[0])
		code, stderr := runHonuad(t, "recover", "--node-id", survivor.ID(), "--data-dir", survivor.DataDir(), "--peers", other)
		if code == 0 || !strings.Contains(stderr, "does not list this node") {
			t.Errorf("honuad recover with peers.json naming only %s: exit %d, %q; want a refusal", lost[0], code, stderr)
		}
	})
	if code, stderr := runHonuad(t, "recover", "--node-id", survivor.ID(), "--data-dir", survivor.DataDir(), "--peers", peers); code != 0 {
		t.Fatalf("honuad recover: exit %d: %s", code, stderr)
	}

	survivor.Restart()
	waitForHealthy(t, s.c, survivor.ID())
	if got := waitSameState(t, s.c, token); got != before {
		t.Errorf("recovered %s holds %s; want the state it had before the loss, %s", survivor, got, before)
	}
	if got, err := recordsOf(survivor, token); err != nil {
		t.Fatal(err)
	} else if !got.equal(want) {
		t.Errorf("recovered %s answers\n%s\n%s\nwant what it answered before the loss:\n%s\n%s",
			survivor, got.Environments, got.Deployments, want.Environments, want.Deployments)
	}

	// Fresh nodes: new ids, empty data dirs, joining the survivor.
	n4 := s.c.Add(harness.NodeConfig{ID: "n4", Join: []string{survivor.GossipAddr()}})
	n5 := s.c.Add(harness.NodeConfig{ID: "n5", Join: []string{survivor.GossipAddr()}})
	n4.Start()
	n5.Start()
	waitForHealthy(t, s.c, survivor.ID(), "n4", "n5")
	if got := waitSameState(t, s.c, token); got != before {
		t.Errorf("the recovered cluster holds %s; want the state before the loss, %s", got, before)
	}
	for _, n := range []*harness.Node{n4, n5} {
		if got, err := recordsOf(n, token); err != nil {
			t.Fatal(err)
		} else if !got.equal(want) {
			t.Errorf("fresh node %s answers\n%s\n%s\nwant the survivor's records:\n%s\n%s",
				n, got.Environments, got.Deployments, want.Environments, want.Deployments)
		}
	}

	// The recovered cluster takes writes and deploys.
	s.approveThroughFollower(t, prod.ID)
	done := s.waitFor(t, prod.ID, "Completed")
	s.checkTarget(t, "production", done.ID, s.files["production"][s.first])
	s.checkTarget(t, "development", dev.ID, s.files["development"][s.first])
	after := waitSameState(t, s.c, token)
	t.Logf("recovered cluster %s, n4, n5 completed %s; state %s", survivor, done.ID, after)
}

// writePeers writes a peers.json listing the nodes' raft addresses.
func writePeers(t *testing.T, path string, nodes ...*harness.Node) {
	t.Helper()
	type peer struct {
		ID      string `json:"id"`
		Address string `json:"address"`
	}
	var ps []peer
	for _, n := range nodes {
		ps = append(ps, peer{ID: n.ID(), Address: n.RaftAddr()})
	}
	b, err := json.Marshal(ps)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
