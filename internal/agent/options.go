package agent

import (
	"fmt"
	"strconv"
	"strings"
)

// Option is one option of honuad agent, declared once: its flag, the
// environment variable and the configuration file key that also set it,
// its usage, and the field of Config it sets. Its default is that field's
// value in DefaultConfig. cmd/honuad derives the flags from Options,
// LoadFile the file keys, and docs/configuration.md is checked against it.
type Option struct {
	// Name is the flag's name without dashes ("raft-addr"). The
	// environment variable is HONUA_ and the name in upper case with
	// underscores (Env).
	Name string
	// Key is the dotted configuration file key ("raft-addr",
	// "auth.tokensFile"); "" for --config, which the file cannot set.
	Key string
	// Usage is the flag's help text.
	Usage string
	// field returns a pointer to the option's field of c: a *string,
	// *int, *uint64, *bool, *[]string, *Duration, *Size, *Rate or
	// *ClientAuth. It is nil for --config.
	field func(c *Config) any
}

// ConfigFileOption is the name of the option that names the configuration
// file (--config): it has no field and no file key.
const ConfigFileOption = "config"

// Env is the environment variable that sets the option: HONUA_NODE_ID
// for --node-id.
func (o Option) Env() string {
	return "HONUA_" + strings.ToUpper(strings.ReplaceAll(o.Name, "-", "_"))
}

// Field returns a pointer to the option's field of c (see Option.field for
// its types), or nil for --config.
func (o Option) Field(c *Config) any {
	if o.field == nil {
		return nil
	}
	return o.field(c)
}

// Default is the option's default as --help and docs/configuration.md
// show it: its value in DefaultConfig, "" for none (an empty string or
// list, and --config).
func (o Option) Default() string {
	def := DefaultConfig()
	switch v := o.Field(&def).(type) {
	case nil:
		return ""
	case *string:
		return *v
	case *int:
		return strconv.Itoa(*v)
	case *uint64:
		return strconv.FormatUint(*v, 10)
	case *bool:
		return strconv.FormatBool(*v)
	case *[]string:
		return strings.Join(*v, ",")
	case fmt.Stringer: // Duration, Size, Rate, ClientAuth
		return v.String()
	default:
		panic(fmt.Sprintf("agent: option %s has a field of type %T", o.Name, v))
	}
}

// Options returns honuad agent's options in the order --help lists them.
func Options() []Option {
	out := make([]Option, len(options))
	for i, o := range options {
		if o.Key == "" && o.field != nil {
			o.Key = o.Name
		}
		out[i] = o
	}
	return out
}

