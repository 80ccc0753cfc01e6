package cluster

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// probeRetry is how long the leader waits before it dials again a member
// whose raft address failed to prove a node's certificate (unless the
// member advertises another address meanwhile).
const probeRetry = 30 * time.Second

// probeCache remembers failed probes of new members.
type probeCache struct {
	mu     sync.Mutex
	failed map[raft.ServerID]failedProbe
}

type failedProbe struct {
	addr raft.ServerAddress
	at   time.Time
}

// provesNode reports whether the leader may add id at addr to the raft
// configuration. Without raft TLS any gossip member may. With it, the
// leader first dials addr and completes a TLS handshake: the member must
// present a certificate of the cluster's CA that names it a node (see
// RaftTLS). Gossip is not authenticated by the CA, so a member it lists
// proves nothing by itself: without the probe, a stranger on the gossip
// port would become a voter that no node can reach, and enough of them
// would cost the cluster its quorum. A refused member is logged and dialled
// again only after probeRetry.
func (n *Node) provesNode(id raft.ServerID, addr raft.ServerAddress) bool {
	if n.stream == nil {
		return true
	}
	c := &n.probes
	c.mu.Lock()
	if f, ok := c.failed[id]; ok && f.addr == addr && time.Since(f.at) < probeRetry {
		c.mu.Unlock()
		return false
	}
	c.mu.Unlock()
	conn, err := n.stream.Dial(addr, n.stream.cfg.HandshakeTimeout)
	if err == nil {
		conn.Close()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if c.failed == nil {
			c.failed = map[raft.ServerID]failedProbe{}
		}
		c.failed[id] = failedProbe{addr: addr, at: time.Now()}
		n.logger.Warn("not adding member as voter: its raft address did not prove a node certificate of the cluster's CA",
			"member", id, "addr", addr, "error", err, "retry_in", probeRetry)
		return false
	}
	delete(c.failed, id)
	return true
}
