// Package clustertest starts in-process clusters of real nodes — raft,
// memberlist and the FSM on loopback with 50 ms timeouts — for the tests of
// packages built on the cluster (reconcile, rpc).
package clustertest

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

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// Timeout bounds every wait. Tests run with -race on small shared machines,
// so it is generous; a healthy wait takes a fraction of it.
const Timeout = 60 * time.Second

// Node is one in-process node.
type Node struct {
	*cluster.Node
	FSM *fsm.FSM
	// Stopped is set once the test stopped the node.
	Stopped bool
}

// Options adjust a test cluster.
type Options struct {
	// Setup runs for each node after it is created and before it starts:
	// register leader work here.
	Setup func(i int, n *cluster.Node, f *fsm.FSM)
	// Adjust changes a node's configuration before it is created.
	Adjust func(i int, cfg *cluster.Config)
}

// Cluster is a running test cluster.
type Cluster struct {
	t     testing.TB
	mu    sync.Mutex
	nodes []*Node
}

// Start starts n nodes bootstrapping one cluster and waits for its leader.
// Everything is shut down when the test ends.
func Start(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	var first string
	for i := range n {
		id := fmt.Sprintf("node%d", i+1)
		cfg := cluster.FastConfig(id, filepath.Join(t.TempDir(), id), n)
		cfg.Logger = logger(id)
		if first != "" {
			cfg.Join = []string{first}
		}
		if opts.Adjust != nil {
			opts.Adjust(i, &cfg)
		}
		f := fsm.New(nil)
		node, err := cluster.New(cfg, f)
		if err != nil {
			t.Fatalf("clustertest: create %s: %v", id, err)
		}
		if first == "" {
			first = node.GossipAddr()
		}
		if opts.Setup != nil {
			opts.Setup(i, node, f)
		}
		c.nodes = append(c.nodes, &Node{Node: node, FSM: f})
	}
	t.Cleanup(c.shutdown)
	for _, node := range c.nodes {
		node.Start()
	}
	c.Leader()
	return c
}

// logger discards logs unless HONUA_TEST_LOG is set.
func logger(id string) *slog.Logger {
	if os.Getenv("HONUA_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", id)
}

func (c *Cluster) shutdown() {
	for _, n := range c.Running() {
		_ = n.Shutdown(false)
	}
}

// Nodes returns every node, stopped or not.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Node(nil), c.nodes...)
}

// Running returns the nodes that were not stopped.
func (c *Cluster) Running() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Node
	for _, n := range c.nodes {
		if !n.Stopped {
			out = append(out, n)
		}
	}
	return out
}

// Stop shuts a node down as a crash would (no graceful leave).
func (c *Cluster) Stop(n *Node) {
	c.t.Helper()
	c.mu.Lock()
	n.Stopped = true
	c.mu.Unlock()
	if err := n.Shutdown(false); err != nil {
		c.t.Fatalf("clustertest: stop %s: %v", n.ID(), err)
	}
}

// WaitFor polls cond until it returns nil, failing the test with what it
// waited for and cond's last error after Timeout.
func WaitFor(t testing.TB, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s: %v", Timeout, what, err)
		}
		<-tick.C
	}
}

// Leader waits until every running node agrees on one established leader
// and returns it.
func (c *Cluster) Leader() *Node {
	c.t.Helper()
	var leader *Node
	WaitFor(c.t, "one leader every running node agrees on", func() error {
		leader = nil
		nodes := c.Running()
		for _, n := range nodes {
			if n.LeaderReady() {
				if leader != nil {
					return fmt.Errorf("two leaders: %s and %s", leader.ID(), n.ID())
				}
				leader = n
			}
		}
		if leader == nil {
			return errors.New("no node has established leadership")
		}
		for _, n := range nodes {
			if id, _ := n.Leader(); id != leader.ID() {
				return fmt.Errorf("%s thinks the leader is %q, not %s", n.ID(), id, leader.ID())
			}
		}
		return nil
	})
	return leader
}

// Apply applies cmd on the leader, retrying while leadership moves, and
// returns the FSM's result or refusal.
//
// A command whose leader lost its leadership mid-flight may have committed
// all the same: its retry is then refused. For a TransitionDeployment —
// what the tests apply most, and not idempotent — a refused retry whose
// deployment stands where the command took it is taken as the lost
// attempt's success, and the deployment is returned. An Approve whose
// retry answers a duplicate, by an identity that had not approved before
// the first attempt, answers as that first attempt did: not a duplicate.
func (c *Cluster) Apply(cmd fsm.Command) (any, error) {
	c.t.Helper()
	var res any
	var applyErr error
	lost := false
	// An approval whose first attempt committed before leadership was lost
	// answers its retry as a duplicate: know whether it was one before.
	ap, isApprove := cmd.(*fsm.Approve)
	approvedBefore := isApprove && hasApproved(c.Leader().FSM, ap)
	WaitFor(c.t, fmt.Sprintf("apply %T", cmd), func() error {
		leader := c.Leader()
		r, err := leader.Apply(context.Background(), cmd)
		if errors.Is(err, cluster.ErrNotLeader) || errors.Is(err, cluster.ErrLeadershipLost) {
			lost = lost || errors.Is(err, cluster.ErrLeadershipLost)
			return err
		}
		res, applyErr = r, err
		if tr, ok := cmd.(*fsm.TransitionDeployment); ok && lost && errors.Is(err, fsm.ErrIllegalTransition) {
			if d, ok := leader.FSM.Deployment(tr.ID); ok && d.State == tr.To {
				if n := len(d.Transitions); n > 0 && d.Transitions[n-1].Time.Time().Equal(tr.Time) {
					res, applyErr = d, nil
				}
			}
		}
		if ar, ok := r.(*fsm.ApproveResult); ok && isApprove && lost && err == nil && ar.Duplicate && !approvedBefore {
			first := *ar
			first.Duplicate = false
			res = &first
		}
		return nil
	})
	return res, applyErr
}

// hasApproved reports whether ap's identity has approved its deployment in
// f.
func hasApproved(f *fsm.FSM, ap *fsm.Approve) bool {
	d, ok := f.Deployment(ap.ID)
	if !ok {
		return false
	}
	for _, a := range d.Approvals {
		if a.Identity == ap.Identity {
			return true
		}
	}
	return false
}

// WaitForState waits until cond holds on every running node's FSM.
func (c *Cluster) WaitForState(what string, cond func(f *fsm.FSM) error) {
	c.t.Helper()
	WaitFor(c.t, what+" on every node", func() error {
		for _, n := range c.Running() {
			if err := cond(n.FSM); err != nil {
				return fmt.Errorf("%s: %w", n.ID(), err)
			}
		}
		return nil
	})
}
