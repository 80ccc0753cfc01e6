package cluster

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/raft"
)

// maybeBootstrap bootstraps a new cluster once BootstrapExpect servers, none
// of which belongs to a cluster yet, see each other. Every one of them
// computes the same configuration (all of them, sorted by id) and bootstraps
// with it, which raft accepts as one cluster. A node with raft state never
// bootstraps: it waits to be added by the leader.
func (n *Node) maybeBootstrap() error {
	if n.hasRaftState() {
		return nil
	}
	var servers []raft.Server
	for _, m := range n.gossip.Members() {
		meta, ok := n.memberMeta(m.Name)
		if !ok {
			continue
		}
		if meta.Expect != 0 && meta.Expect != n.cfg.BootstrapExpect {
			return fmt.Errorf("%w: node %s was started with --bootstrap-expect %d but this node with %d; start every node with the same value",
				ErrBootstrapMismatch, meta.ID, meta.Expect, n.cfg.BootstrapExpect)
		}
		if meta.HasState {
			// A cluster exists already; its leader will add us.
			return nil
		}
		servers = append(servers, raft.Server{
			Suffrage: raft.Voter, ID: raft.ServerID(meta.ID), Address: raft.ServerAddress(meta.Raft),
		})
	}
	if len(servers) < n.cfg.BootstrapExpect {
		return nil
	}
	slices.SortFunc(servers, func(a, b raft.Server) int { return strings.Compare(string(a.ID), string(b.ID)) })
	ids := make([]string, len(servers))
	for i, s := range servers {
		ids[i] = string(s.ID)
	}
	n.logger.Info("bootstrapping cluster", "servers", ids)
	err := n.raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error()
	if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		n.logger.Error("bootstrap failed; will retry", "error", err)
		return nil
	}
	return nil
}

// memberMeta returns the gossip metadata of a member, the local node
// included.
func (n *Node) memberMeta(name string) (nodeMeta, bool) {
	if name == n.cfg.NodeID {
		return n.localMeta(), true
	}
	n.membersMu.Lock()
	defer n.membersMu.Unlock()
	m, ok := n.members[name]
	if !ok || m.status != StatusAlive {
		return nodeMeta{}, false
	}
	return m.meta, true
}
