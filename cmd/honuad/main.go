// Command honuad is the Honua GitOps server: one node of a Raft cluster that
// watches a configuration repository and deploys it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/honua-io/honua-gitops/internal/agent"
	"github.com/honua-io/honua-gitops/internal/certs"
	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/gossipkey"
	"github.com/honua-io/honua-gitops/internal/rpc"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// usageError marks a command line urfave/cli refused.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func main() {
	// A control plane holds its state in memory and does little else: a
	// tighter GC target keeps its resident memory near the state's size
	// (GOGC, when set, wins).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	os.Exit(run(os.Args))
}

func run(args []string) int {
	app := newApp()
	err := app.Run(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "honuad: %v\n", err)
	}
	return exitCode(err)
}

// exitCode is honuad's exit status after err: 0 for none, 2 for a command
// line or configuration it refused, 1 for any other failure.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ce *agent.ConfigError
	var ue usageError
	if errors.As(err, &ce) || errors.As(err, &ue) {
		return 2
	}
	return 1
}

func env(name string) []string {
	return []string{"HONUA_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))}
}

func newApp() *cli.App {
	def := agent.DefaultConfig()
	return &cli.App{
		Name:            "honuad",
		Usage:           "the Honua GitOps server",
		Version:         version,
		HideHelpCommand: true,
		ExitErrHandler:  func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError{fmt.Errorf("unknown command %q; run '%s --help'", c.Args().First(), c.App.Name)}
			}
			return cli.ShowAppHelp(c)
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
		Commands: []*cli.Command{{
			Name:  "agent",
			Usage: "run a honuad node",
			Description: "Each flag is also read from HONUA_<NAME> (HONUA_NODE_ID for --node-id) and from the\n" +
				"YAML file given by --config, whose keys are the flag names. Flags win over the\n" +
				"environment, which wins over the file.",
			OnUsageError: func(_ *cli.Context, err error, _ bool) error {
				return usageError{err}
			},
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "config", EnvVars: env("config"), Usage: "YAML configuration file"},
				&cli.StringFlag{Name: "node-id", EnvVars: env("node-id"), Usage: "unique, stable id of this node (required)"},
				&cli.StringFlag{Name: "data-dir", EnvVars: env("data-dir"), Usage: "directory for raft state (required)"},
				&cli.StringFlag{Name: "raft-addr", EnvVars: env("raft-addr"), Usage: "raft listen address", DefaultText: def.RaftAddr},
				&cli.StringFlag{Name: "gossip-addr", EnvVars: env("gossip-addr"), Usage: "gossip (memberlist) listen address, TCP and UDP", DefaultText: def.GossipAddr},
				&cli.StringFlag{Name: "http-addr", EnvVars: env("http-addr"), Usage: "HTTP API listen address", DefaultText: def.HTTPAddr},
				&cli.StringFlag{Name: "advertise-addr", EnvVars: env("advertise-addr"), Usage: "IP other nodes dial; required when listening on 0.0.0.0"},
				&cli.IntFlag{Name: "bootstrap-expect", EnvVars: env("bootstrap-expect"), Usage: "bootstrap a new cluster once this many servers see each other (0: never)"},
				&cli.StringSliceFlag{Name: "join", EnvVars: env("join"), Usage: "gossip address of a member to join (repeatable); retried until it answers"},
				&cli.StringFlag{Name: "gossip-key-file", EnvVars: env("gossip-key-file"), Usage: "file holding the base64 key that encrypts gossip (see honuad keygen); read on the first start, then the keyring in the data dir wins"},
				&cli.StringFlag{Name: "log-level", EnvVars: env("log-level"), Usage: "debug, info, warn or error", DefaultText: def.LogLevel},
				&cli.StringFlag{Name: "log-format", EnvVars: env("log-format"), Usage: "text or json", DefaultText: def.LogFormat},
				&cli.IntFlag{Name: "raft-multiplier", EnvVars: env("raft-multiplier"), Usage: "scale raft timeouts (1 = hashicorp/raft defaults; raise on slow machines)", DefaultText: "1"},
				&cli.Uint64Flag{Name: "raft-snapshot-threshold", EnvVars: env("raft-snapshot-threshold"), Usage: "snapshot the state after this many new log entries", DefaultText: "8192"},
				&cli.DurationFlag{Name: "raft-snapshot-interval", EnvVars: env("raft-snapshot-interval"), Usage: "how often to check whether to snapshot", DefaultText: "2m"},
				&cli.Uint64Flag{Name: "raft-trailing-logs", EnvVars: env("raft-trailing-logs"), Usage: "log entries kept behind a snapshot for slow followers", DefaultText: "10240"},
				&cli.BoolFlag{Name: "dead-server-cleanup", EnvVars: env("dead-server-cleanup"), Usage: "let the leader remove servers dead for longer than --dead-server-grace"},
				&cli.DurationFlag{Name: "dead-server-grace", EnvVars: env("dead-server-grace"), Usage: "how long a server stays dead before cleanup may remove it", DefaultText: "10m"},
				&cli.IntFlag{Name: "history-retention", EnvVars: env("history-retention"), Usage: "deployments kept per environment", DefaultText: "100"},
				&cli.IntFlag{Name: "plan-retention", EnvVars: env("plan-retention"), Usage: "newest deployments per environment that keep their plan and validation documents", DefaultText: "20"},
				&cli.BoolFlag{Name: "dry-run", EnvVars: env("dry-run"), Usage: "validate and plan every deployment, and stop there"},
				&cli.StringFlag{Name: "tokens-file", EnvVars: env("tokens-file"), Usage: "API bearer tokens (the config file's auth.tokensFile); see honuad token create"},
				&cli.BoolFlag{Name: "insecure-no-auth", EnvVars: env("insecure-no-auth"), Usage: "serve the API without authentication on a non-loopback address"},
				&cli.DurationFlag{Name: "leader-wait", EnvVars: env("leader-wait"), Usage: "how long a write waits for a leader before 503 no_leader", DefaultText: "5s"},
				&cli.StringFlag{Name: "max-file-size", EnvVars: env("max-file-size"), Usage: "largest file of the repository read (a bundle file or the policy); a larger one fails validation", DefaultText: def.MaxFileSize.String()},
				&cli.StringFlag{Name: "max-environment-size", EnvVars: env("max-environment-size"), Usage: "largest total of an environment's files, shared config included", DefaultText: def.MaxEnvironmentSize.String()},
				&cli.StringFlag{Name: "max-command-size", EnvVars: env("max-command-size"), Usage: "largest command replicated through raft (64KiB to 64MiB); a larger one is refused", DefaultText: def.MaxCommandSize.String()},
				&cli.DurationFlag{Name: "http-read-timeout", EnvVars: env("http-read-timeout"), Usage: "how long a client may take to send a whole request (a backup upload: between two reads)", DefaultText: "30s"},
				&cli.DurationFlag{Name: "http-write-timeout", EnvVars: env("http-write-timeout"), Usage: "how long a request may take to be answered (the event stream and backups: between two writes); more than leader-wait + 30s", DefaultText: "60s"},
				&cli.DurationFlag{Name: "http-idle-timeout", EnvVars: env("http-idle-timeout"), Usage: "how long an idle keep-alive connection is kept", DefaultText: "90s"},
				&cli.IntFlag{Name: "http-max-conns", EnvVars: env("http-max-conns"), Usage: "API connections served at once; more wait to be accepted", DefaultText: "1024"},
				&cli.IntFlag{Name: "http-max-client-requests", EnvVars: env("http-max-client-requests"), Usage: "requests one client address may have in flight on each open endpoint (probes, metrics, webhooks) before 429", DefaultText: "16"},
				&cli.StringFlag{Name: "tls-ca-file", EnvVars: env("tls-ca-file"), Usage: "CA certificates (PEM) that sign the nodes' and clients' certificates; with the cert and key: API over TLS, raft over mutual TLS"},
				&cli.StringFlag{Name: "tls-cert-file", EnvVars: env("tls-cert-file"), Usage: "this node's certificate (PEM), carrying the DNS name server.honua; see honuad tls cert create"},
				&cli.StringFlag{Name: "tls-key-file", EnvVars: env("tls-key-file"), Usage: "the private key (PEM) of --tls-cert-file"},
				&cli.BoolFlag{Name: "tls-verify-server-hostname", EnvVars: env("tls-verify-server-hostname"), Usage: "accept as a raft peer or forwarding target only a certificate carrying server.honua", DefaultText: "true"},
				&cli.StringFlag{Name: "tls-client-auth", EnvVars: env("tls-client-auth"), Usage: "API client certificates: none, request (verified if sent) or require (mutual TLS)", DefaultText: "none"},
				&cli.StringFlag{Name: "http-webhook-rate", EnvVars: env("http-webhook-rate"), Usage: "webhook deliveries one client address may send to each source (10/s, 5/m, off) before 429", DefaultText: def.HTTPWebhookRate.String()},
				&cli.IntFlag{Name: "http-webhook-burst", EnvVars: env("http-webhook-burst"), Usage: "webhook deliveries one client address may send at once, above its rate", DefaultText: strconv.Itoa(def.HTTPWebhookBurst)},
				&cli.StringFlag{Name: "http-auth-failure-rate", EnvVars: env("http-auth-failure-rate"), Usage: "failed authentications one client address may make (5/m, off); past them its requests get 429 unchecked", DefaultText: def.HTTPAuthFailureRate.String()},
				&cli.IntFlag{Name: "http-auth-failure-burst", EnvVars: env("http-auth-failure-burst"), Usage: "failed authentications one client address may make at once, above its rate", DefaultText: strconv.Itoa(def.HTTPAuthFailureBurst)},
				&cli.IntFlag{Name: "http-max-forwarded", EnvVars: env("http-max-forwarded"), Usage: "requests this node may have forwarded to the leader at once; more get 503 busy", DefaultText: strconv.Itoa(def.HTTPMaxForwarded)},
			},
			Action: runAgent,
		}, {
			Name:  "recover",
			Usage: "rewrite a stopped node's raft membership after the cluster lost its quorum",
			Description: "Run on every surviving node while all of them are stopped, with the same peers.json:\n" +
				"  [{\"id\": \"node1\", \"address\": \"10.0.0.11:7301\"}, ...]\n" +
				"listing the servers to form the new cluster (the survivors; add fresh nodes after it is up).\n" +
				"The node keeps all its state. See docs/operations.md.",
			OnUsageError: func(_ *cli.Context, err error, _ bool) error { return usageError{err} },
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "node-id", EnvVars: env("node-id"), Usage: "this node's id (required)"},
				&cli.StringFlag{Name: "data-dir", EnvVars: env("data-dir"), Usage: "this node's data dir (required)"},
				&cli.StringFlag{Name: "peers", Usage: "peers.json: the servers of the recovered cluster (required)"},
			},
			Action: recoverNode,
		}, {
			Name:  "keygen",
			Usage: "print a new gossip encryption key",
			Description: "Prints the base64 of 32 random bytes, as consul keygen does. Write it to the file given\n" +
				"to --gossip-key-file on every node of a new cluster, or install it with honuactl keyring\n" +
				"to rotate a running cluster's key. See docs/operations.md.",
			OnUsageError: func(_ *cli.Context, err error, _ bool) error { return usageError{err} },
			Action:       keygen,
		}, {
			Name:  "token",
			Usage: "manage API tokens",
			Subcommands: []*cli.Command{{
				Name:  "create",
				Usage: "print a new bearer token and the tokens file entry for it",
				Description: "The token is printed once and never stored: the tokens file holds only its SHA-256.\n" +
					"Add the printed entry under tokens: in the file given by auth.tokensFile (or --tokens-file).",
				OnUsageError: func(_ *cli.Context, err error, _ bool) error { return usageError{err} },
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Usage: "the identity recorded on approvals (required)"},
					&cli.StringFlag{Name: "role", Value: "viewer", Usage: "viewer, approver or admin"},
					&cli.StringSliceFlag{Name: "group", Usage: "a group of the identity (repeatable), matched against policy approvers"},
				},
				Action: createToken,
			}},
		}, tlsCommand()},
	}
}

