package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/raft"

	"github.com/honua-io/honua-gitops/internal/gossipkey"
)

// Config configures a Node. The agent fills it from defaults, the config
// file, the environment and flags, then calls Validate.
type Config struct {
	// NodeID names this node in raft and gossip. It must be unique in the
	// cluster and stay the same across restarts.
	NodeID string
	// DataDir holds raft's log, stable store and snapshots.
	DataDir string

	// RaftBind and GossipBind are host:port listen addresses. Port 0 picks
	// a free port (tests). RaftAdvertise and GossipAdvertise are what
	// other nodes dial; empty means the bound address.
	RaftBind        string
	RaftAdvertise   string
	GossipBind      string
	GossipAdvertise string
	// APIAddr is this node's HTTP API address as other nodes should dial
	// it. It travels in gossip so any node can find the leader's API.
	APIAddr string

	// BootstrapExpect is how many servers to wait for before bootstrapping
	// a new cluster. 0 never bootstraps: the node waits to be added.
	BootstrapExpect int
	// Join lists gossip addresses of existing members to join; the node
	// retries with backoff until one answers.
	Join []string
	// JoinRetryMax caps the backoff between join attempts.
	JoinRetryMax time.Duration

	// GossipKey, when set, is the key that encrypts gossip on the node's
	// first start (gossipkey.Size bytes). The keyring it starts is kept in
	// GossipKeyringFile, which wins on every later start, so that keys
	// installed and used since then survive restarts.
	GossipKey []byte
	// GossipKeyringFile is where the gossip keyring is kept; empty means
	// <DataDir>/gossip-keyring.json.
	GossipKeyringFile string

	// Version is the honuad version advertised in gossip.
	Version string

	// RaftProfile names the raft timeouts the node starts from (see
	// RaftProfiles): ProfileDefault, hashicorp/raft's own, or ProfileLAN,
	// about four times faster for a low-latency network. "" means
	// ProfileDefault.
	RaftProfile string
	// RaftMultiplier scales the profile's timeouts as Consul's
	// raft_multiplier does: 1 keeps them, higher is more tolerant of slow
	// machines. The explicit timeouts below win when set, and may go below
	// the profile's.
	RaftMultiplier int
	// HeartbeatTimeout is how long a follower goes without hearing from the
	// leader before it stands for election; ElectionTimeout is how long a
	// candidate waits for votes before it tries again; LeaderLeaseTimeout
	// is how long a leader goes without hearing from a quorum before it
	// steps down. 0 means the profile's, scaled by RaftMultiplier.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	SnapshotThreshold  uint64
	SnapshotInterval   time.Duration
	TrailingLogs       uint64

	// ApplyTimeout bounds one Apply.
	ApplyTimeout time.Duration
	// MaxCommandSize bounds the encoding of one command, in bytes: Apply
	// refuses a larger one with ErrTooLarge and never proposes it. Every
	// entry is sent to every follower within a heartbeat and kept in the
	// log and snapshots, so it must stay small. 0 means
	// DefaultMaxCommandSize; it must be between MinCommandSize and
	// MaxCommandSizeLimit.
	MaxCommandSize int
	// ReconcileInterval is how often the leader reconciles raft membership
	// with gossip even without gossip events.
	ReconcileInterval time.Duration
	// ReconnectInterval is how often a node tries to rejoin members it
	// sees as failed, so that views merge again after a partition.
	ReconnectInterval time.Duration

	// MinVoters is the size below which the leader does not remove a member
	// that left gracefully (it stays a voter until an operator removes it),
	// so that stopping a whole cluster does not shrink it to one voter.
	MinVoters int

	// DeadServerCleanup, when true, lets the leader remove voters that
	// have been dead in gossip for DeadServerGrace, never more than
	// (voters-1)/2 at a time.
	DeadServerCleanup bool
	DeadServerGrace   time.Duration

	// ResourceCheckInterval is how often the node checks that it can open
	// a file; ResourceGrace is how long it may be out of file descriptors
	// before, as the leader, it hands its leadership to another voter.
	ResourceCheckInterval time.Duration
	ResourceGrace         time.Duration

	// RaftTLS, when set, makes raft use mutual TLS: the node accepts a
	// raft connection only from a peer whose certificate RaftTLS.Server
	// accepts, dials only peers whose certificate RaftTLS.Client accepts,
	// and adds a new member as a voter only once its raft address has
	// proved such a certificate. Nil: plain TCP, which anyone who can
	// reach the raft address can speak raft over.
	RaftTLS *RaftTLS

	// Gossip, when set, adjusts the memberlist configuration after defaults
	// are applied (tests use memberlist's local profile).
	Gossip func(*memberlist.Config)

	// Logger receives the node's logs; raft's and memberlist's are routed
	// into it.
	Logger *slog.Logger

	// rpcHook, when set, sees every RPC the transport hands to raft
	// (heartbeats aside) just before raft does, and may delay it; tests
	// hold a node's log replication back with it.
	rpcHook func(raft.RPC)
}

