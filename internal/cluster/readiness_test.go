package cluster

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/raft"
)

// replicationGate holds back, while it is shut, the AppendEntries RPCs (log
// entries and the leader's commit index) a node's raft receives. Heartbeats
// bypass it, so the node keeps knowing its leader.
type replicationGate struct {
	mu   sync.Mutex
	open chan struct{} // closed while the gate is open
	held atomic.Int64
}

func newReplicationGate(shut bool) *replicationGate {
	g := &replicationGate{open: make(chan struct{})}
	if !shut {
		close(g.open)
	}
	return g
}

// hook is the node's rpcHook.
func (g *replicationGate) hook(rpc raft.RPC) {
	if _, ok := rpc.Command.(*raft.AppendEntriesRequest); !ok {
		return
	}
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
		return
	default:
	}
	g.held.Add(1)
	<-open
}

// shut starts holding RPCs back.
func (g *replicationGate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default:
	}
}

// release lets the held RPCs and every later one through.
func (g *replicationGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

func waitReady(t *testing.T, tn *testNode) {
	t.Helper()
	waitFor(t, tn.id()+" to be ready", func() error {
		if ok, why := tn.node.Ready(); !ok {
			return errors.New(why)
		}
		return nil
	})
}

// A node that joins a cluster holding many entries learns the leader from
// its first heartbeat, long before it has the log. It must not say it is
// ready until it has applied what the leader had committed.
func TestNewNodeNotReadyUntilItAppliedTheLeadersCommitIndex(t *testing.T) {
	tc := newTestCluster(t, 3)
	for i := range 100 {
		tc.apply(observe(fmt.Sprintf("env-%d", i%5), fmt.Sprintf("c%d", i)))
	}
	leader := tc.waitForLeader()
	committed := leader.node.raft.CommitIndex()

	gate := newReplicationGate(true)
	t.Cleanup(gate.release) // before the cluster's cleanup, which waits for raft
	cfg := testConfig(t, "node4", 0)
	cfg.Join = []string{tc.nodes[0].node.GossipAddr()}
	cfg.rpcHook = gate.hook
	fresh := tc.open(cfg)
	tc.mu.Lock()
	tc.nodes = append(tc.nodes, fresh)
	tc.mu.Unlock()
	fresh.node.Start()

	waitFor(t, "node4 to know the leader while its replication is held back", func() error {
		if id, _ := fresh.node.Leader(); id == "" {
			return errors.New("no leader known")
		}
		if gate.held.Load() == 0 {
			return errors.New("no AppendEntries held yet")
		}
		return nil
	})
	if ok, why := fresh.node.Ready(); ok {
		t.Errorf("node4 Ready() = true with applied index %d, while the leader had committed %d before it joined",
			fresh.node.AppliedIndex(), committed)
	} else {
		t.Logf("node4 held back: not ready: %s", why)
	}

	gate.release()
	waitReady(t, fresh)
	if applied := fresh.node.AppliedIndex(); applied < committed {
		t.Errorf("node4 ready at applied index %d; want at least the leader's commit index %d", applied, committed)
	}
}

// A follower that stops receiving the log (its store stuck, say) keeps
// knowing the leader through heartbeats. It must stop saying it is ready
// once it falls behind what the leader committed, and be ready again when
// it catches up.
func TestStuckFollowerTurnsNotReady(t *testing.T) {
	gates := map[string]*replicationGate{}
	for i := 1; i <= 3; i++ {
		gates[fmt.Sprintf("node%d", i)] = newReplicationGate(false)
	}
	tc := newTestCluster(t, 3, func(c *Config) { c.rpcHook = gates[c.NodeID].hook })
	for _, g := range gates {
		t.Cleanup(g.release)
	}
	for _, tn := range tc.running() {
		waitReady(t, tn)
	}
	stuck := tc.followers()[0]
	gates[stuck.id()].shut()
	var last uint64
	for i := range 10 {
		_, last = tc.apply(observe("development", fmt.Sprintf("while-stuck-%d", i)))
	}
	// The case wanted is a follower that still hears heartbeats: on a
	// loaded machine the 50 ms timeouts can cost it its leader for a while,
	// so it must be not ready at a moment when it knows one.
	waitFor(t, stuck.id()+" to report not ready while it is stuck and knows a leader", func() error {
		if ok, _ := stuck.node.Ready(); ok {
			return fmt.Errorf("still ready at applied index %d; the leader committed %d", stuck.node.AppliedIndex(), last)
		}
		if id, _ := stuck.node.Leader(); id == "" {
			return errors.New("it knows no leader now")
		}
		return nil
	})
	_, why := stuck.node.Ready()
	t.Logf("stuck follower: not ready: %s", why)

	gates[stuck.id()].release()
	waitReady(t, stuck)
	if applied := stuck.node.AppliedIndex(); applied < last {
		t.Errorf("%s ready again at applied index %d; want at least %d", stuck.id(), applied, last)
	}
}
