package cluster

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Status is a node's view of the cluster (internal/rpc serves it as GET
// /v1/status).
type Status struct {
	NodeID string
	// State is the raft state: Follower, Candidate, Leader or Shutdown.
	State string
	// Leader is nil when this node knows of no leader.
	Leader       *Leader
	Term         uint64
	LastIndex    uint64
	CommitIndex  uint64
	AppliedIndex uint64
	// LastContact is when a follower last heard from the leader; nil on
	// the leader and on a node that never heard from one.
	LastContact *time.Time
	Version     string
	Members     []Member
}

// Leader names the leader and where its API listens.
type Leader struct {
	ID      string
	APIAddr string
}

// Member is one server as this node sees it: from the raft configuration
// (voter) and from gossip (addresses, status alive, suspect, dead or left).
// A raft server this node has not (yet) seen in gossip is reported dead.
type Member struct {
	ID         string
	RaftAddr   string
	GossipAddr string
	APIAddr    string
	Version    string
	Voter      bool
	// Status is StatusAlive, StatusSuspect, StatusDead or StatusLeft.
	Status string
}

// goneMemberTTL is how long a member that is dead or left and no longer in
// the raft configuration keeps appearing in the member list.
const goneMemberTTL = time.Hour

// Status returns this node's view of the cluster.
func (n *Node) Status() Status {
	st := Status{
		NodeID:       n.cfg.NodeID,
		State:        n.raft.State().String(),
		Term:         n.raft.CurrentTerm(),
		LastIndex:    n.raft.LastIndex(),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.raft.AppliedIndex(),
		Version:      n.cfg.Version,
		Members:      n.Members(),
	}
	if id, apiAddr := n.Leader(); id != "" {
		st.Leader = &Leader{ID: id, APIAddr: apiAddr}
	}
	if lc := n.raft.LastContact(); !lc.IsZero() && st.State != raft.Leader.String() {
		st.LastContact = &lc
	}
	return st
}

// Members lists the servers of the raft configuration and every gossip
// member, sorted by id.
func (n *Node) Members() []Member {
	byID := map[string]*Member{}
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			byID[string(s.ID)] = &Member{
				ID: string(s.ID), RaftAddr: string(s.Address),
				Voter: s.Suffrage == raft.Voter, Status: StatusDead,
			}
		}
	}
	// memberlist does not expose its suspicion, so a live member counts
	// as suspect when this node's direct probes have gone unanswered for
	// about two probe rounds.
	alive := len(n.gossip.Members())
	suspectAfter := time.Duration(2*max(alive-1, 1)+1) * n.probeInterval
	now := time.Now()
	n.membersMu.Lock()
	for name, ms := range n.members {
		m, inRaft := byID[name]
		if !inRaft {
			if ms.status != StatusAlive && time.Since(ms.since) > goneMemberTTL {
				continue
			}
			m = &Member{ID: name, RaftAddr: ms.meta.Raft}
			byID[name] = m
		}
		m.GossipAddr, m.APIAddr, m.Version, m.Status = ms.gossip, ms.meta.API, ms.meta.Version, ms.status
		if ms.status == StatusAlive && name != n.cfg.NodeID && now.Sub(ms.lastAck) > suspectAfter {
			m.Status = StatusSuspect
		}
	}
	n.membersMu.Unlock()
	if self, ok := byID[n.cfg.NodeID]; ok {
		self.Status = StatusAlive
		self.APIAddr = n.cfg.APIAddr
		self.Version = n.cfg.Version
		self.GossipAddr = n.GossipAddr()
	}
	out := make([]Member, 0, len(byID))
	for _, m := range byID {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Ready reports whether this node can serve reads that reflect the cluster,
// and when not, why. The leader is ready once it has established its
// leadership (its Barrier is done). A follower is ready when it has heard
// from the leader it knows within the readiness window, and has applied an
// index the leader had committed at some moment within that window: a node
// that joins, restarts or falls behind is not ready until it has caught up
// with the leader's commit index as of a fresh contact.
func (n *Node) Ready() (bool, string) {
	select {
	case <-n.shutdownCh:
		return false, "shutting down"
	default:
	}
	if why := n.exhaustedReason(); why != "" {
		return false, why
	}
	leader, _ := n.Leader()
	switch {
	case leader == "":
		return false, "no leader known"
	case leader == n.cfg.NodeID:
		if !n.LeaderReady() {
			return false, "leadership not established yet (its barrier is pending)"
		}
		return true, ""
	}
	return n.ready.check(leader, n.raft.AppliedIndex(), time.Now(), n.readyWindow)
}

// readyWindowFloor is the least readiness window: how recent the leader's
// word must be, and how far behind it a follower may lag, for the follower
// to be ready. The window is five heartbeat timeouts when that is longer.
const readyWindowFloor = 5 * time.Second

// readiness tracks what a follower heard of the leader's commit index and
// what it has applied of it. The leader sends its commit index with every
// AppendEntries, at least every CommitTimeout (10 ms) even when nothing is
// written; heartbeats, which hashicorp/raft keeps free of disk I/O, carry
// none. A follower's own raft commit index cannot stand in for it: raft
// advances it only over entries the follower already holds.
type readiness struct {
	mu sync.Mutex
	// heard is the newest word of the leader's commit index.
	heard commitWord
	// target is a word whose index this node has not applied yet (or the
	// newest, once it has).
	target commitWord
	// reached is when the leader had committed no more than this node
	// has applied: the time of the newest word whose index it reached.
	reached time.Time
}

// commitWord is the leader's commit index as one AppendEntries told it.
type commitWord struct {
	leader string
	term   uint64
	index  uint64
	at     time.Time
}

// heardAppend records the commit index an AppendEntries carries.
func (r *readiness) heardAppend(req *raft.AppendEntriesRequest, applied uint64, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.Term < r.heard.term {
		return // a deposed leader's
	}
	r.heard = commitWord{leader: string(req.ID), term: req.Term, index: req.LeaderCommitIndex, at: now}
	r.advance(applied)
}

// advance moves reached up to the newest word applied.
func (r *readiness) advance(applied uint64) {
	if r.target.at.IsZero() {
		r.target = r.heard
	}
	if !r.target.at.IsZero() && applied >= r.target.index {
		r.reached = r.target.at
		r.target = r.heard
		if applied >= r.target.index {
			r.reached = r.target.at
		}
	}
}

// check decides a follower's readiness.
func (r *readiness) check(leader string, applied uint64, now time.Time, window time.Duration) (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.heard.leader != leader || r.heard.at.IsZero() {
		return false, fmt.Sprintf("waiting to hear the commit index of leader %s", leader)
	}
	if age := now.Sub(r.heard.at); age > window {
		return false, fmt.Sprintf("no word from leader %s of its commit index for %v", leader, age.Round(time.Millisecond))
	}
	r.advance(applied)
	if r.reached.IsZero() {
		return false, fmt.Sprintf("catching up: applied index %d of %d committed", applied, r.target.index)
	}
	if lag := now.Sub(r.reached); lag > window {
		return false, fmt.Sprintf("behind the leader: applied index %d of %d committed %v ago",
			applied, r.target.index, now.Sub(r.target.at).Round(time.Millisecond))
	}
	return true, ""
}

// AppliedIndex returns the index of the last entry applied to this node's
// FSM.
func (n *Node) AppliedIndex() uint64 { return n.raft.AppliedIndex() }

// LastContact returns when this node last heard from the leader.
func (n *Node) LastContact() time.Time { return n.raft.LastContact() }
