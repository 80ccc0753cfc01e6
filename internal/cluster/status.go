package cluster

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/honua-io/honua-gitops/api"
)

// Status is a node's view of the cluster; its JSON is GET /v1/status.
type Status = api.Status

// Member is one server as this node sees it: from the raft configuration
// (voter) and from gossip (addresses, status alive, suspect, dead or left).
// A raft server this node has not (yet) seen in gossip is reported dead.
type Member = api.Member

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
		st.Leader = &api.Leader{ID: id, APIAddr: apiAddr}
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

// readiness remembers, for the leader this node last learned of, the commit
// index it learned then; the node is ready once it applied that far.
type readiness struct {
	mu     sync.Mutex
	leader string
	target uint64
	caught bool
}

// Ready reports whether this node can serve reads that reflect the cluster:
// it knows a leader and has applied what it learned was committed when it
// learned of that leader. The reason says why not.
func (n *Node) Ready() (bool, string) {
	select {
	case <-n.shutdownCh:
		return false, "shutting down"
	default:
	}
	leader, _ := n.Leader()
	if leader == "" {
		return false, "no leader known"
	}
	applied, commit := n.raft.AppliedIndex(), n.raft.CommitIndex()
	r := &n.ready
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.leader != leader {
		r.leader, r.target, r.caught = leader, commit, false
	}
	if !r.caught && applied >= r.target {
		r.caught = true
	}
	if !r.caught {
		return false, fmt.Sprintf("catching up: applied index %d of %d committed", applied, r.target)
	}
	return true, ""
}

// AppliedIndex returns the index of the last entry applied to this node's
// FSM.
func (n *Node) AppliedIndex() uint64 { return n.raft.AppliedIndex() }

// LastContact returns when this node last heard from the leader.
func (n *Node) LastContact() time.Time { return n.raft.LastContact() }