func recoverNode(c *cli.Context) error {
	for _, f := range []string{"node-id", "data-dir", "peers"} {
		if c.String(f) == "" {
			return usageError{fmt.Errorf("--%s is required", f)}
		}
	}
	b, err := os.ReadFile(c.String("peers"))
	if err != nil {
		return &agent.ConfigError{Err: fmt.Errorf("peers: %w", err)}
	}
	var peers []cluster.Peer
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&peers); err != nil {
		return &agent.ConfigError{Err: fmt.Errorf("peers %s: %w", c.String("peers"), err)}
	}
	if err := cluster.Recover(c.String("data-dir"), c.String("node-id"), peers); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "Recovered %s: its raft membership is now %d server(s) from %s. Start it (and the other survivors) now.\n",
		c.String("node-id"), len(peers), c.String("peers"))
	return nil
}

func keygen(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError{fmt.Errorf("keygen takes no arguments, got %q", c.Args().Slice())}
	}
	key, err := gossipkey.New()
	if err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, key)
	return nil
}

func createToken(c *cli.Context) error {
	if c.String("name") == "" {
		return usageError{fmt.Errorf("--name is required: the identity recorded on approvals")}
	}
	role, err := rpc.ParseRole(c.String("role"))
	if err != nil {
		return usageError{fmt.Errorf("--role: %w", err)}
	}
	for _, g := range c.StringSlice("group") {
		if err := rpc.CheckGroup(g); err != nil {
			return usageError{fmt.Errorf("--group: %w", err)}
		}
	}
	token, entry, err := rpc.NewToken(c.String("name"), role, c.StringSlice("group"))
	if err != nil {
		return err
	}
	w := c.App.Writer
	fmt.Fprintf(w, "token: %s\n\n# add to the tokens file, under tokens:\n%s", token, entry)
	return nil
}

