package chaos

import (
	"fmt"
	"slices"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

// Network injects network faults between the nodes of a run, by node id.
// The network-fault layer (test/chaos/netns) implements it; a run without
// one leaves the network faults out of its schedule, and their tests skip.
type Network interface {
	// Partition splits the nodes into groups that cannot reach each
	// other; a node in no group keeps every link.
	Partition(groups ...[]string) error
	// Delay delays every packet to and from the node by d.
	Delay(node string, d time.Duration) error
	// Heal removes every partition and delay.
	Heal() error
}

func (r *Run) networkSkip() string {
	if r.opts.Network == nil {
		return "no Network given (network faults need test/chaos/netns)"
	}
	return ""
}

func (r *Run) heal() {
	r.t.Helper()
	if err := r.opts.Network.Heal(); err != nil {
		r.t.Fatalf("heal the network: %v", err)
	}
}

func ids(nodes []*harness.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.ID()
	}
	return out
}

// majorityLeader waits until the nodes of a majority agree on a leader
// among them (the minority may still believe in another), and returns it.
func (r *Run) majorityLeader(majority []*harness.Node) *harness.Node {
	r.t.Helper()
	var leader *harness.Node
	err := harness.Poll(leaderTimeout, fmt.Sprintf("a leader among %v", majority), func() error {
		id := ""
		for _, n := range majority {
			st, err := n.Status()
			if err != nil {
				return err
			}
			if st.LeaderID() == "" || (id != "" && st.LeaderID() != id) {
				return fmt.Errorf("%s", st)
			}
			id = st.LeaderID()
		}
		i := slices.IndexFunc(majority, func(n *harness.Node) bool { return n.ID() == id })
		if i < 0 {
			return fmt.Errorf("the majority follows %s, outside it", id)
		}
		leader = majority[i]
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return leader
}

// partitionLeader cuts the leader off from every other node; the majority
// elects another leader, the old one must step down (and cannot deploy:
// fencing); then the network heals.
func (r *Run) partitionLeader() {
	r.t.Helper()
	old := r.leader()
	var rest []*harness.Node
	for _, n := range r.members() {
		if n != old {
			rest = append(rest, n)
		}
	}
	if err := r.opts.Network.Partition([]string{old.ID()}, ids(rest)); err != nil {
		r.t.Fatalf("partition %s from %v: %v", old.ID(), ids(rest), err)
	}
	r.outage("partition of leader " + old.ID())
	nl := r.majorityLeader(rest)
	r.Logf("partitioned leader %s away; %s leads the majority", old.ID(), nl.ID())
	r.idle(r.between(time.Second, 3*time.Second))
	r.heal()
	r.waitCaughtUp(old)
}

// partitionFollower cuts a follower off from every other node for a
// while.
func (r *Run) partitionFollower() {
	r.t.Helper()
	f := r.follower(nil)
	var rest []*harness.Node
	for _, n := range r.members() {
		if n != f {
			rest = append(rest, n)
		}
	}
	if err := r.opts.Network.Partition([]string{f.ID()}, ids(rest)); err != nil {
		r.t.Fatalf("partition %s from %v: %v", f.ID(), ids(rest), err)
	}
	r.Logf("partitioned follower %s away", f.ID())
	r.idle(r.between(time.Second, 3*time.Second))
	r.heal()
	r.waitCaughtUp(f)
}

// delayNetwork delays every node's packets for a while.
func (r *Run) delayNetwork() {
	r.t.Helper()
	d := r.between(20*time.Millisecond, 200*time.Millisecond)
	for _, n := range r.members() {
		if err := r.opts.Network.Delay(n.ID(), d); err != nil {
			r.t.Fatalf("delay %s: %v", n.ID(), err)
		}
	}
	r.Logf("delayed every node's packets by %v", d)
	r.idle(r.between(2*time.Second, 4*time.Second))
	r.heal()
	r.waitCaughtUp(r.members()...)
}
