package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
)

// nodeMeta is what each node tells the others about itself through gossip.
// It must stay under memberlist.MetaMaxSize (512 bytes).
type nodeMeta struct {
	ID      string `json:"id"`
	Raft    string `json:"raft"`
	API     string `json:"api,omitempty"`
	Version string `json:"v,omitempty"`
	// Expect is the node's --bootstrap-expect.
	Expect int `json:"expect,omitempty"`
	// Started is when the process started (unix nanoseconds): of two
	// nodes claiming one id, the younger steps down.
	Started int64 `json:"started"`
	// HasState is true once the node belongs to a cluster, which stops
	// other nodes from bootstrapping a new one.
	HasState bool `json:"state,omitempty"`
}

// msgLeaving is the type byte of the message a node sends every member over
// TCP just before it leaves gracefully, followed by its id. memberlist does
// not tell a departure from a failure in its events, so without it the
// others could not tell "left" from "dead".
const msgLeaving byte = 1

// Member statuses, as /v1/status reports them.
const (
	StatusAlive   = "alive"
	StatusSuspect = "suspect"
	StatusDead    = "dead"
	StatusLeft    = "left"
)

// memberState is this node's record of one gossip member.
type memberState struct {
	name   string
	gossip string
	meta   nodeMeta
	status string
	since  time.Time
	// lastAck is when this node last got an answer to a direct probe of
	// the member; a live member unanswered for a while is suspect.
	lastAck time.Time
	// leaving is set when the member announced a graceful leave.
	leaving bool
	// keptAsVoter is set when the leader kept a departed member as a
	// voter to stay at MinVoters.
	keptAsVoter bool
	// departed orders the members that failed or left: it is the count
	// of departures this node had seen when this one went.
	departed uint64
}

// maxDepartedMembers bounds the members this node remembers as failed or
// left, which memberlist forgets: when more depart, the one that departed
// longest ago is forgotten. Members alive (or suspect) are always kept, as
// memberlist keeps them. A cluster has a handful of voters; the bound
// leaves room for every one of them to fail at once, many times over,
// while members that come and go under new names (pods) cannot grow the
// record without end. A forgotten member no longer shows in status nor is
// reconnected to; if it is still a raft voter the operator removes it
// (RemoveMember allows it: it is not alive).
const maxDepartedMembers = 64

func (n *Node) openGossip() error {
	host, portStr, _ := net.SplitHostPort(n.cfg.GossipBind)
	port, _ := strconv.Atoi(portStr)
	mc := memberlist.DefaultLANConfig()
	mc.Name = n.cfg.NodeID
	mc.BindAddr = host
	mc.BindPort = port
	if n.cfg.GossipAdvertise != "" {
		ah, ap, _ := net.SplitHostPort(n.cfg.GossipAdvertise)
		mc.AdvertiseAddr = ah
		mc.AdvertisePort, _ = strconv.Atoi(ap)
	}
	// A node that comes back at a new address (a rescheduled pod) may take
	// its name back once the old one has been dead this long.
	mc.DeadNodeReclaimTime = 30 * time.Second
	mc.Delegate = &gossipDelegate{n}
	mc.Events = &gossipEvents{n}
	mc.Conflict = &gossipConflicts{n}
	mc.Ping = &gossipPings{n}
	mc.Logger = newStdLogger(n.logger.With("module", "memberlist"))
	kr, err := n.openKeyring()
	if err != nil {
		return err
	}
	if kr != nil {
		// Encrypt everything sent, and refuse what is not encrypted with a
		// key of the ring: a node with another key or none is not admitted.
		mc.Keyring, mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = kr, true, true
	}
	n.keyring = kr
	if n.cfg.Gossip != nil {
		n.cfg.Gossip(mc)
	}
	n.meta = nodeMeta{
		ID:       n.cfg.NodeID,
		Raft:     string(n.transport.LocalAddr()),
		API:      n.cfg.APIAddr,
		Version:  n.cfg.Version,
		Expect:   n.cfg.BootstrapExpect,
		Started:  n.started.UnixNano(),
		HasState: n.hasRaftState(),
	}
	n.probeInterval = mc.ProbeInterval
	m, err := memberlist.Create(mc)
	if err != nil {
		return fmt.Errorf("gossip-addr %s: %w", n.cfg.GossipBind, err)
	}
	n.gossip = m
	// Read our advertised address once, before anything else can touch
	// the local node's record.
	ln := m.LocalNode()
	n.gossipAddr = net.JoinHostPort(ln.Addr.String(), strconv.Itoa(int(ln.Port)))
	return nil
}