// Limits of Config.MaxCommandSize. The default holds a bounded plan (256
// KiB) with room to spare, like etcd's 1.5 MiB request limit; the minimum
// still holds a deployment's failure with its bounded messages.
const (
	DefaultMaxCommandSize = 1 << 20
	MinCommandSize        = 64 << 10
	MaxCommandSizeLimit   = 64 << 20
)

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		RaftBind:       "127.0.0.1:7301",
		GossipBind:     "127.0.0.1:7401",
		JoinRetryMax:   30 * time.Second,
		RaftMultiplier: 1,
		// Followers learn that the last entry of a burst committed on the
		// leader's next CommitTimeout tick; hashicorp's 50 ms shows as lag
		// in follower reads. 10 ms costs a few tiny RPCs a second.
		CommitTimeout:     10 * time.Millisecond,
		ApplyTimeout:      10 * time.Second,
		MaxCommandSize:    DefaultMaxCommandSize,
		ReconcileInterval: 60 * time.Second,
		ReconnectInterval: 10 * time.Second,
		DeadServerGrace:   10 * time.Minute,
		MinVoters:         3,
		// A second's probe costs one open and close; ten seconds of
		// exhaustion rides out a burst without moving leadership.
		ResourceCheckInterval: time.Second,
		ResourceGrace:         10 * time.Second,
	}
}

var nodeIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// FieldError says which configuration field is wrong and why.
type FieldError struct {
	Field string
	Value any
	Why   string
}

func (e *FieldError) Error() string {
	if e.Value == nil || e.Value == "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Why)
	}
	return fmt.Sprintf("%s %q: %s", e.Field, fmt.Sprint(e.Value), e.Why)
}

// Validate fills derived values and rejects bad ones with the field's name.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field string, v any, why string) { errs = append(errs, &FieldError{field, v, why}) }
	if !nodeIDRE.MatchString(c.NodeID) {
		bad("node-id", c.NodeID, "must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	if c.DataDir == "" {
		bad("data-dir", "", "is required")
	}
	for _, a := range []struct{ field, addr string }{
		{"raft-addr", c.RaftBind}, {"gossip-addr", c.GossipBind},
	} {
		if err := CheckListenAddr(a.addr); err != nil {
			bad(a.field, a.addr, err.Error())
		}
	}
	for _, a := range []struct{ field, addr string }{
		{"raft advertise address", c.RaftAdvertise}, {"gossip advertise address", c.GossipAdvertise},
	} {
		if a.addr == "" {
			continue
		}
		if err := CheckListenAddr(a.addr); err != nil {
			bad(a.field, a.addr, err.Error())
		}
	}
	if c.GossipKey != nil && len(c.GossipKey) != gossipkey.Size {
		bad("gossip-key-file", "", fmt.Sprintf("must hold a %d-byte key, not %d bytes", gossipkey.Size, len(c.GossipKey)))
	}
	if c.GossipKeyringFile == "" && c.DataDir != "" {
		c.GossipKeyringFile = filepath.Join(c.DataDir, "gossip-keyring.json")
	}
	if c.BootstrapExpect < 0 {
		bad("bootstrap-expect", c.BootstrapExpect, "must not be negative")
	}
	for _, j := range c.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			bad("join", j, "must be host:port")
		}
	}
	if c.RaftMultiplier < 1 || c.RaftMultiplier > 10 {
		bad("raft-multiplier", c.RaftMultiplier, "must be between 1 and 10")
	}
	errs = append(errs, c.validateRaftTiming()...)
	if c.JoinRetryMax <= 0 {
		c.JoinRetryMax = 30 * time.Second
	}
	if c.ApplyTimeout <= 0 {
		c.ApplyTimeout = 10 * time.Second
	}
	switch {
	case c.MaxCommandSize == 0:
		c.MaxCommandSize = DefaultMaxCommandSize
	case c.MaxCommandSize < MinCommandSize || c.MaxCommandSize > MaxCommandSizeLimit:
		bad("max-command-size", c.MaxCommandSize, fmt.Sprintf("must be between %d (64 KiB) and %d (64 MiB) bytes", MinCommandSize, MaxCommandSizeLimit))
	}
	if c.ReconcileInterval <= 0 {
		c.ReconcileInterval = 60 * time.Second
	}
	if c.ReconnectInterval <= 0 {
		c.ReconnectInterval = 10 * time.Second
	}
	if c.MinVoters < 1 {
		c.MinVoters = 3
	}
	if c.DeadServerGrace <= 0 {
		c.DeadServerGrace = 10 * time.Minute
	}
	if c.ResourceCheckInterval <= 0 {
		c.ResourceCheckInterval = time.Second
	}
	if c.ResourceGrace <= 0 {
		c.ResourceGrace = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if len(errs) == 0 {
		if err := raft.ValidateConfig(c.raftConfig()); err != nil {
			bad("raft timing", "", err.Error())
		}
	}
	return errors.Join(errs...)
}

// CheckListenAddr checks a listen address: an IP (or nothing, for every
// interface) and a port from 0 to 65535.
func CheckListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("must be host:port")
	}
	if host != "" && net.ParseIP(host) == nil {
		return errors.New("host must be an IP address")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return errors.New("port must be a number from 0 to 65535")
	}
	return nil
}

// raftConfig builds raft's configuration: hashicorp's defaults, the
// profile's timeouts scaled by the multiplier, then explicit values.
func (c *Config) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.NodeID)
	t := c.RaftTimeouts()
	rc.HeartbeatTimeout = t.Heartbeat
	rc.ElectionTimeout = t.Election
	rc.LeaderLeaseTimeout = t.LeaderLease
	if c.CommitTimeout > 0 {
		rc.CommitTimeout = c.CommitTimeout
	}
	if c.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = c.SnapshotThreshold
	}
	if c.SnapshotInterval > 0 {
		rc.SnapshotInterval = c.SnapshotInterval
	}
	if c.TrailingLogs > 0 {
		rc.TrailingLogs = c.TrailingLogs
	}
	return rc
}
