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
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/honua-io/honua-gitops/internal/agent"
	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/gossipkey"
	"github.com/honua-io/honua-gitops/internal/rpc"
	"github.com/honua-io/honua-gitops/internal/targetagent"
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
			Flags:  agentFlags(),
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
		}, tlsCommand(), {
			Name:  "target-agent",
			Usage: "take bundles for a Honua server: the receiving end of honuad's http targets",
			Description: "Runs beside a Honua server and writes the bundles honuad PUTs into --dir, checking\n" +
				"each one's bearer token and fencing token (see docs/targets.md). Each flag is also read\n" +
				"from HONUA_TARGET_AGENT_<NAME> (HONUA_TARGET_AGENT_DIR for --dir) and from the YAML file\n" +
				"given by --config, whose keys are the flag names. Flags win over the environment,\n" +
				"which wins over the file.",
			OnUsageError: func(_ *cli.Context, err error, _ bool) error { return usageError{err} },
			Flags:        targetAgentFlags(),
			Action:       runTargetAgent,
		}},
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
	if path := c.String(agent.ConfigFileOption); path != "" {
		if err := cfg.LoadFile(path); err != nil {
			return cfg, err
		}
	}
	err := applyFlags(c, &cfg)
	return cfg, err
}

// targetAgentConfigFrom builds honuad target-agent's configuration as
// configFrom builds honuad agent's: defaults, the file, then the
// environment and flags.
func targetAgentConfigFrom(c *cli.Context) (targetagent.Config, error) {
	cfg := targetagent.DefaultConfig()
	if path := c.String(targetagent.ConfigFileOption); path != "" {
		if err := cfg.LoadFile(path); err != nil {
			return cfg, err
		}
	}
	err := applyTargetAgentFlags(c, &cfg)
	return cfg, err
}

func runTargetAgent(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError{fmt.Errorf("target-agent takes no arguments, got %q", c.Args().Slice())}
	}
	cfg, err := targetAgentConfigFrom(c)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	return withSignals(func(ctx context.Context, hup chan os.Signal) error {
		return targetagent.Run(ctx, cfg, targetagent.NewLogger(cfg, os.Stderr), hup)
	})
}

// withSignals runs run with a context that SIGTERM and SIGINT end and a
// channel of SIGHUPs, which reload the TLS files and the tokens file
// (without it, SIGHUP would end the process).
func withSignals(run func(ctx context.Context, hup chan os.Signal) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return run(ctx, hup)
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
	return withSignals(func(ctx context.Context, hup chan os.Signal) error {
		return agent.Run(ctx, cfg, version, agent.NewLogger(cfg, os.Stderr), hup)
	})
}