func (n *Node) localMeta() nodeMeta {
	n.metaMu.Lock()
	defer n.metaMu.Unlock()
	return n.meta
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// gossipDelegate serves our metadata; honuad sends no user messages.
type gossipDelegate struct{ n *Node }

func (d *gossipDelegate) NodeMeta(limit int) []byte {
	b, _ := json.Marshal(d.n.localMeta())
	if len(b) > limit {
		d.n.logger.Error("gossip metadata too large; check the advertised addresses", "size", len(b), "limit", limit)
		return nil
	}
	return b
}
func (d *gossipDelegate) NotifyMsg(b []byte) {
	if len(b) < 2 || b[0] != msgLeaving {
		return
	}
	name := string(b[1:])
	d.n.membersMu.Lock()
	m, ok := d.n.members[name]
	if !ok {
		d.n.membersMu.Unlock()
		return
	}
	m.leaving = true
	// The announcement comes over TCP and the leave over UDP: when the
	// leave was seen first, the member was recorded dead, and is left.
	late := m.status == StatusDead
	if late {
		m.status, m.since = StatusLeft, time.Now()
	}
	d.n.membersMu.Unlock()
	if late {
		d.n.logger.Info("member "+StatusLeft, "member", name, "addr", m.gossip)
		poke(d.n.reconcileCh)
	}
}
func (d *gossipDelegate) GetBroadcasts(int, int) [][]byte { return nil }
func (d *gossipDelegate) LocalState(bool) []byte          { return nil }
func (d *gossipDelegate) MergeRemoteState([]byte, bool)   {}

// gossipEvents keeps this node's record of every member, including dead
// and departed ones, which memberlist forgets.
type gossipEvents struct{ n *Node }

func (e *gossipEvents) NotifyJoin(node *memberlist.Node)   { e.n.observe(node, StatusAlive) }
func (e *gossipEvents) NotifyUpdate(node *memberlist.Node) { e.n.observe(node, StatusAlive) }
func (e *gossipEvents) NotifyLeave(node *memberlist.Node) {
	e.n.membersMu.Lock()
	m, ok := e.n.members[node.Name]
	leaving := ok && m.leaving
	e.n.membersMu.Unlock()
	if leaving {
		e.n.observe(node, StatusLeft)
	} else {
		e.n.observe(node, StatusDead)
	}
}

// gossipPings records answered probes, from which Members derives
// "suspect".
type gossipPings struct{ n *Node }

func (p *gossipPings) AckPayload() []byte { return nil }
func (p *gossipPings) NotifyPingComplete(other *memberlist.Node, _ time.Duration, _ []byte) {
	p.n.membersMu.Lock()
	if m, ok := p.n.members[other.Name]; ok {
		m.lastAck = time.Now()
	}
	p.n.membersMu.Unlock()
}

// announceLeave tells every live member, over TCP, that this node is about
// to leave gracefully.
func (n *Node) announceLeave() {
	msg := append([]byte{msgLeaving}, n.cfg.NodeID...)
	var wg sync.WaitGroup
	for _, m := range n.gossip.Members() {
		if m.Name == n.cfg.NodeID {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.gossip.SendReliable(m, msg); err != nil {
				n.logger.Warn("announce leave", "member", m.Name, "error", err)
			}
		}()
	}
	wg.Wait()
}

func (n *Node) observe(node *memberlist.Node, status string) {
	var meta nodeMeta
	if err := json.Unmarshal(node.Meta, &meta); err != nil || meta.ID == "" {
		n.logger.Warn("ignoring gossip member without honuad metadata", "member", node.Name, "addr", node.Address())
		return
	}
	now := time.Now()
	n.membersMu.Lock()
	m, ok := n.members[node.Name]
	if !ok {
		m = &memberState{name: node.Name}
		n.members[node.Name] = m
	}
	if m.status != status {
		m.since, m.lastAck = now, now
		if status == StatusAlive {
			m.leaving, m.keptAsVoter = false, false
		}
		if node.Name != n.cfg.NodeID {
			n.logger.Info("member "+status, "member", node.Name, "addr", node.Address())
		}
	}
	departing := m.status != status && (status == StatusDead || status == StatusLeft)
	m.gossip = node.Address()
	m.meta = meta
	m.status = status
	if departing {
		n.departures++
		m.departed = n.departures
		n.forgetOldDepartedLocked()
	}
	n.membersMu.Unlock()
	poke(n.reconcileCh)
	poke(n.bootstrapCh)
}

// forgetOldDepartedLocked forgets the members that departed longest ago
// while more than maxDepartedMembers are recorded as failed or left. It is
// called with membersMu held, on each departure, so it removes at most one.
func (n *Node) forgetOldDepartedLocked() {
	for {
		var oldest *memberState
		count := 0
		for _, m := range n.members {
			if m.status != StatusDead && m.status != StatusLeft {
				continue
			}
			count++
			if oldest == nil || m.departed < oldest.departed {
				oldest = m
			}
		}
		if count <= maxDepartedMembers {
			return
		}
		n.logger.Info("forgetting a member that departed long ago", "member", oldest.name, "status", oldest.status,
			"since", oldest.since)
		delete(n.members, oldest.name)
	}
}

// gossipConflicts detects a second live node using our id.
type gossipConflicts struct{ n *Node }

// DuplicateIDError is sent on Fatal when another live member uses this
// node's id.
type DuplicateIDError struct {
	ID, OtherAddr string
}

func (e *DuplicateIDError) Error() string {
	return fmt.Sprintf("node id %q is already used by a live member at %s; give this node another --node-id",
		e.ID, e.OtherAddr)
}

func (c *gossipConflicts) NotifyConflict(existing, other *memberlist.Node) {
	n := c.n
	if existing.Name != n.cfg.NodeID {
		n.logger.Error("two members claim one id", "member", existing.Name,
			"addr", existing.Address(), "other_addr", other.Address())
		return
	}
	var meta nodeMeta
	_ = json.Unmarshal(other.Meta, &meta)
	mine := n.localMeta().Started
	// The member that started first keeps the id; the other exits.
	if meta.Started != 0 && (meta.Started < mine || (meta.Started == mine && other.Address() < existing.Address())) {
		n.fatal(&DuplicateIDError{ID: n.cfg.NodeID, OtherAddr: other.Address()})
		return
	}
	n.logger.Error("another node is using this node's id and should exit", "other_addr", other.Address())
}

// peersFile lists the gossip addresses of the members last seen alive, so a
// restarted node can rejoin without --join.
func (n *Node) peersFile() string { return filepath.Join(n.cfg.DataDir, "gossip-peers.json") }

func (n *Node) joinAddrs() []string {
	addrs := slices.Clone(n.cfg.Join)
	if b, err := os.ReadFile(n.peersFile()); err == nil {
		var saved []string
		if json.Unmarshal(b, &saved) == nil {
			addrs = append(addrs, saved...)
		}
	}
	self := n.GossipAddr()
	addrs = slices.DeleteFunc(addrs, func(a string) bool { return a == self || a == n.cfg.GossipBind })
	slices.Sort(addrs)
	return slices.Compact(addrs)
}

// joinLoop joins through addrs, retrying with capped exponential backoff
// until one of them answers or the node stops.
func (n *Node) joinLoop(addrs []string) {
	backoff := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		n.joinAttempts.Add(1)
		joined, err := n.gossip.Join(addrs)
		// A join that reached only this node itself (a join list naming
		// every pod, this one included, resolved before the others exist)
		// has not joined anything.
		if joined > 0 && n.gossip.NumMembers() > 1 {
			n.logger.Info("joined cluster", "via", addrs, "contacted", joined)
			return
		}
		if joined > 0 && err == nil {
			err = errors.New("only this node answered")
		}
		if why := n.gossipKeyProblem(err); why != "" {
			n.logger.Error("cannot join the cluster: "+why+"; retrying", "addrs", addrs, "attempt", attempt, "retry_in", backoff, "error", err)
		} else {
			n.logger.Warn("join failed; retrying", "addrs", addrs, "attempt", attempt, "retry_in", backoff, "error", err)
		}
		select {
		case <-n.shutdownCh:
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, n.cfg.JoinRetryMax)
	}
}

