package cluster

import (
	"time"

	"github.com/hashicorp/raft"
)

// Hastened elections.
//
// hashicorp/raft refuses a pre-vote (and a vote) while it knows a leader,
// and a follower forgets its leader only at its own heartbeat check, which
// comes at random moments one to two heartbeat timeouts apart. So when the
// leader dies, the first follower to notice is refused by the others until
// they notice too: a three-node cluster waits for the *later* of its two
// followers' checks, up to three heartbeat timeouts after the leader's last
// word. The Raft thesis (§4.2.3) has a server disregard a vote request only
// within the minimum election timeout of hearing from a leader.
//
// hastenElections brings the check forward: when a pre-vote request reaches
// a follower, and the follower has not heard from its leader for a heartbeat
// timeout (at once, or as soon as that much time has passed with no word),
// it makes raft run its heartbeat check now, so that it stands for election
// itself. It never starts an election raft would not start at its own next
// check, whose condition (no contact for a heartbeat timeout) raft checks
// again; it only moves that check to the moment another voter shows that it
// lost the leader too. Pre-vote still keeps a follower that alone lost the
// leader from disturbing it: the others, hearing the leader, refuse it and
// do not move.
//
// raft runs its check early when its heartbeat timeout is lowered
// (ReloadConfig), so hastening lowers it by a nanosecond and restores it at
// once. That needs a leader lease shorter than the heartbeat timeout (raft
// wants the lease no longer than the heartbeat timeout); with equal ones
// (the in-process test clusters) raft refuses and elections are not
// hastened.

// watchPreVotes registers the observer of the pre-vote requests raft
// receives, which hastenElections reads.
func (n *Node) watchPreVotes() {
	n.preVotes = make(chan raft.Observation, 1)
	n.raft.RegisterObserver(raft.NewObserver(n.preVotes, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.RequestPreVoteRequest)
		return ok
	}))
}

// hastenElections runs until shutdown: see the comment above.
func (n *Node) hastenElections() {
	var due <-chan time.Time
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-n.shutdownCh:
			return
		case <-n.preVotes:
			if due != nil || n.raft.State() != raft.Follower {
				continue
			}
			lc := n.raft.LastContact()
			if lc.IsZero() {
				continue // never heard from a leader: raft's own check decides
			}
			// Raft observes the request before it answers it, and answers
			// it before it sees the lowered timeout: the follower refuses
			// this pre-vote (it still knows the leader), then stands itself.
			wait := time.Until(lc.Add(n.raft.ReloadableConfig().HeartbeatTimeout))
			timer = time.NewTimer(max(wait, 0))
			due = timer.C
		case <-due:
			due = nil
			hb := n.raft.ReloadableConfig().HeartbeatTimeout
			silent := time.Since(n.raft.LastContact())
			if n.raft.State() != raft.Follower || silent < hb {
				continue // the leader spoke again, or the follower moved on
			}
			if n.runHeartbeatCheck() {
				n.hastened.Add(1)
				n.logger.Info("standing for election: a peer asked for a pre-vote and the leader has been silent for a heartbeat timeout",
					"silent", silent.Round(time.Millisecond), "heartbeat-timeout", hb)
			}
		}
	}
}

// runHeartbeatCheck makes raft run its follower's heartbeat check now, by
// lowering its heartbeat timeout by a nanosecond and restoring it. It
// reports whether raft took the change.
func (n *Node) runHeartbeatCheck() bool {
	cur := n.raft.ReloadableConfig()
	lowered := cur
	lowered.HeartbeatTimeout -= time.Nanosecond
	if err := n.raft.ReloadConfig(lowered); err != nil {
		return false // a lease as long as the heartbeat timeout
	}
	if err := n.raft.ReloadConfig(cur); err != nil {
		n.logger.Error("restore raft's heartbeat timeout", "error", err, "heartbeat-timeout", cur.HeartbeatTimeout)
	}
	return true
}

// electAloneAtOnce makes a node that is the only voter of its raft
// configuration (a one-node cluster, restarted) stand for election now
// rather than after a heartbeat timeout: there is no other voter whose word
// it could be waiting for, so waiting only delays the node's readiness (a
// whole heartbeat timeout, 1-2 s with the default profile). It runs raft's
// own heartbeat check, which decides as it always does.
func (n *Node) electAloneAtOnce() {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	voters, self := 0, false
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters++
			self = self || s.ID == raft.ServerID(n.cfg.NodeID)
		}
	}
	if voters != 1 || !self || n.raft.State() != raft.Follower {
		return
	}
	if n.runHeartbeatCheck() {
		n.electedAlone.Add(1)
		n.logger.Info("standing for election at once: this node is the only voter")
	}
}
