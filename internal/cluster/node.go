package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// Node is one honuad server: a raft peer with its stores, a gossip member,
// and the leader loop.
type Node struct {
	cfg    Config
	logger *slog.Logger
	fsm    *fsm.FSM

	raft      *raft.Raft
	transport *rpcTransport
	// stream is raft's TLS stream layer, nil without RaftTLS.
	stream *tlsStream
	// probes remembers new members whose raft address failed to prove a
	// node's certificate, so that the leader does not dial them at every
	// reconcile.
	probes probeCache
	store  *raftboltdb.BoltStore
	gossip *memberlist.Memberlist
	// keyring encrypts gossip; nil when it is not encrypted. keyringMu
	// orders the changes to it and to its file.
	keyring   *memberlist.Keyring
	keyringMu sync.Mutex
	// gossipAddr is the advertised gossip address, fixed at start.
	gossipAddr string
	started    time.Time
	// probeInterval is memberlist's; Members derives suspicion from it.
	probeInterval time.Duration

	metaMu sync.Mutex
	meta   nodeMeta

	membersMu sync.Mutex
	members   map[string]*memberState
	// departures counts the members seen to fail or leave (memberState.departed).
	departures uint64

	// reconcileCh and bootstrapCh are poked by gossip events.
	reconcileCh chan struct{}
	bootstrapCh chan struct{}
	leaderCh    chan bool

	workMu     sync.Mutex
	leaderWork []namedWork
	running    bool

	// preVotes receives the pre-vote requests raft observes; hastened
	// counts the elections hastenElections brought forward.
	preVotes chan raft.Observation
	hastened atomic.Int64
	// electedAlone counts the elections a lone voter stood at once
	// (electAloneAtOnce).
	electedAlone atomic.Int64

	leaderReady  atomic.Bool
	joinAttempts atomic.Int64
	metrics      nodeMetrics
	ready        readiness
	// readyWindow is how fresh a follower's word of the leader's commit
	// index must be, and how far behind it the follower may be, to be ready.
	readyWindow time.Duration
	exhaust     exhaustion

	fatalCh      chan error
	shutdownCh   chan struct{}
	shutdownOnce sync.Once
	wg           sync.WaitGroup
}

type namedWork struct {
	name string
	fn   func(ctx context.Context)
}

// New opens the node's stores and listeners. It does not start raft's
// leader-side work or join anybody until Start.
func New(cfg Config, f *fsm.FSM) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:         cfg,
		logger:      cfg.Logger.With("component", "cluster"),
		fsm:         f,
		started:     time.Now(),
		members:     map[string]*memberState{},
		reconcileCh: make(chan struct{}, 1),
		bootstrapCh: make(chan struct{}, 1),
		leaderCh:    make(chan bool, 16),
		fatalCh:     make(chan error, 1),
		shutdownCh:  make(chan struct{}),
		readyWindow: max(readyWindowFloor, 5*cfg.raftConfig().HeartbeatTimeout),
	}
	if err := n.openDataDir(); err != nil {
		return nil, err
	}
	if err := n.openRaft(); err != nil {
		return nil, err
	}
	if err := n.openGossip(); err != nil {
		n.closeRaft()
		return nil, err
	}
	return n, nil
}