// watchState bootstraps the cluster when BootstrapExpect servers see each
// other, advertises when this node comes to hold raft state, and remembers
// live peers for the next start.
func (n *Node) watchState() {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var lastPeers []string
	for {
		if n.cfg.BootstrapExpect > 0 && !n.localMeta().HasState {
			if err := n.maybeBootstrap(); err != nil {
				n.fatal(err)
			}
		}
		if !n.localMeta().HasState && n.hasRaftState() {
			n.metaMu.Lock()
			n.meta.HasState = true
			n.metaMu.Unlock()
			if err := n.gossip.UpdateNode(5 * time.Second); err != nil {
				n.logger.Warn("advertise raft state", "error", err)
			}
		}
		if peers := n.alivePeers(); !slices.Equal(peers, lastPeers) && len(peers) > 0 {
			b, _ := json.Marshal(peers)
			if err := writeFileAtomic(n.peersFile(), b); err != nil {
				n.logger.Warn("save gossip peers", "error", err)
			} else {
				lastPeers = peers
			}
		}
		select {
		case <-n.shutdownCh:
			return
		case <-tick.C:
		case <-n.bootstrapCh:
		}
	}
}

func (n *Node) alivePeers() []string {
	n.membersMu.Lock()
	defer n.membersMu.Unlock()
	var out []string
	for name, m := range n.members {
		if name != n.cfg.NodeID && m.status == StatusAlive {
			out = append(out, m.gossip)
		}
	}
	slices.Sort(out)
	return out
}

