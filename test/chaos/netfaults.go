package chaos

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

// The network faults act on the peer network between the nodes'
// namespaces (network.go); the clients keep reaching every node on its
// client link, so the workload goes on sending to a node that is cut off.

const (
	// longPartition is how long partition-follower-long cuts a follower
	// off: longer than memberlist's GossipToTheDeadTime (30 s), after
	// which the others stop gossiping with a member they declared dead and
	// only honuad's reconnect loop (every 10 s) brings it back.
	longPartition = 40 * time.Second
	// rejoinTimeout bounds how long, after a long partition heals, every
	// node may take to list every member alive again.
	rejoinTimeout = 40 * time.Second
)

// partitionLeader cuts the leader off from the majority on the peer
// network while clients still reach it. The majority elects another
// leader; the old one steps down and acknowledges nothing it is sent; the
// network heals and it catches up.
func (r *Run) partitionLeader() {
	r.t.Helper()
	old := r.leader()
	rest := r.others(old)
	start := time.Now()
	r.netFault("isolate leader "+old.ID(), r.net.nw.Isolate(r.net.idx(old)))
	// Operations sent from here on cannot reach a quorum; those sent
	// while the rules went in may have.
	from := r.history.Since()
	r.outage("partition of leader " + old.ID())
	r.Logf("cut leader %s off from %v (clients still reach it): %s", old.ID(), ids(rest), r.net.describe())
	nl, elected, down := r.failover(old, rest, start)
	r.Logf("%s leads the majority %v after the cut; %s stopped leading after %v",
		nl.ID(), elected.Round(time.Millisecond), old.ID(), down.Round(time.Millisecond))
	// Long enough for requests to the old leader to time out before the
	// network heals.
	r.idle(r.between(3*time.Second, 6*time.Second))
	to := r.history.Since()
	r.heal()
	r.waitCaughtUp(old)
	accepted, refused := r.putsFrom(old.ID(), start)
	r.note("partition-leader: %s isolated: %s led the majority after %v; %s stopped leading after %v; its PUTs from the cut on: %d accepted, %d refused",
		old.ID(), nl.ID(), elected.Round(time.Millisecond), old.ID(), down.Round(time.Millisecond), accepted, refused)
	r.cutOff(old.ID(), "partition-leader: the isolated leader", from, to)
}

func (r *Run) partitionOneWayFromLeader() {
	r.t.Helper()
	r.partitionOneWay(true)
}

func (r *Run) partitionOneWayToLeader() {
	r.t.Helper()
	r.partitionOneWay(false)
}

// partitionOneWay drops every packet the leader sends to the followers
// (fromLeader) or every packet the followers send to the leader, on the
// peer network. TCP needs both directions, so no connection between them
// works either way, but UDP (gossip's probes) and segments in flight see
// the asymmetry. The followers elect another leader.
func (r *Run) partitionOneWay(fromLeader bool) {
	r.t.Helper()
	old := r.leader()
	rest := r.others(old)
	start := time.Now()
	for _, f := range rest {
		a, b := r.net.idx(old), r.net.idx(f)
		if !fromLeader {
			a, b = b, a
		}
		r.netFault("drop one way", r.net.nw.DropOneWay(a, b))
	}
	// Every rule is in force from here on (see partitionLeader).
	from := r.history.Since()
	dir := "from leader " + old.ID() + " to " + fmt.Sprint(ids(rest))
	if !fromLeader {
		dir = "from " + fmt.Sprint(ids(rest)) + " to leader " + old.ID()
	}
	r.outage("one-way partition " + dir)
	r.Logf("dropping every packet %s: %s", dir, r.net.describe())
	nl, elected, down := r.failover(old, rest, start)
	r.Logf("%s leads %v after the cut; %s stopped leading after %v",
		nl.ID(), elected.Round(time.Millisecond), old.ID(), down.Round(time.Millisecond))
	r.idle(r.between(3*time.Second, 6*time.Second))
	to := r.history.Since()
	r.heal()
	r.waitCaughtUp(r.members()...)
	name := "partition-one-way-to-leader"
	if fromLeader {
		name = "partition-one-way-from-leader"
	}
	r.note("%s: %s: %s led the followers after %v; %s stopped leading after %v",
		name, dir, nl.ID(), elected.Round(time.Millisecond), old.ID(), down.Round(time.Millisecond))
	r.cutOff(old.ID(), name+": the old leader", from, to)
}

// partitionFlap isolates the leader and heals it again and again, with a
// period around raft's election timeout (1 s), for several seconds:
// elections start, fail and succeed while the workload runs.
func (r *Run) partitionFlap() {
	r.t.Helper()
	old := r.leader()
	before := r.term(old)
	rest := r.others(old)
	period := r.between(700*time.Millisecond, 1500*time.Millisecond)
	d := r.between(5*time.Second, 9*time.Second)
	stop, err := r.net.nw.Flap(context.Background(), period, []int{r.net.idx(old)}, r.indexes(rest))
	r.netFault("flap", err)
	r.outage("flapping partition of leader " + old.ID())
	r.Logf("flapping: leader %s cut off from %v and healed every %v, for %v", old.ID(), ids(rest),
		period.Round(time.Millisecond), d.Round(time.Millisecond))
	r.idle(d)
	r.netFault("stop flapping", stop())
	r.heal()
	r.waitCaughtUp(r.members()...)
	nl := r.leader()
	r.note("partition-flap: %s cut off every other %v for %v; term %d → %d, %s leads after",
		old.ID(), period.Round(time.Millisecond), d.Round(time.Millisecond), before, r.term(nl), nl.ID())
}

