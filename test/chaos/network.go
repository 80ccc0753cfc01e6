package chaos

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/test/chaos/netns"
	"github.com/honua-io/honua-gitops/test/harness"
)

// network is a run's network namespaces (test/chaos/netns): every node
// runs in a namespace of its own, raft, gossip and forwarding go over the
// peer network between them, where the network faults act, and the test
// reaches each node over its client link. The git daemon and the http
// targets listen on the service address, which every namespace reaches
// over its client link.
type network struct {
	nw *netns.Net
	// noDelay says why the network cannot delay packets here ("" when it
	// can: netns.Net.DelayMechanism says how).
	noDelay string

	mu    sync.Mutex
	index map[string]int    // node id → namespace index
	byIP  map[string]string // client address → node id
}

// newNetwork makes a namespace for each of n nodes, or skips the test
// loudly where it cannot (not root, no ip or nft); with CI=true it fails
// it instead (netns.New).
func newNetwork(t *testing.T, n int) *network {
	t.Helper()
	if err := netns.Available(); err != nil {
		fmt.Fprintf(os.Stderr, "SKIP: %s: the network faults need network namespaces: %v\n", t.Name(), err)
	}
	nt := &network{nw: netns.New(t, n), index: map[string]int{}, byIP: map[string]string{}}
	// Probe the delay once, before any fault: node 0 gets a 1ms delay for
	// a moment, by tc netem, or by nfqueue where the kernel has no netem.
	switch err := nt.nw.Delay(0, time.Millisecond, 0); {
	case errors.Is(err, netns.ErrNoDelay):
		nt.noDelay = err.Error()
		t.Logf("network delay: none here, the delay fault is left out: %v", err)
	case err != nil:
		t.Fatalf("probe the network delay: %v", err)
	default:
		if err := nt.nw.Delay(0, 0, 0); err != nil {
			t.Fatalf("probe the network delay: %v", err)
		}
		t.Logf("network delay: by %s", nt.nw.DelayMechanism())
	}
	return nt
}

// serviceHost is where the run's servers listen: the service address of
// the namespaces, or loopback without them.
func (nt *network) serviceHost() string {
	if nt == nil {
		return "127.0.0.1"
	}
	return nt.nw.ServiceIP()
}

// bind records that node n runs in namespace i.
func (nt *network) bind(n *harness.Node, i int) {
	nt.mu.Lock()
	defer nt.mu.Unlock()
	nt.index[n.ID()] = i
	nt.byIP[nt.nw.Node(i).ClientIP] = n.ID()
}

// idx returns the namespace index of node n.
func (nt *network) idx(n *harness.Node) int {
	nt.mu.Lock()
	defer nt.mu.Unlock()
	i, ok := nt.index[n.ID()]
	if !ok {
		panic("chaos: node " + n.ID() + " has no network namespace")
	}
	return i
}

// identify names the node a connection to an agent's proxy comes from, by
// its client address: the namespace it runs in.
func (nt *network) identify(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return ""
	}
	nt.mu.Lock()
	defer nt.mu.Unlock()
	return nt.byIP[host]
}

// describe says, for failure messages and logs, which node is in which
// namespace and what faults are in force (netns names nodes by index).
func (nt *network) describe() string {
	nt.mu.Lock()
	var parts []string
	for id, i := range nt.index {
		parts = append(parts, fmt.Sprintf("%s=%d", id, i))
	}
	nt.mu.Unlock()
	slices.Sort(parts)
	return fmt.Sprintf("%s (node=index: %s)", nt.nw, strings.Join(parts, " "))
}

// addNode adds a node to the cluster with the configuration every node of
// the run gets: in a namespace of its own when the run has them.
func (r *Run) addNode(cfg harness.NodeConfig) *harness.Node {
	r.t.Helper()
	if r.net == nil {
		return r.cluster.Add(cfg)
	}
	i := len(r.cluster.Nodes())
	if i >= r.net.nw.N() {
		var err error
		if i, err = r.net.nw.Add(); err != nil {
			r.t.Fatal(err)
		}
	}
	nc := r.net.nw.NodeConfig(i)
	nc.BootstrapExpect, nc.DataDir = cfg.BootstrapExpect, cfg.DataDir
	n := r.cluster.Add(nc)
	r.net.bind(n, i)
	return n
}

func (r *Run) networkSkip() string {
	if r.net == nil {
		return "the nodes do not run in network namespaces (Options.Network; needs root, ip and nft)"
	}
	return ""
}

