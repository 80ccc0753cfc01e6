// Package agent owns the honuad process: its configuration (defaults, file,
// environment, flags), the wiring of the FSM, the cluster node and the API,
// and the signals that stop it.
package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"os"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/hashicorp/raft"
	"go.yaml.in/yaml/v3"

	"github.com/honua-io/honua-gitops/internal/certs"
	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/configrepo"
	"github.com/honua-io/honua-gitops/internal/gossipkey"
	"github.com/honua-io/honua-gitops/internal/rpc"
)

// Config is honuad's configuration. Each field an option sets is bound to
// its flag, environment variable and file key in Options; the file-only
// sections are Sections.
type Config struct {
	NodeID          string
	DataDir         string
	RaftAddr        string
	GossipAddr      string
	HTTPAddr        string
	AdvertiseAddr   string
	BootstrapExpect int
	Join            []string
	LogLevel        string
	LogFormat       string
	// GossipKeyFile holds the key that encrypts gossip on the node's first
	// start; the keyring in the data dir wins afterwards.
	GossipKeyFile string

	// RaftProfile names the raft timeouts (cluster.RaftProfiles);
	// RaftMultiplier scales them; the three timeouts, when not 0, replace
	// the profile's.
	RaftProfile            string
	RaftMultiplier         int
	RaftHeartbeatTimeout   Duration
	RaftElectionTimeout    Duration
	RaftLeaderLeaseTimeout Duration
	// Raft log compaction: snapshot after this many new entries, checked
	// every interval, keeping this many entries behind the snapshot.
	RaftSnapshotThreshold uint64
	RaftSnapshotInterval  Duration
	RaftTrailingLogs      uint64
	DeadServerCleanup     bool
	DeadServerGrace       Duration
	HistoryRetention      int
	PlanRetention         int
	// DryRun stops every environment's deployments after Planning.
	DryRun bool
	// InsecureNoAuth lets the API listen beyond loopback without tokens.
	InsecureNoAuth bool
	// LeaderWait is how long a write waits for a leader before a 503.
	LeaderWait Duration
	// What enters the replicated log is bounded: the files read from a
	// commit (each, and an environment's together) and any command the
	// leader proposes.
	MaxFileSize        Size
	MaxEnvironmentSize Size
	MaxCommandSize     Size

	// The API listener's limits: how long a request may take to arrive
	// and to be answered, how long an idle keep-alive connection is kept,
	// how many connections are served at once, and how many requests one
	// client address may have in flight on each open endpoint.
	HTTPReadTimeout  Duration
	HTTPWriteTimeout Duration
	// EnableDebug serves net/http/pprof at /debug/pprof/ to admins.
	EnableDebug           bool
	HTTPIdleTimeout       Duration
	HTTPMaxConns          int
	HTTPMaxClientRequests int
	// The API's abuse limits: webhook deliveries and failed
	// authentications per client, and requests forwarded to the leader at
	// once.
	HTTPWebhookRate      Rate
	HTTPWebhookBurst     int
	HTTPAuthFailureRate  Rate
	HTTPAuthFailureBurst int
	HTTPMaxForwarded     int

	// TLS: with the three files, the API serves TLS and raft uses mutual
	// TLS (see package certs); the files are reloaded when they change.
	TLSCAFile               string
	TLSCertFile             string
	TLSKeyFile              string
	TLSVerifyServerHostname bool
	TLSClientAuth           ClientAuth

	// The sections of docs/domain.md#configuration (file only).
	Sections
	// Auth holds auth.tokensFile, which --tokens-file sets too.
	Auth AuthConfig
}