// loss loses 20 to 30% of what one node, or every node, sends on the peer
// network for a while.
func (r *Run) loss() {
	r.t.Helper()
	p := 20 + r.rng.IntN(11)
	victims := r.members()
	if r.rng.IntN(2) == 0 {
		victims = []*harness.Node{pick(r.rng, victims)}
	}
	for _, n := range victims {
		r.netFault("loss on "+n.ID(), r.net.nw.Loss(r.net.idx(n), p))
	}
	d := r.between(4*time.Second, 8*time.Second)
	r.Logf("losing %d%% of what %v send on the peer network, for %v", p, ids(victims), d.Round(time.Millisecond))
	r.idle(d)
	r.heal()
	r.waitCaughtUp(r.members()...)
	r.note("loss: %d%% of what %v sent, for %v", p, ids(victims), d.Round(time.Millisecond))
}

// delayNetwork delays what every node sends on the peer network for a
// while (tc netem, or nfqueue on a kernel without netem; left out where
// the kernel has neither).
func (r *Run) delayNetwork() {
	r.t.Helper()
	d := r.between(20*time.Millisecond, 200*time.Millisecond).Round(time.Millisecond)
	for _, n := range r.members() {
		r.netFault("delay "+n.ID(), r.net.nw.Delay(r.net.idx(n), d, d/4))
	}
	by := r.net.nw.DelayMechanism()
	r.Logf("delaying what every node sends by %v±%v, by %s", d, d/4, by)
	long := r.between(2*time.Second, 4*time.Second)
	r.idle(long)
	seen := len(r.net.nw.History())
	r.heal()
	// What each node's nfqueue reader did, if the delay used nfqueue.
	for _, h := range r.net.nw.History()[seen:] {
		if strings.Contains(h, "nfqueue on") {
			r.Logf("netns: %s", h)
		}
	}
	r.waitCaughtUp(r.members()...)
	r.note("delay: what every node sent, by %v±%v for %v (%s)", d, d/4, long.Round(time.Millisecond), by)
}

// partitionFollowerLong cuts a follower off for longer than memberlist
// gossips with a dead member, then heals: every node must list every
// member alive again within rejoinTimeout (honuad rejoins members it sees
// as failed), and the follower catch up.
func (r *Run) partitionFollowerLong() {
	r.t.Helper()
	f := r.follower(nil)
	rest := r.others(f)
	start := time.Now()
	r.netFault("isolate follower "+f.ID(), r.net.nw.Isolate(r.net.idx(f)))
	from := r.history.Since() // see partitionLeader
	r.Logf("cut follower %s off from %v for %v: %s", f.ID(), ids(rest), longPartition, r.net.describe())
	dead := "never"
	err := harness.Poll(longPartition, fmt.Sprintf("%v to see %s dead", ids(rest), f.ID()), func() error {
		for _, n := range rest {
			if st := r.memberStatus(n, f.ID()); st != "dead" {
				return fmt.Errorf("%s sees it %s", n.ID(), st)
			}
		}
		return nil
	})
	if err == nil {
		dead = time.Since(start).Round(time.Millisecond).String()
		r.Logf("%v see %s dead after %s", ids(rest), f.ID(), dead)
	} else {
		r.Logf("%v", err)
	}
	if left := longPartition - time.Since(start); left > 0 {
		r.idle(left)
	}
	to := r.history.Since()
	r.heal()
	healed := time.Now()
	err = harness.Poll(rejoinTimeout, "every node to list every member alive", func() error {
		for _, n := range r.members() {
			for _, m := range r.members() {
				if st := r.memberStatus(n, m.ID()); st != "alive" {
					return fmt.Errorf("%s sees %s %s", n.ID(), m.ID(), st)
				}
			}
		}
		return nil
	})
	rejoined := time.Since(healed).Round(time.Millisecond)
	if err != nil {
		r.t.Errorf("partition-follower-long: after healing a %v partition of %s: %v", longPartition, f.ID(), err)
	} else {
		r.Logf("every node lists every member alive %v after healing", rejoined)
	}
	r.waitCaughtUp(f)
	r.note("partition-follower-long: %s cut off %v; the others saw it dead after %s; every member alive again %v after healing",
		f.ID(), longPartition, dead, rejoined)
	r.cutOff(f.ID(), "partition-follower-long: the isolated follower", from, to)
}

// memberStatus returns the status n's member list gives id, "absent", or
// what went wrong asking.
func (r *Run) memberStatus(n *harness.Node, id string) string {
	st, err := n.Status()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	if i := slices.IndexFunc(st.Members, func(m harness.Member) bool { return m.ID == id }); i >= 0 {
		return st.Members[i].Status
	}
	return "absent"
}

// term returns n's raft term, or 0.
func (r *Run) term(n *harness.Node) uint64 {
	st, err := n.Status()
	if err != nil {
		return 0
	}
	return st.Term
}

// indexes returns the namespace indexes of nodes.
func (r *Run) indexes(nodes []*harness.Node) []int {
	out := make([]int, len(nodes))
	for i, n := range nodes {
		out[i] = r.net.idx(n)
	}
	return out
}