// options is the table of Options. An entry's Key is given only where it
// is not the flag's name.
var options = []Option{
	{Name: ConfigFileOption, Usage: "YAML configuration file"},
	{Name: "node-id", Usage: "unique, stable id of this node (required)",
		field: func(c *Config) any { return &c.NodeID }},
	{Name: "data-dir", Usage: "directory for raft state (required)",
		field: func(c *Config) any { return &c.DataDir }},
	{Name: "raft-addr", Usage: "raft listen address",
		field: func(c *Config) any { return &c.RaftAddr }},
	{Name: "gossip-addr", Usage: "gossip (memberlist) listen address, TCP and UDP",
		field: func(c *Config) any { return &c.GossipAddr }},
	{Name: "http-addr", Usage: "HTTP API listen address",
		field: func(c *Config) any { return &c.HTTPAddr }},
	{Name: "advertise-addr", Usage: "IP other nodes dial; required when listening on 0.0.0.0",
		field: func(c *Config) any { return &c.AdvertiseAddr }},
	{Name: "bootstrap-expect", Usage: "bootstrap a new cluster once this many servers see each other (0: never)",
		field: func(c *Config) any { return &c.BootstrapExpect }},
	{Name: "join", Usage: "gossip address of a member to join (repeatable); retried until it answers",
		field: func(c *Config) any { return &c.Join }},
	{Name: "gossip-key-file", Usage: "file holding the base64 key that encrypts gossip (see honuad keygen); read on the first start, then the keyring in the data dir wins",
		field: func(c *Config) any { return &c.GossipKeyFile }},
	{Name: "log-level", Usage: "debug, info, warn or error",
		field: func(c *Config) any { return &c.LogLevel }},
	{Name: "log-format", Usage: "text or json",
		field: func(c *Config) any { return &c.LogFormat }},
	{Name: "raft-profile", Usage: "raft timeouts: default (hashicorp/raft's: failover in 1-2s) or lan (a quarter of them, for a low-latency network)",
		field: func(c *Config) any { return &c.RaftProfile }},
	{Name: "raft-multiplier", Usage: "scale the profile's raft timeouts (1 = as they are; raise on slow machines)",
		field: func(c *Config) any { return &c.RaftMultiplier }},
	{Name: "raft-heartbeat-timeout", Usage: "how long a follower goes without the leader before it stands for election (0s: the profile's)",
		field: func(c *Config) any { return &c.RaftHeartbeatTimeout }},
	{Name: "raft-election-timeout", Usage: "how long a candidate waits for votes before it tries again; not shorter than the heartbeat timeout (0s: the profile's)",
		field: func(c *Config) any { return &c.RaftElectionTimeout }},
	{Name: "raft-leader-lease-timeout", Usage: "how long a leader goes without a quorum before it steps down; not longer than the heartbeat timeout (0s: the profile's)",
		field: func(c *Config) any { return &c.RaftLeaderLeaseTimeout }},
	{Name: "raft-snapshot-threshold", Usage: "snapshot the state after this many new log entries",
		field: func(c *Config) any { return &c.RaftSnapshotThreshold }},
	{Name: "raft-snapshot-interval", Usage: "how often to check whether to snapshot",
		field: func(c *Config) any { return &c.RaftSnapshotInterval }},
	{Name: "raft-trailing-logs", Usage: "log entries kept behind a snapshot for slow followers",
		field: func(c *Config) any { return &c.RaftTrailingLogs }},
	{Name: "dead-server-cleanup", Usage: "let the leader remove servers dead for longer than --dead-server-grace",
		field: func(c *Config) any { return &c.DeadServerCleanup }},
	{Name: "dead-server-grace", Usage: "how long a server stays dead before cleanup may remove it",
		field: func(c *Config) any { return &c.DeadServerGrace }},
	{Name: "history-retention", Usage: "deployments kept per environment",
		field: func(c *Config) any { return &c.HistoryRetention }},
	{Name: "plan-retention", Usage: "newest deployments per environment that keep their plan and validation documents",
		field: func(c *Config) any { return &c.PlanRetention }},
	{Name: "dry-run", Usage: "validate and plan every deployment, and stop there",
		field: func(c *Config) any { return &c.DryRun }},
	{Name: "tokens-file", Key: "auth.tokensFile", Usage: "API bearer tokens (the config file's auth.tokensFile); see honuad token create",
		field: func(c *Config) any { return &c.Auth.TokensFile }},
	{Name: "insecure-no-auth", Usage: "serve the API without authentication on a non-loopback address",
		field: func(c *Config) any { return &c.InsecureNoAuth }},
	{Name: "leader-wait", Usage: "how long a write waits for a leader before 503 no_leader",
		field: func(c *Config) any { return &c.LeaderWait }},
	{Name: "max-file-size", Usage: "largest file of the repository read (a bundle file or the policy); a larger one fails validation",
		field: func(c *Config) any { return &c.MaxFileSize }},
	{Name: "max-environment-size", Usage: "largest total of an environment's files, shared config included",
		field: func(c *Config) any { return &c.MaxEnvironmentSize }},
	{Name: "max-command-size", Usage: "largest command replicated through raft (64KiB to 64MiB); a larger one is refused",
		field: func(c *Config) any { return &c.MaxCommandSize }},
	{Name: "http-read-timeout", Usage: "how long a client may take to send a whole request (a backup upload: between two reads)",
		field: func(c *Config) any { return &c.HTTPReadTimeout }},
	{Name: "http-write-timeout", Usage: "how long a request may take to be answered (the event stream and backups: between two writes); more than leader-wait + 30s",
		field: func(c *Config) any { return &c.HTTPWriteTimeout }},
	{Name: "http-idle-timeout", Usage: "how long an idle keep-alive connection is kept",
		field: func(c *Config) any { return &c.HTTPIdleTimeout }},
	{Name: "http-max-conns", Usage: "API connections served at once; more wait to be accepted",
		field: func(c *Config) any { return &c.HTTPMaxConns }},
	{Name: "http-max-client-requests", Usage: "requests one client address may have in flight on each open endpoint (probes, metrics, webhooks) before 429",
		field: func(c *Config) any { return &c.HTTPMaxClientRequests }},
	{Name: "enable-debug", Usage: "serve Go's pprof profiles and traces at /debug/pprof/ on the API listener, to admin tokens only",
		field: func(c *Config) any { return &c.EnableDebug }},
	{Name: "tls-ca-file", Usage: "CA certificates (PEM) that sign the nodes' and clients' certificates; with the cert and key: API over TLS, raft over mutual TLS",
		field: func(c *Config) any { return &c.TLSCAFile }},
	{Name: "tls-cert-file", Usage: "this node's certificate (PEM), carrying the DNS name server.honua; see honuad tls cert create",
		field: func(c *Config) any { return &c.TLSCertFile }},
	{Name: "tls-key-file", Usage: "the private key (PEM) of --tls-cert-file",
		field: func(c *Config) any { return &c.TLSKeyFile }},
	{Name: "tls-verify-server-hostname", Usage: "accept as a raft peer or forwarding target only a certificate carrying server.honua",
		field: func(c *Config) any { return &c.TLSVerifyServerHostname }},
	{Name: "tls-client-auth", Usage: "API client certificates: none, request (verified if sent) or require (mutual TLS)",
		field: func(c *Config) any { return &c.TLSClientAuth }},
	{Name: "http-webhook-rate", Usage: "webhook deliveries one client address may send to each source (10/s, 5/m, off) before 429",
		field: func(c *Config) any { return &c.HTTPWebhookRate }},
	{Name: "http-webhook-burst", Usage: "webhook deliveries one client address may send at once, above its rate",
		field: func(c *Config) any { return &c.HTTPWebhookBurst }},
	{Name: "http-auth-failure-rate", Usage: "failed authentications one client address may make (5/m, off); past them its requests get 429 unchecked",
		field: func(c *Config) any { return &c.HTTPAuthFailureRate }},
	{Name: "http-auth-failure-burst", Usage: "failed authentications one client address may make at once, above its rate",
		field: func(c *Config) any { return &c.HTTPAuthFailureBurst }},
	{Name: "http-max-forwarded", Usage: "requests this node may have forwarded to the leader at once; more get 503 busy",
		field: func(c *Config) any { return &c.HTTPMaxForwarded }},
}