// configFrom builds the configuration: defaults, then the file, then the
// environment and flags (urfave/cli already lets a flag win over its
// environment variable).
func configFrom(c *cli.Context) (agent.Config, error) {
	cfg := agent.DefaultConfig()
	if path := c.String("config"); path != "" {
		if err := cfg.LoadFile(path); err != nil {
			return cfg, err
		}
	}
	setString := func(name string, dst *string) {
		if c.IsSet(name) {
			*dst = c.String(name)
		}
	}
	setString("node-id", &cfg.NodeID)
	setString("data-dir", &cfg.DataDir)
	setString("raft-addr", &cfg.RaftAddr)
	setString("gossip-addr", &cfg.GossipAddr)
	setString("http-addr", &cfg.HTTPAddr)
	setString("advertise-addr", &cfg.AdvertiseAddr)
	setString("log-level", &cfg.LogLevel)
	setString("log-format", &cfg.LogFormat)
	setString("gossip-key-file", &cfg.GossipKeyFile)
	if c.IsSet("bootstrap-expect") {
		cfg.BootstrapExpect = c.Int("bootstrap-expect")
	}
	if c.IsSet("join") {
		cfg.Join = c.StringSlice("join")
	}
	if c.IsSet("raft-multiplier") {
		cfg.RaftMultiplier = c.Int("raft-multiplier")
	}
	if c.IsSet("raft-snapshot-threshold") {
		cfg.RaftSnapshotThreshold = c.Uint64("raft-snapshot-threshold")
	}
	if c.IsSet("raft-snapshot-interval") {
		cfg.RaftSnapshotInterval = agent.Duration(c.Duration("raft-snapshot-interval"))
	}
	if c.IsSet("raft-trailing-logs") {
		cfg.RaftTrailingLogs = c.Uint64("raft-trailing-logs")
	}
	if c.IsSet("dead-server-cleanup") {
		cfg.DeadServerCleanup = c.Bool("dead-server-cleanup")
	}
	if c.IsSet("dead-server-grace") {
		cfg.DeadServerGrace = agent.Duration(c.Duration("dead-server-grace"))
	}
	if c.IsSet("history-retention") {
		cfg.HistoryRetention = c.Int("history-retention")
	}
	if c.IsSet("plan-retention") {
		cfg.PlanRetention = c.Int("plan-retention")
	}
	if c.IsSet("dry-run") {
		cfg.DryRun = c.Bool("dry-run")
	}
	setString("tokens-file", &cfg.Auth.TokensFile)
	if c.IsSet("insecure-no-auth") {
		cfg.InsecureNoAuth = c.Bool("insecure-no-auth")
	}
	if c.IsSet("leader-wait") {
		cfg.LeaderWait = agent.Duration(c.Duration("leader-wait"))
	}
	for _, f := range []struct {
		name string
		dst  *agent.Size
	}{{"max-file-size", &cfg.MaxFileSize}, {"max-environment-size", &cfg.MaxEnvironmentSize}, {"max-command-size", &cfg.MaxCommandSize}} {
		if !c.IsSet(f.name) {
			continue
		}
		size, err := agent.ParseSize(c.String(f.name))
		if err != nil {
			return cfg, &agent.ConfigError{Err: fmt.Errorf("%s %w", f.name, err)}
		}
		*f.dst = size
	}
	for _, d := range []struct {
		name string
		dst  *agent.Duration
	}{
		{"http-read-timeout", &cfg.HTTPReadTimeout},
		{"http-write-timeout", &cfg.HTTPWriteTimeout},
		{"http-idle-timeout", &cfg.HTTPIdleTimeout},
	} {
		if c.IsSet(d.name) {
			*d.dst = agent.Duration(c.Duration(d.name))
		}
	}
	if c.IsSet("http-max-conns") {
		cfg.HTTPMaxConns = c.Int("http-max-conns")
	}
	if c.IsSet("http-max-client-requests") {
		cfg.HTTPMaxClientRequests = c.Int("http-max-client-requests")
	}
	setString("tls-ca-file", &cfg.TLSCAFile)
	setString("tls-cert-file", &cfg.TLSCertFile)
	setString("tls-key-file", &cfg.TLSKeyFile)
	if c.IsSet("tls-verify-server-hostname") {
		cfg.TLSVerifyServerHostname = c.Bool("tls-verify-server-hostname")
	}
	if c.IsSet("tls-client-auth") {
		mode, err := certs.ParseClientAuth(c.String("tls-client-auth"))
		if err != nil {
			return cfg, &agent.ConfigError{Err: fmt.Errorf("tls-client-auth %w", err)}
		}
		cfg.TLSClientAuth = agent.ClientAuth(mode)
	}
	for _, f := range []struct {
		name string
		dst  *agent.Rate
	}{{"http-webhook-rate", &cfg.HTTPWebhookRate}, {"http-auth-failure-rate", &cfg.HTTPAuthFailureRate}} {
		if !c.IsSet(f.name) {
			continue
		}
		r, err := agent.ParseRate(c.String(f.name))
		if err != nil {
			return cfg, &agent.ConfigError{Err: fmt.Errorf("%s %w", f.name, err)}
		}
		*f.dst = r
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"http-webhook-burst", &cfg.HTTPWebhookBurst}, {"http-auth-failure-burst", &cfg.HTTPAuthFailureBurst}, {"http-max-forwarded", &cfg.HTTPMaxForwarded}} {
		if c.IsSet(f.name) {
			*f.dst = c.Int(f.name)
		}
	}
	return cfg, nil
}

func runAgent(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError{fmt.Errorf("agent takes no arguments, got %q", c.Args().Slice())}
	}
	cfg, err := configFrom(c)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// SIGHUP reloads the TLS files and the tokens file (without it, it
	// would end the process).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return agent.Run(ctx, cfg, version, agent.NewLogger(cfg, os.Stderr), hup)
}
