package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// testTimeout bounds every wait in these tests. The machine is small and
// shared and tests run with -race, so it is generous; a healthy run takes a
// fraction of it.
const testTimeout = 30 * time.Second

// testLogger discards logs unless HONUA_TEST_LOG is set.
func testLogger(name string) *slog.Logger {
	if os.Getenv("HONUA_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name)
}

// testConfig returns a node configuration on loopback with free ports and
// 50 ms raft timeouts.
func testConfig(t testing.TB, id string, expect int) Config {
	cfg := FastConfig(id, filepath.Join(t.TempDir(), id), expect)
	cfg.Logger = testLogger(id)
	return cfg
}

// testNode is one in-process node of a testCluster.
type testNode struct {
	cfg  Config
	node *Node
	fsm  *fsm.FSM
}

func (tn *testNode) id() string { return tn.cfg.NodeID }

// testCluster is an in-process cluster of real nodes on loopback.
type testCluster struct {
	t     testing.TB
	mu    sync.Mutex
	nodes []*testNode
}

// newTestCluster starts n nodes with --bootstrap-expect n, all joined to
// each other, and waits for a leader.
func newTestCluster(t testing.TB, n int, adjust ...func(*Config)) *testCluster {
	t.Helper()
	tc := newUnstartedCluster(t, n, adjust...)
	tc.startAll()
	tc.waitForLeader()
	return tc
}

// newUnstartedCluster creates n nodes (stores open, listeners bound) joined
// to each other's gossip addresses, without starting them.
func newUnstartedCluster(t testing.TB, n int, adjust ...func(*Config)) *testCluster {
	t.Helper()
	tc := &testCluster{t: t}
	for i := range n {
		cfg := testConfig(t, fmt.Sprintf("node%d", i+1), n)
		for _, a := range adjust {
			a(&cfg)
		}
		tc.nodes = append(tc.nodes, tc.open(cfg))
	}
	tc.joinAll()
	t.Cleanup(tc.shutdownAll)
	return tc
}

// joinAll makes every node join every other's gossip address on Start.
func (tc *testCluster) joinAll() {
	var addrs []string
	for _, tn := range tc.nodes {
		addrs = append(addrs, tn.node.GossipAddr())
	}
	for _, tn := range tc.nodes {
		tn.node.cfg.Join = addrs
		tn.cfg.Join = addrs
	}
}

// open creates a node and pins its listen addresses to the ones it got, so
// a restart comes back at the same addresses.
func (tc *testCluster) open(cfg Config) *testNode {
	tc.t.Helper()
	f := fsm.New(nil)
	n, err := New(cfg, f)
	if err != nil {
		tc.t.Fatalf("New(%s): %v", cfg.NodeID, err)
	}
	cfg.RaftBind = n.RaftAddr()
	cfg.GossipBind = n.GossipAddr()
	n.cfg.RaftBind, n.cfg.GossipBind = cfg.RaftBind, cfg.GossipBind
	return &testNode{cfg: cfg, node: n, fsm: f}
}

// startAll starts every node at the same moment.
func (tc *testCluster) startAll() {
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	for _, tn := range tc.nodes {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-gate
			tn.node.Start()
		}()
	}
	ready.Wait()
	close(gate)
	done.Wait()
}

func (tc *testCluster) shutdownAll() {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for _, tn := range tc.nodes {
		if tn.node != nil {
			_ = tn.node.Shutdown(false)
		}
	}
}

// running returns the nodes that are up.
func (tc *testCluster) running() []*testNode {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	var out []*testNode
	for _, tn := range tc.nodes {
		if tn.node != nil {
			out = append(out, tn)
		}
	}
	return out
}

// stop shuts a node down; leave says whether it leaves gracefully.
func (tc *testCluster) stop(tn *testNode, leave bool) {
	tc.t.Helper()
	tc.mu.Lock()
	n := tn.node
	tn.node = nil
	tc.mu.Unlock()
	if err := n.Shutdown(leave); err != nil {
		tc.t.Fatalf("Shutdown(%s): %v", tn.id(), err)
	}
}

// restart brings a stopped node back on its data dir and addresses.
func (tc *testCluster) restart(tn *testNode) {
	tc.t.Helper()
	fresh := tc.open(tn.cfg)
	tc.mu.Lock()
	tn.node, tn.fsm = fresh.node, fresh.fsm
	tc.mu.Unlock()
	tn.node.Start()
}

// waitFor polls cond until it returns nil or the deadline passes, then
// fails with what it was waiting for and cond's last error.
func waitFor(t testing.TB, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s: %v", testTimeout, what, err)
		}
		<-tick.C
	}
}

// waitForLeader waits until every running node agrees on one leader that
// is running, and returns it.
func (tc *testCluster) waitForLeader() *testNode {
	tc.t.Helper()
	var leader *testNode
	waitFor(tc.t, "one leader that every running node agrees on", func() error {
		leader = nil
		nodes := tc.running()
		for _, tn := range nodes {
			if tn.node.LeaderReady() {
				if leader != nil {
					return fmt.Errorf("two leaders: %s and %s", leader.id(), tn.id())
				}
				leader = tn
			}
		}
		if leader == nil {
			return errors.New("no node has established leadership")
		}
		for _, tn := range nodes {
			if id, _ := tn.node.Leader(); id != leader.id() {
				return fmt.Errorf("%s thinks the leader is %q, not %s", tn.id(), id, leader.id())
			}
		}
		return nil
	})
	return leader
}

// waitForNewLeader waits for a leader other than old.
func (tc *testCluster) waitForNewLeader(old *testNode) *testNode {
	tc.t.Helper()
	waitFor(tc.t, "a leader other than "+old.id(), func() error {
		for _, tn := range tc.running() {
			if tn != old && tn.node.LeaderReady() {
				return nil
			}
		}
		return errors.New("no new leader yet")
	})
	return tc.waitForLeader()
}

func (tc *testCluster) followers() []*testNode {
	leader := tc.waitForLeader()
	var out []*testNode
	for _, tn := range tc.running() {
		if tn != leader {
			out = append(out, tn)
		}
	}
	return out
}

// apply applies c on whichever node leads, retrying while leadership moves.
func (tc *testCluster) apply(c fsm.Command) (any, uint64) {
	tc.t.Helper()
	var res any
	var index uint64
	waitFor(tc.t, fmt.Sprintf("apply %T", c), func() error {
		leader := tc.waitForLeader()
		r, err := leader.node.Apply(context.Background(), c)
		if errors.Is(err, ErrNotLeader) || errors.Is(err, ErrLeadershipLost) {
			return err
		}
		if err != nil {
			tc.t.Fatalf("apply %T: %v", c, err)
		}
		res, index = r, leader.node.raft.AppliedIndex()
		return nil
	})
	return res, index
}

// waitForApplied waits until every running node applied index.
func (tc *testCluster) waitForApplied(index uint64) {
	tc.t.Helper()
	for _, tn := range tc.running() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		err := tn.fsm.WaitForIndex(ctx, index)
		cancel()
		if err != nil {
			tc.t.Fatalf("node %s: %v", tn.id(), err)
		}
	}
}

// voters returns the voter ids in a node's raft configuration.
func voters(n *Node) (map[string]string, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			out[string(s.ID)] = string(s.Address)
		}
	}
	return out, nil
}

func observe(env, commit string) *fsm.ObserveCommit {
	return &fsm.ObserveCommit{Environment: env, Commit: commit, Time: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
}
