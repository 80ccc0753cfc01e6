package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// barrierTimeout bounds the Barrier a new leader issues before it acts.
const barrierTimeout = 2 * time.Minute

// RegisterLeaderWork registers fn to run on this node while it is the
// leader: it is started after the new leader's Barrier, so it sees every
// committed entry, and its context is cancelled when leadership is lost. The
// next term's run starts only after fn returned, so two runs never overlap.
// It must be called before Start.
func (n *Node) RegisterLeaderWork(name string, fn func(ctx context.Context)) {
	n.workMu.Lock()
	defer n.workMu.Unlock()
	if n.running {
		panic("cluster: RegisterLeaderWork called after Start")
	}
	n.leaderWork = append(n.leaderWork, namedWork{name, fn})
}

// LeaderReady reports whether this node is the leader and has finished
// establishing its leadership (Barrier done, leader work started).
func (n *Node) LeaderReady() bool { return n.leaderReady.Load() && n.IsLeader() }

// monitorLeadership starts a leader loop when raft says we lead and stops it
// (waiting for it) when we no longer do, as Consul's monitorLeadership does.
func (n *Node) monitorLeadership() {
	var stop chan struct{}
	var loop sync.WaitGroup
	end := func() {
		if stop != nil {
			close(stop)
			loop.Wait()
			stop = nil
		}
	}
	for {
		select {
		case isLeader := <-n.leaderCh:
			switch {
			case isLeader && stop == nil:
				stop = make(chan struct{})
				loop.Add(1)
				go func(stop chan struct{}) {
					defer loop.Done()
					n.leaderLoop(stop)
				}(stop)
				n.logger.Info("gained leadership")
			case !isLeader && stop != nil:
				end()
				n.logger.Info("lost leadership")
			}
		case <-n.shutdownCh:
			end()
			return
		}
	}
}

// leaderLoop establishes leadership (Barrier, then leader work) and keeps
// raft membership in line with gossip until stop is closed.
func (n *Node) leaderLoop(stop chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	var work sync.WaitGroup
	defer func() {
		n.leaderReady.Store(false)
		cancel()
		work.Wait()
	}()

	retry := time.NewTimer(0)
	defer retry.Stop()
	for established := false; !established; {
		select {
		case <-stop:
			return
		case <-retry.C:
		}
		if err := n.Barrier(barrierTimeout); err != nil {
			n.logger.Error("barrier on new leadership failed; retrying", "error", err)
			retry.Reset(time.Second)
			continue
		}
		established = true
	}

	n.workMu.Lock()
	works := slices.Clone(n.leaderWork)
	n.workMu.Unlock()
	for _, w := range works {
		work.Add(1)
		go func() {
			defer work.Done()
			n.logger.Debug("starting leader work", "work", w.name)
			w.fn(ctx)
		}()
	}
	n.leaderReady.Store(true)
	n.logger.Info("leadership established", "term", n.raft.CurrentTerm(), "applied_index", n.raft.AppliedIndex())

	interval := time.NewTicker(n.cfg.ReconcileInterval)
	defer interval.Stop()
	n.reconcileMembers()
	for {
		select {
		case <-stop:
			return
		case <-interval.C:
		case <-n.reconcileCh:
		}
		n.reconcileMembers()
	}
}