// gossipAddrs resolves raft server ids to the raft address each member
// advertises in gossip now.
type gossipAddrs Node

// ServerAddr implements raft.ServerAddressProvider; an error makes raft use
// the address in its configuration.
func (g *gossipAddrs) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	n := (*Node)(g)
	n.membersMu.Lock()
	defer n.membersMu.Unlock()
	if m, ok := n.members[string(id)]; ok && m.status == StatusAlive && m.meta.Raft != "" {
		return raft.ServerAddress(m.meta.Raft), nil
	}
	return "", fmt.Errorf("no live gossip member %s", id)
}

// reconnectLoop tries, every ReconnectInterval, to rejoin members this node
// sees as failed, as Serf's reconnect does. memberlist stops gossiping with
// a member it declared dead, so after a partition longer than its
// suspicion timeout the two sides would otherwise list each other as dead
// for good; a successful join merges their views again.
func (n *Node) reconnectLoop() {
	tick := time.NewTicker(n.cfg.ReconnectInterval)
	defer tick.Stop()
	for {
		select {
		case <-n.shutdownCh:
			return
		case <-tick.C:
		}
		n.membersMu.Lock()
		var addrs []string
		for name, m := range n.members {
			if name != n.cfg.NodeID && m.status == StatusDead {
				addrs = append(addrs, m.gossip)
			}
		}
		n.membersMu.Unlock()
		for _, a := range addrs {
			if joined, err := n.gossip.Join([]string{a}); joined > 0 {
				n.logger.Info("reconnected to a member seen as failed", "addr", a)
			} else if why := n.gossipKeyProblem(err); why != "" {
				n.logger.Warn("cannot reach a member seen as failed: "+why, "addr", a, "error", err)
			} else {
				n.logger.Debug("reconnect failed", "addr", a, "error", err)
			}
		}
	}
}

// ErrBootstrapMismatch is sent on Fatal when two nodes about to bootstrap
// were given different --bootstrap-expect values.
var ErrBootstrapMismatch = errors.New("bootstrap-expect mismatch")