// openDataDir creates the data dir, proves it writable, and ties it to this
// node id so a data dir is never used by two identities.
func (n *Node) openDataDir() error {
	dir := n.cfg.DataDir
	if err := os.MkdirAll(filepath.Join(dir, "raft"), 0o700); err != nil {
		return fmt.Errorf("data-dir %s: %w", dir, err)
	}
	probe, err := os.CreateTemp(dir, ".write-probe-*")
	if err != nil {
		return fmt.Errorf("data-dir %s: not writable: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())

	idFile := filepath.Join(dir, "node-id")
	b, err := os.ReadFile(idFile)
	switch {
	case err == nil:
		if got := strings.TrimSpace(string(b)); got != n.cfg.NodeID {
			return fmt.Errorf("data-dir %s belongs to node %q, not %q: start it with --node-id %s or use another data dir",
				dir, got, n.cfg.NodeID, got)
		}
	case errors.Is(err, os.ErrNotExist):
		if err := writeFileAtomic(idFile, []byte(n.cfg.NodeID+"\n")); err != nil {
			return fmt.Errorf("data-dir %s: record node id: %w", dir, err)
		}
	default:
		return fmt.Errorf("data-dir %s: read node id: %w", dir, err)
	}
	return nil
}

func (n *Node) openRaft() error {
	dir := filepath.Join(n.cfg.DataDir, "raft")
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(dir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: time.Second},
	})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return fmt.Errorf("data-dir %s: in use by another honuad process", n.cfg.DataDir)
		}
		return fmt.Errorf("open log store: %w", err)
	}
	// The bolt lock is this process's: a backup kept by a restore that a
	// crash interrupted (RestoreBackup) is nobody's now.
	removeRestoreSpools(n.cfg.DataDir, n.logger)
	hl := newHCLog(n.logger, "raft")
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hl)
	if err != nil {
		store.Close()
		return fmt.Errorf("open snapshot store: %w", err)
	}
	var advertise net.Addr
	if n.cfg.RaftAdvertise != "" {
		a, err := net.ResolveTCPAddr("tcp", n.cfg.RaftAdvertise)
		if err != nil {
			store.Close()
			return &FieldError{"raft advertise address", n.cfg.RaftAdvertise, err.Error()}
		}
		advertise = a
	}
	// Raft keeps each server's address in its configuration; a server that
	// comes back at another address (all pods of a StatefulSet rescheduled
	// at once) would be dialled at its old one forever. The provider looks
	// the address up in gossip by server id first, as Consul does.
	tc := &raft.NetworkTransportConfig{
		MaxPool: 3, Timeout: 10 * time.Second, Logger: hl, ServerAddressProvider: (*gossipAddrs)(n),
		// No pipelined replication: with it, a follower whose log store fails
		// a write can stop receiving entries for good (hashicorp/raft#612).
		MaxRPCsInFlight: 1,
	}
	var trans *raft.NetworkTransport
	if n.cfg.RaftTLS != nil {
		n.stream, err = newTLSStream(n.cfg.RaftBind, advertise, *n.cfg.RaftTLS, n.logger.With("module", "raft-tls"))
		if err == nil {
			tc.Stream = n.stream
			trans = raft.NewNetworkTransportWithConfig(tc)
		}
	} else {
		trans, err = raft.NewTCPTransportWithConfig(n.cfg.RaftBind, advertise, tc)
	}
	if err != nil {
		store.Close()
		return fmt.Errorf("raft-addr %s: %w", n.cfg.RaftBind, err)
	}
	rc := n.cfg.raftConfig()
	rc.Logger = hl
	rc.NotifyCh = n.leaderCh
	logs, err := raft.NewLogCache(512, store)
	if err != nil {
		trans.Close()
		store.Close()
		return fmt.Errorf("open log cache: %w", err)
	}
	rt := newRPCTransport(trans, n.heardRPC, n.cfg.rpcHook)
	r, err := raft.NewRaft(rc, n.fsm, logs, store, snaps, rt)
	if err != nil {
		rt.Close()
		store.Close()
		return fmt.Errorf("start raft: %w", err)
	}
	n.raft, n.transport, n.store = r, rt, store
	n.watchPreVotes()
	rt.start()
	t := n.RaftTimeouts()
	n.logger.Info("raft timing", "profile", n.cfg.RaftProfile, "multiplier", n.cfg.RaftMultiplier,
		"heartbeat", t.Heartbeat, "election", t.Election, "leader-lease", t.LeaderLease)
	return nil
}

// RaftTimeouts returns the timeouts raft runs with: the heartbeat and
// election timeouts as raft holds them, and the leader lease it was given.
func (n *Node) RaftTimeouts() RaftTimeouts {
	rc := n.raft.ReloadableConfig()
	return RaftTimeouts{Heartbeat: rc.HeartbeatTimeout, Election: rc.ElectionTimeout,
		LeaderLease: n.cfg.raftConfig().LeaderLeaseTimeout}
}

func (n *Node) closeRaft() {
	if err := n.raft.Shutdown().Error(); err != nil {
		n.logger.Error("raft shutdown", "error", err)
	}
	n.transport.Close()
	if err := n.store.Close(); err != nil {
		n.logger.Error("close log store", "error", err)
	}
}

// Start joins the cluster and starts the background loops: leadership
// monitoring, bootstrap (with BootstrapExpect), join retries, peer
// bookkeeping, and the watch on the node's file descriptors.
func (n *Node) Start() {
	n.workMu.Lock()
	n.running = true
	n.workMu.Unlock()
	n.spawn(n.monitorLeadership)
	n.spawn(n.watchState)
	n.spawn(n.reconnectLoop)
	n.spawn(n.watchResources)
	n.spawn(n.hastenElections)
	n.electAloneAtOnce()
	if addrs := n.joinAddrs(); len(addrs) > 0 {
		n.spawn(func() { n.joinLoop(addrs) })
	}
}