// reconcileMembers makes the raft configuration follow gossip: alive members
// become voters, members that left gracefully are removed, failed members
// stay voters unless dead-server cleanup is on and their grace has passed.
func (n *Node) reconcileMembers() {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		n.logger.Error("read raft configuration", "error", err)
		return
	}
	servers := f.Configuration().Servers
	byID := map[raft.ServerID]raft.Server{}
	voters := 0
	for _, s := range servers {
		byID[s.ID] = s
		if s.Suffrage == raft.Voter {
			voters++
		}
	}

	n.membersMu.Lock()
	members := make([]memberState, 0, len(n.members))
	for _, m := range n.members {
		members = append(members, *m)
	}
	n.membersMu.Unlock()
	slices.SortFunc(members, func(a, b memberState) int { return a.since.Compare(b.since) })

	var dead []raft.ServerID
	for _, m := range members {
		id := raft.ServerID(m.meta.ID)
		s, inConfig := byID[id]
		switch m.status {
		case StatusAlive:
			addr := raft.ServerAddress(m.meta.Raft)
			if inConfig && s.Address == addr {
				continue
			}
			if !n.provesNode(id, addr) {
				continue
			}
			if err := n.addVoter(id, addr, servers); err != nil {
				n.logger.Error("add member as voter", "member", id, "error", err)
			}
		case StatusLeft:
			if !inConfig || string(id) == n.cfg.NodeID {
				continue
			}
			// A whole cluster stopped at once leaves member by member;
			// removing each would shrink it to one voter and cost it its
			// fault tolerance on restart. Keep MinVoters.
			if voters-1 < n.cfg.MinVoters {
				if n.noteKeptLeftMember(m.name) {
					n.logger.Info("member left but stays a voter so the cluster keeps its minimum size; remove it as an operator if it is not coming back",
						"member", id, "voters", voters, "min_voters", n.cfg.MinVoters)
				}
				continue
			}
			n.logger.Info("removing member that left", "member", id)
			if err := n.raft.RemoveServer(id, 0, 0).Error(); err != nil {
				n.logger.Error("remove member that left", "member", id, "error", translate(err))
				continue
			}
			voters--
		case StatusDead:
			if inConfig && n.cfg.DeadServerCleanup && time.Since(m.since) >= n.cfg.DeadServerGrace {
				dead = append(dead, id)
			}
		}
	}
	if len(dead) == 0 {
		return
	}
	// Never remove so many that a later failure could cost the quorum.
	allowed := cleanupAllowance(voters, len(dead))
	if len(dead) > allowed {
		n.logger.Warn("dead-server cleanup limited to keep quorum", "dead", len(dead), "removing", allowed, "voters", voters)
		dead = dead[:allowed]
	}
	for _, id := range dead {
		n.logger.Info("removing dead server after its grace period", "member", id, "grace", n.cfg.DeadServerGrace)
		if err := n.raft.RemoveServer(id, 0, 0).Error(); err != nil {
			n.logger.Error("remove dead server", "member", id, "error", translate(err))
		}
	}
}

// noteKeptLeftMember records that a departed member was kept as a voter and
// reports whether that is news (so it is logged once).
func (n *Node) noteKeptLeftMember(name string) bool {
	n.membersMu.Lock()
	defer n.membersMu.Unlock()
	m, ok := n.members[name]
	if !ok || m.keptAsVoter {
		return false
	}
	m.keptAsVoter = true
	return true
}

// addVoter adds id at addr, or moves it there when raft knows it at another
// address (AddVoter of a known voter updates its address), first removing a
// stale entry that holds the same address under another id.
func (n *Node) addVoter(id raft.ServerID, addr raft.ServerAddress, servers []raft.Server) error {
	for _, s := range servers {
		if s.Address == addr && s.ID != id {
			if string(s.ID) == n.cfg.NodeID {
				return fmt.Errorf("member %s claims this leader's raft address %s", id, addr)
			}
			n.logger.Info("removing stale raft entry", "member", s.ID, "addr", s.Address)
			if err := n.raft.RemoveServer(s.ID, 0, 0).Error(); err != nil {
				return fmt.Errorf("remove stale entry %s: %w", s.ID, translate(err))
			}
		}
	}
	n.logger.Info("adding member as voter", "member", id, "addr", addr)
	if err := n.raft.AddVoter(id, addr, 0, 0).Error(); err != nil {
		return translate(err)
	}
	return nil
}

// RemoveMember removes a server from the raft configuration, as an operator
// does for a failed member that will not come back. Only the leader can.
func (n *Node) RemoveMember(id string) error {
	if id == n.cfg.NodeID {
		return fmt.Errorf("remove member %s: %w", id, ErrRemoveLeader)
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return translate(err)
	}
	found := false
	for _, s := range f.Configuration().Servers {
		found = found || string(s.ID) == id
	}
	if !found {
		return fmt.Errorf("remove member %s: %w", id, ErrUnknownMember)
	}
	n.membersMu.Lock()
	m, known := n.members[id]
	alive := known && m.status == StatusAlive
	n.membersMu.Unlock()
	if alive {
		// The leader would add it back at the next reconcile.
		return fmt.Errorf("remove member %s: %w", id, ErrMemberAlive)
	}
	if err := n.raft.RemoveServer(raft.ServerID(id), 0, 0).Error(); err != nil {
		return fmt.Errorf("remove member %s: %w", id, translate(err))
	}
	return nil
}

// cleanupAllowance is how many of dead failed voters one cleanup pass may
// remove: never more than (voters-1)/2.
func cleanupAllowance(voters, dead int) int {
	return max(0, min(dead, (voters-1)/2))
}