func (r *Run) delaySkip() string {
	if why := r.networkSkip(); why != "" {
		return why
	}
	if r.net.noDelay != "" {
		return "NO DELAY: " + r.net.noDelay
	}
	return ""
}

// heal removes every network fault.
func (r *Run) heal() {
	r.t.Helper()
	if err := r.net.nw.HealAll(); err != nil {
		r.t.Fatalf("heal the network: %v\n%s", err, r.net.describe())
	}
	r.Logf("network healed")
}

// netFault applies a change to the network, or fails the test.
func (r *Run) netFault(what string, err error) {
	r.t.Helper()
	if err != nil {
		r.t.Fatalf("%s: %v\n%s", what, err, r.net.describe())
	}
}

func ids(nodes []*harness.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.ID()
	}
	return out
}

// others returns the members but n.
func (r *Run) others(n *harness.Node) []*harness.Node {
	return slices.DeleteFunc(r.members(), func(m *harness.Node) bool { return m == n })
}

// agreedAmong returns the leader every node of nodes names, one of them.
func agreedAmong(nodes []*harness.Node) (*harness.Node, error) {
	id := ""
	for _, n := range nodes {
		st, err := n.Status()
		if err != nil {
			return nil, err
		}
		if st.LeaderID() == "" || (id != "" && st.LeaderID() != id) {
			return nil, fmt.Errorf("%s", st)
		}
		id = st.LeaderID()
	}
	i := slices.IndexFunc(nodes, func(n *harness.Node) bool { return n.ID() == id })
	if i < 0 {
		return nil, fmt.Errorf("%v follow %s, outside them", ids(nodes), id)
	}
	return nodes[i], nil
}

// failover waits until the majority agrees on a leader among them and the
// old leader, cut off from them, no longer says it leads. It returns the
// new leader and how long after cut each happened.
func (r *Run) failover(old *harness.Node, majority []*harness.Node, cut time.Time) (nl *harness.Node, elected, down time.Duration) {
	r.t.Helper()
	err := harness.Poll(leaderTimeout, fmt.Sprintf("a leader among %v, and %s to stop leading", ids(majority), old.ID()), func() error {
		if down == 0 {
			if st, err := old.Status(); err == nil && st.State != "Leader" {
				down = time.Since(cut)
			}
		}
		if nl == nil {
			l, err := agreedAmong(majority)
			if err != nil {
				return err
			}
			nl, elected = l, time.Since(cut)
		}
		if down == 0 {
			return fmt.Errorf("%s still says it leads", old.ID())
		}
		return nil
	})
	if err != nil {
		r.t.Fatalf("%v\n%s", err, r.net.describe())
	}
	return nl, elected, down
}

// cutOff checks the operations sent first to node while it could not
// reach a quorum, from offset from to offset to: none that returned
// before to may be acknowledged (the client moves on to another node only
// when it cannot connect, and node's client link works). It notes how
// they ended, those answered after the network healed apart.
func (r *Run) cutOff(node, what string, from, to time.Duration) {
	r.t.Helper()
	var writes, reads int
	during, after := map[Outcome]int{}, map[Outcome]int{}
	codes := map[string]int{}
	for _, o := range r.history.Ops() {
		if o.Node != node || o.Call < from || o.Call >= to || o.Kind == OpCommit {
			continue
		}
		if o.Kind.write() {
			writes++
		} else {
			reads++
		}
		if o.Outcome == Pending || o.Return >= to {
			after[o.Outcome]++
			continue
		}
		during[o.Outcome]++
		if o.Code != "" {
			codes[o.Code]++
		}
		if o.Outcome == OK {
			r.t.Errorf("%s %s acknowledged an operation while it could not reach a quorum (cut off from %.3fs to %.3fs): %s",
				what, node, from.Seconds(), to.Seconds(), o.String())
		}
	}
	r.note("%s %s, cut off for %v: %d writes and %d consistent reads sent to it; before the heal %d refused, %d unknown, %d ok %v; "+
		"after it %d ok, %d refused, %d unknown, %d pending",
		what, node, (to - from).Round(time.Millisecond), writes, reads, during[Failed], during[Unknown], during[OK], codes,
		after[OK], after[Failed], after[Unknown], after[Pending])
}

// putsFrom counts the PUTs the agents' proxies received from node after
// since, by whether the agent accepted them.
func (r *Run) putsFrom(node string, since time.Time) (accepted, refused int) {
	for _, s := range r.appAgents() {
		for _, p := range s.Puts() {
			if p.From != node || p.Received.Before(since) {
				continue
			}
			if p.Status == 200 {
				accepted++
			} else {
				refused++
			}
		}
	}
	return accepted, refused
}