// AuthConfig is where the API's bearer tokens are listed.
type AuthConfig struct {
	TokensFile string
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration time.Duration

// String writes the duration as --help shows defaults: in hours or
// minutes when it is a whole number of at least two of them ("10m", "2h"),
// else in seconds when whole ("60s", "90s"), else as time.Duration does.
func (d Duration) String() string {
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := time.Duration(d) / u.unit; time.Duration(d)%u.unit == 0 && (n >= 2 || u.unit == time.Second) {
			return fmt.Sprintf("%d%s", n, u.name)
		}
	}
	return time.Duration(d).String()
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 30s or 10m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// ClientAuth is --tls-client-auth: none, request or require.
type ClientAuth certs.ClientAuth

// String returns the flag value: none, request or require.
func (a ClientAuth) String() string { return certs.ClientAuth(a).String() }

// UnmarshalText implements encoding.TextUnmarshaler: a flag's or an
// environment variable's value.
func (a *ClientAuth) UnmarshalText(b []byte) error {
	v, err := certs.ParseClientAuth(string(b))
	if err != nil {
		return err
	}
	*a = ClientAuth(v)
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (a *ClientAuth) UnmarshalYAML(n *yaml.Node) error {
	if err := a.UnmarshalText([]byte(n.Value)); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// Size is a number of bytes, written as one ("4194304") or with a unit
// ("4MiB", "512 KiB"; KB and MB are powers of 1000).
type Size int64

// ParseSize parses a Size.
func ParseSize(s string) (Size, error) {
	n, err := humanize.ParseBytes(s)
	if err != nil || n > math.MaxInt64 {
		return 0, fmt.Errorf("%q is not a size like 4MiB or 4194304", s)
	}
	return Size(n), nil
}

// String writes the size in the largest binary unit that divides it:
// "4MiB", "1536KiB", "1000".
func (s Size) String() string {
	for _, u := range []struct {
		name string
		size Size
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if s != 0 && s%u.size == 0 {
			return fmt.Sprintf("%d%s", s/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d", int64(s))
}

// UnmarshalText implements encoding.TextUnmarshaler: a flag's or an
// environment variable's value.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if err := s.UnmarshalText([]byte(n.Value)); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// DefaultConfig returns the defaults, which the file, the environment and
// the flags override in that order.
func DefaultConfig() Config {
	return Config{
		RaftAddr:       "127.0.0.1:7301",
		GossipAddr:     "127.0.0.1:7401",
		HTTPAddr:       "127.0.0.1:7201",
		LogLevel:       "info",
		LogFormat:      "text",
		RaftProfile:    cluster.ProfileDefault,
		RaftMultiplier: 1,
		// hashicorp/raft's own (internal/cluster also takes 0 for them).
		RaftSnapshotThreshold: raft.DefaultConfig().SnapshotThreshold,
		RaftSnapshotInterval:  Duration(raft.DefaultConfig().SnapshotInterval),
		RaftTrailingLogs:      raft.DefaultConfig().TrailingLogs,
		DeadServerGrace:       Duration(10 * time.Minute),
		LeaderWait:            Duration(5 * time.Second),
		HistoryRetention:      100,
		PlanRetention:         20,
		// A real configuration file is a few hundred KiB at most; see
		// configrepo and cluster for what each limit protects.
		MaxFileSize:        configrepo.DefaultMaxFileSize,
		MaxEnvironmentSize: configrepo.DefaultMaxEnvironmentSize,
		MaxCommandSize:     cluster.DefaultMaxCommandSize,
		// A request body is at most 64 KiB (backups push their own
		// deadlines), so 30s is generous for any client.
		HTTPReadTimeout: Duration(rpc.DefaultReadTimeout),
		// Leaves room for a forwarded write: leader-wait (5s), then the
		// leader's answer (up to 30s).
		HTTPWriteTimeout: Duration(rpc.DefaultWriteTimeout),
		// Longer than the 60s idle timeout of common load balancers, so
		// that a proxy never reuses a connection this node is closing.
		HTTPIdleTimeout: Duration(90 * time.Second),
		// Well under the usual open-file limits (raised to the hard limit
		// by Go at start), leaving room for raft, gossip, git and targets.
		HTTPMaxConns:          1024,
		HTTPMaxClientRequests: rpc.DefaultMaxClientRequests,
		// Only a node's certificate may serve raft and the API to peers:
		// a client certificate of the same CA must not pass for one.
		TLSVerifyServerHostname: true,
		HTTPWebhookRate:         Rate(rpc.DefaultWebhookRate),
		HTTPWebhookBurst:        rpc.DefaultWebhookBurst,
		HTTPAuthFailureRate:     Rate(rpc.DefaultAuthFailureRate),
		HTTPAuthFailureBurst:    rpc.DefaultAuthFailureBurst,
		HTTPMaxForwarded:        rpc.DefaultMaxForwarded,
		Sections:                Sections{Drift: DriftConfig{Interval: Duration(DefaultDriftInterval)}},
	}
}

// ConfigError is a configuration the agent refuses; honuad exits 2 on it.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Validate checks the configuration and returns every problem, each naming
// its field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field string, v any, why string) {
		errs = append(errs, &cluster.FieldError{Field: field, Value: v, Why: why})
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", c.LogLevel, "must be debug, info, warn or error")
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("log-format", c.LogFormat, "must be text or json")
	}
	if err := cluster.CheckListenAddr(c.HTTPAddr); err != nil {
		bad("http-addr", c.HTTPAddr, err.Error())
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		bad("advertise-addr", c.AdvertiseAddr, "must be an IP address")
	}
	if c.AdvertiseAddr == "" {
		for _, a := range []struct{ field, addr string }{
			{"http-addr", c.HTTPAddr}, {"raft-addr", c.RaftAddr}, {"gossip-addr", c.GossipAddr},
		} {
			if host, _, err := net.SplitHostPort(a.addr); err == nil && (host == "" || net.ParseIP(host).IsUnspecified()) {
				bad("advertise-addr", "", fmt.Sprintf("is required when %s listens on all interfaces (%s)", a.field, a.addr))
				break
			}
		}
	}
	if c.HistoryRetention < 1 {
		bad("history-retention", c.HistoryRetention, "must be at least 1")
	}
	if c.PlanRetention < 1 {
		bad("plan-retention", c.PlanRetention, "must be at least 1")
	}
	switch {
	case c.MaxFileSize <= 0:
		bad("max-file-size", c.MaxFileSize, "must be positive")
	case c.MaxEnvironmentSize <= 0:
		bad("max-environment-size", c.MaxEnvironmentSize, "must be positive")
	case c.MaxFileSize > c.MaxEnvironmentSize:
		bad("max-file-size", c.MaxFileSize, fmt.Sprintf("must not be larger than max-environment-size (%s)", c.MaxEnvironmentSize))
	}
	if c.MaxCommandSize <= 0 { // the cluster checks its range
		bad("max-command-size", c.MaxCommandSize, "must be positive")
	}
	if c.LeaderWait <= 0 {
		bad("leader-wait", time.Duration(c.LeaderWait).String(), "must be positive")
	}
	errs = append(errs, c.validateHTTPLimits()...)
	// Reads and checks the files: a node with TLS half configured, or
	// with a certificate that expired, refuses to start.
	if err := c.tlsConfig().Check(); err != nil {
		errs = append(errs, err)
	}
	if c.GossipKeyFile != "" {
		if _, err := readGossipKey(c.GossipKeyFile); err != nil {
			bad("gossip-key-file", c.GossipKeyFile, err.Error())
		}
	}
	errs = append(errs, c.validateAbuseLimits()...)
	if c.Auth.TokensFile == "" && !c.InsecureNoAuth {
		if host, _, err := net.SplitHostPort(c.HTTPAddr); err == nil && !isLoopback(host) {
			bad("http-addr", c.HTTPAddr, "listening beyond loopback needs authentication: give auth.tokensFile (--tokens-file), or --insecure-no-auth to run without")
		}
	}
	cc := c.clusterConfig("")
	if err := cc.Validate(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.validateSections()...)
	if err := errors.Join(errs...); err != nil {
		return &ConfigError{err}
	}
	return nil
}

// validateHTTPLimits checks the API listener's limits.
func (c *Config) validateHTTPLimits() []error {
	var errs []error
	bad := func(field string, v any, why string) {
		errs = append(errs, &cluster.FieldError{Field: field, Value: v, Why: why})
	}
	for _, d := range []struct {
		field string
		v     Duration
	}{{"http-read-timeout", c.HTTPReadTimeout}, {"http-write-timeout", c.HTTPWriteTimeout}, {"http-idle-timeout", c.HTTPIdleTimeout}} {
		if d.v <= 0 {
			bad(d.field, time.Duration(d.v).String(), "must be positive")
		}
	}
	if need := time.Duration(c.LeaderWait) + forwardTimeout; c.HTTPWriteTimeout > 0 && c.LeaderWait > 0 && time.Duration(c.HTTPWriteTimeout) <= need {
		bad("http-write-timeout", time.Duration(c.HTTPWriteTimeout).String(),
			fmt.Sprintf("must be longer than leader-wait (%v) plus the %v a forwarded request may wait for the leader's answer", time.Duration(c.LeaderWait), forwardTimeout))
	}
	if c.HTTPMaxConns < 1 {
		bad("http-max-conns", c.HTTPMaxConns, "must be at least 1")
	}
	if c.HTTPMaxClientRequests < 1 {
		bad("http-max-client-requests", c.HTTPMaxClientRequests, "must be at least 1")
	}
	return errs
}

// tlsConfig is the TLS part of the configuration.
func (c *Config) tlsConfig() certs.Config {
	return certs.Config{CAFile: c.TLSCAFile, CertFile: c.TLSCertFile, KeyFile: c.TLSKeyFile,
		VerifyServerHostname: c.TLSVerifyServerHostname, ClientAuth: certs.ClientAuth(c.TLSClientAuth)}
}

// readGossipKey reads the key of --gossip-key-file. Its errors say why the
// file holds no key, without quoting it or repeating its path.
func readGossipKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("cannot be read: %w", err)
	}
	return gossipkey.Parse(b)
}

// advertised returns the address others should dial for a listener bound
// at bind: the advertise address with bind's port, or bind itself.
func (c *Config) advertised(bind string) string {
	if c.AdvertiseAddr == "" {
		return bind
	}
	_, port, _ := net.SplitHostPort(bind)
	return net.JoinHostPort(c.AdvertiseAddr, port)
}

// clusterConfig derives the cluster node's configuration.
func (c *Config) clusterConfig(version string) cluster.Config {
	cc := cluster.DefaultConfig()
	cc.NodeID = c.NodeID
	cc.DataDir = c.DataDir
	cc.RaftBind = c.RaftAddr
	cc.GossipBind = c.GossipAddr
	if c.AdvertiseAddr != "" {
		cc.RaftAdvertise = c.advertised(c.RaftAddr)
		cc.GossipAdvertise = c.advertised(c.GossipAddr)
	}
	cc.APIAddr = c.advertised(c.HTTPAddr)
	cc.BootstrapExpect = c.BootstrapExpect
	cc.Join = c.Join
	cc.Version = version
	cc.RaftProfile = c.RaftProfile
	cc.RaftMultiplier = c.RaftMultiplier
	cc.HeartbeatTimeout = time.Duration(c.RaftHeartbeatTimeout)
	cc.ElectionTimeout = time.Duration(c.RaftElectionTimeout)
	cc.LeaderLeaseTimeout = time.Duration(c.RaftLeaderLeaseTimeout)
	cc.SnapshotThreshold = c.RaftSnapshotThreshold
	cc.SnapshotInterval = time.Duration(c.RaftSnapshotInterval)
	cc.TrailingLogs = c.RaftTrailingLogs
	cc.DeadServerCleanup = c.DeadServerCleanup
	cc.DeadServerGrace = time.Duration(c.DeadServerGrace)
	if c.MaxCommandSize > 0 { // 0 would mean the default: Validate refuses it
		cc.MaxCommandSize = int(min(c.MaxCommandSize, math.MaxInt32))
	}
	return cc
}

// isLoopback reports whether host only accepts connections from this
// machine.
func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
