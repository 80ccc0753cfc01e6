package cluster

import (
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestPreVoteHastensTheElection: when the leader dies, the follower that
// notices first asks the other for a pre-vote; the other, silent from the
// leader for a heartbeat timeout too, stands for election then instead of
// at its own next check (up to two heartbeat timeouts later).
//
// The followers get different heartbeat timeouts, 200 ms and 1 s, so that
// the fast one always asks first. The slow one's own check falls at a
// random moment one to two of its heartbeat timeouts apart; if one falls
// right when its heartbeat timeout has passed, raft's own check wins the
// race the test looks at, and the test tries again (it cannot happen three
// times but by a very long chance).
func TestPreVoteHastensTheElection(t *testing.T) {
	const attempts = 3
	for attempt := 1; ; attempt++ {
		tc := newTestCluster(t, 3)
		old := tc.waitForLeader()
		f := tc.followers()
		fast, slow := f[0], f[1]
		setTimeouts(t, fast, 200*time.Millisecond)
		setTimeouts(t, slow, time.Second)
		tc.stop(old, false)
		leader := tc.waitForNewLeader(old)
		if n := slow.node.hastened.Load(); n > 0 {
			t.Logf("attempt %d: %s stood for election on %s's pre-vote; %s leads", attempt, slow.id(), fast.id(), leader.id())
			return
		}
		if attempt == attempts {
			t.Fatalf("%d attempts: %s never stood for election on a pre-vote after a heartbeat timeout without the leader (%s led each time)",
				attempts, slow.id(), leader.id())
		}
		t.Logf("attempt %d: %s's own heartbeat check came first; trying again", attempt, slow.id())
		tc.shutdownAll()
	}
}

// setTimeouts gives a running node's raft these heartbeat and election
// timeouts (the test clusters' lease, 50 ms, stays below them).
func setTimeouts(t *testing.T, tn *testNode, d time.Duration) {
	t.Helper()
	rc := tn.node.raft.ReloadableConfig()
	rc.HeartbeatTimeout, rc.ElectionTimeout = d, d
	if err := tn.node.raft.ReloadConfig(rc); err != nil {
		t.Fatalf("%s: ReloadConfig(heartbeat %v): %v", tn.id(), d, err)
	}
}

// TestRunHeartbeatCheckNeedsAShorterLease: the heartbeat check can be run
// early only when the lease is shorter than the heartbeat timeout, and
// running it leaves raft's heartbeat timeout as it was.
func TestRunHeartbeatCheckNeedsAShorterLease(t *testing.T) {
	tc := newTestCluster(t, 1) // lease = heartbeat timeout = 50 ms
	tn := tc.nodes[0]
	if tn.node.runHeartbeatCheck() {
		t.Error("runHeartbeatCheck with a lease as long as the heartbeat timeout = true; want raft to refuse it")
	}
	setTimeouts(t, tn, 100*time.Millisecond)
	if !tn.node.runHeartbeatCheck() {
		t.Error("runHeartbeatCheck with a 50 ms lease and a 100 ms heartbeat timeout = false; want true")
	}
	if got := tn.node.raft.ReloadableConfig().HeartbeatTimeout; got != 100*time.Millisecond {
		t.Errorf("heartbeat timeout after runHeartbeatCheck = %v; want it restored to 100ms", got)
	}
	if tn.node.raft.State() != raft.Leader {
		t.Errorf("a lone leader is %v after runHeartbeatCheck; want it still Leader", tn.node.raft.State())
	}
}

// TestLoneVoterLeadsAtOnceOnRestart: a one-node cluster restarted with a
// heartbeat timeout of ten minutes leads at once (within the test's wait,
// far shorter): its configuration has no other voter to hear from, so it
// stands for election without waiting for one.
func TestLoneVoterLeadsAtOnceOnRestart(t *testing.T) {
	tc := newTestCluster(t, 1)
	tn := tc.nodes[0]
	tc.apply(observe("production", "c1"))
	tc.stop(tn, false)
	tn.cfg.HeartbeatTimeout, tn.cfg.ElectionTimeout = 10*time.Minute, 10*time.Minute
	tc.restart(tn)
	if got := tn.node.raft.ReloadableConfig().HeartbeatTimeout; got != 10*time.Minute {
		t.Fatalf("restarted with heartbeat timeout %v; want 10m", got)
	}
	tc.waitForLeader()
	if tn.node.electedAlone.Load() != 1 {
		t.Errorf("the lone voter led without standing at once (electedAlone = %d)", tn.node.electedAlone.Load())
	}
}