func (n *Node) spawn(fn func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		fn()
	}()
}

// Fatal returns a channel that receives an error when the node cannot go on
// (its id is taken by a live member, or peers disagree on bootstrap-expect).
// The owner should shut the node down without leaving and exit.
func (n *Node) Fatal() <-chan error { return n.fatalCh }

func (n *Node) fatal(err error) {
	select {
	case n.fatalCh <- err:
	default:
	}
}

// ID returns the node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// FSM returns the node's state machine.
func (n *Node) FSM() *fsm.FSM { return n.fsm }

// RaftAddr returns the address other nodes dial for raft.
func (n *Node) RaftAddr() string { return string(n.transport.LocalAddr()) }

// GossipAddr returns the address other nodes join through.
func (n *Node) GossipAddr() string { return n.gossipAddr }

// IsLeader reports whether this node is the raft leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// VerifyLeader confirms with a quorum that this node is still the leader.
// Leader-side work calls it before every side effect.
func (n *Node) VerifyLeader() error { return translate(n.raft.VerifyLeader().Error()) }

// Barrier waits until every entry committed before it is applied to this
// node's FSM. Only the leader can issue one.
func (n *Node) Barrier(timeout time.Duration) error {
	return translate(n.raft.Barrier(timeout).Error())
}

// Leader returns the leader's id and API address, empty when none is known.
func (n *Node) Leader() (id, apiAddr string) {
	_, lid := n.raft.LeaderWithID()
	if lid == "" {
		return "", ""
	}
	id = string(lid)
	if id == n.cfg.NodeID {
		return id, n.cfg.APIAddr
	}
	n.membersMu.Lock()
	defer n.membersMu.Unlock()
	if m, ok := n.members[id]; ok {
		apiAddr = m.meta.API
	}
	return id, apiAddr
}

// Shutdown stops the node. With leave, it first hands leadership to another
// voter and leaves gossip gracefully, so the leader removes it from the raft
// configuration; without leave (a crash-like stop, or an identity conflict)
// it only closes what it opened.
func (n *Node) Shutdown(leave bool) error {
	var err error
	n.shutdownOnce.Do(func() { err = n.shutdown(leave) })
	return err
}

func (n *Node) shutdown(leave bool) error {
	var errs []error
	if leave {
		if n.IsLeader() && n.voterCount() > 1 {
			n.logger.Info("transferring leadership before leaving")
			if err := n.raft.LeadershipTransfer().Error(); err != nil {
				n.logger.Warn("leadership transfer failed; leaving anyway", "error", err)
			}
		}
		n.announceLeave()
		if err := n.gossip.Leave(3 * time.Second); err != nil {
			n.logger.Warn("leave gossip", "error", err)
		}
	}
	if err := n.gossip.Shutdown(); err != nil {
		errs = append(errs, fmt.Errorf("stop gossip: %w", err))
	}
	close(n.shutdownCh)
	n.wg.Wait()
	if err := n.raft.Shutdown().Error(); err != nil {
		errs = append(errs, fmt.Errorf("stop raft: %w", err))
	}
	if err := n.transport.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close raft transport: %w", err))
	}
	if err := n.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close log store: %w", err))
	}
	n.logger.Info("node stopped", "left", leave)
	return errors.Join(errs...)
}

func (n *Node) voterCount() int {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	c := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			c++
		}
	}
	return c
}

// hasRaftState reports whether this node belongs to a cluster: it
// bootstrapped one, was added to one, or restarted with state on disk.
func (n *Node) hasRaftState() bool {
	if n.raft.LastIndex() > 0 {
		return true
	}
	f := n.raft.GetConfiguration()
	return f.Error() == nil && len(f.Configuration().Servers) > 0
}

// WaitForLeader blocks until this node knows a leader or ctx ends.
func (n *Node) WaitForLeader(ctx context.Context) (string, error) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if id, _ := n.Leader(); id != "" {
			return id, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("wait for leader on %s: %w", n.cfg.NodeID, ctx.Err())
		case <-t.C:
		}
	}
}

// writeFileAtomic replaces path with data: written to a temporary file in
// the same directory (mode 0600, as os.CreateTemp makes it), synced,
// renamed over path, and the directory synced, so that path holds the old
// data or the new, whole, even across a crash.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}
