// Command honuactl shows and steers a Honua GitOps cluster through the API of
// any of its nodes: the cluster and its members, deployments with their
// plans, approvals, history and notifications (notifications.go), and the
// writes an operator makes (approve, reject, roll back, sync, retry a
// notification), waiting for deployments to settle when asked, and the
// rotation of every member's gossip encryption keys (keyring.go).
//
// Table and text output escape the characters a terminal acts on in the
// server's text (escape.go); -o json prints the API's JSON.
//
// Exit codes: 0 ok; 1 the server refused (its message and code are
// printed), or a waited-for deployment ended in another terminal state; 2
// a command line that was refused; 3 no node could be reached; 124 a wait
// that timed out.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/certs"
)

var version = "dev"

// Exit codes.
const (
	exitOK          = 0
	exitRefused     = 1
	exitUsage       = 2
	exitUnreachable = 3
	exitTimeout     = 124
	exitInterrupted = 130
)

// usageError marks a command line that was refused; honuactl exits 2 on it.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitError ends honuactl with a particular code after printing its
// message (when it has one).
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runWith(ctx, os.Args, streams{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		stdinTerminal:  isatty.IsTerminal(os.Stdin.Fd()) || isatty.IsCygwinTerminal(os.Stdin.Fd()),
		stdoutTerminal: isatty.IsTerminal(os.Stdout.Fd()) || isatty.IsCygwinTerminal(os.Stdout.Fd()),
	})
	stop()
	os.Exit(code)
}

// streams is what honuactl reads and writes besides the network. Tests
// hand in buffers, a fake terminal and their own environment.
type streams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// stdinTerminal: a person can answer a question; stdoutTerminal: a
	// person reads the output (color is allowed).
	stdinTerminal, stdoutTerminal bool
	// getenv reads the environment; nil is os.Getenv.
	getenv func(string) string
	// now is the clock of relative times; nil is time.Now.
	now func() time.Time
	// pollEvery is how often a wait polls when the server has no event
	// stream, and how soon it reconnects one; 0 is a second.
	pollEvery time.Duration
}

// run runs honuactl with args (args[0] is the program name) and returns its
// exit code. Standard input is not a terminal.
func run(args []string, stdout, stderr io.Writer) int {
	return runWith(context.Background(), args, streams{stdin: strings.NewReader(""), stdout: stdout, stderr: stderr})
}

// runWith runs honuactl and returns its exit code.
func runWith(ctx context.Context, args []string, s streams) int {
	if s.getenv == nil {
		s.getenv = os.Getenv
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.pollEvery <= 0 {
		s.pollEvery = time.Second
	}
	if s.stdin == nil {
		s.stdin = strings.NewReader("")
	}
	app := newApp(s)
	err := app.RunContext(ctx, permute(app, args))
	return exitCode(s.stderr, err)
}

// exitCode prints err (never a token: no error carries one) and maps it to
// honuactl's exit code.
func exitCode(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fprintf(stderr, "honuactl: %s\n", ee.msg)
		}
		return ee.code
	}
	var ue usageError
	if errors.As(err, &ue) {
		fprintf(stderr, "honuactl: %v\nRun 'honuactl --help' for usage.\n", err)
		return exitUsage
	}
	var ae *api.Error
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "honuactl: interrupted")
		return exitInterrupted
	case errors.As(err, &ae):
		fprintf(stderr, "honuactl: %s\n", describeAPIError(ae))
		return exitRefused
	case errors.Is(err, api.ErrNoNodeReachable):
		fprintf(stderr, "honuactl: %v\n", err)
		return exitUnreachable
	}
	fprintf(stderr, "honuactl: %v\n", err)
	return exitRefused
}

// describeAPIError is the server's message with its status and code:
// "deployment production-7 is Completed, not AwaitingApproval (409 wrong_state)".
func describeAPIError(e *api.Error) string {
	if e.Code == "" {
		return fmt.Sprintf("%s (%d)", e.Message, e.StatusCode)
	}
	return fmt.Sprintf("%s (%d %s)", e.Message, e.StatusCode, e.Code)
}

// app holds what every command's action needs besides its flags.
type app struct {
	s streams
}

func newApp(s streams) *cli.App {
	a := &app{s: s}
	onUsage := func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	cmd := func(c *cli.Command) *cli.Command {
		c.Flags = append(commonFlags(), c.Flags...)
		c.OnUsageError = onUsage
		c.HideHelp, c.HideHelpCommand = true, true
		if c.Before == nil {
			c.Before = checkOutput
		}
		for _, sub := range c.Subcommands {
			sub.Flags = append(commonFlags(), sub.Flags...)
			sub.OnUsageError = onUsage
			sub.HideHelp, sub.HideHelpCommand = true, true
			sub.Before = checkOutput
		}
		return c
	}
	return &cli.App{
		Name:  "honuactl",
		Usage: "see and steer a Honua GitOps cluster",
		Description: "Common flags (--addr, --token, --token-file, --ca-file, --client-cert, --client-key, --output, --no-color)\n" +
			"go before or after the command.\n" +
			"Exit codes: 0 ok, 1 refused by the server (or a deployment ended otherwise than waited for),\n" +
			"2 bad command line, 3 no node reachable, 124 a wait timed out, 130 interrupted.",
		Version:     version,
		HideVersion: true,
		// urfave/cli's own help flag is one value shared by every app in
		// the process; each app gets its own (commonFlags), which
		// urfave/cli still honors by name.
		HideHelp:             true,
		Writer:               s.stdout,
		ErrWriter:            s.stderr,
		HideHelpCommand:      true,
		EnableBashCompletion: true,
		ExitErrHandler:       func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("unknown command %q", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		OnUsageError: onUsage,
		Flags:        commonFlags(),
		Commands: []*cli.Command{
			cmd(&cli.Command{Name: "status", Usage: "the cluster as the answering node sees it",
				Action: a.status}),
			cmd(&cli.Command{Name: "members", Usage: "the cluster's servers", Action: a.members,
				Subcommands: []*cli.Command{
					{Name: "remove", Usage: "remove a (failed) server from the cluster (admin)", ArgsUsage: "<id>",
						Action: a.removeMember},
				}}),
			cmd(&cli.Command{Name: "snapshot", Usage: "back up and restore the cluster's replicated state (admin)",
				Subcommands: []*cli.Command{
					{Name: "save", Usage: "write a consistent backup, taken by the leader, to a file", ArgsUsage: "<file>",
						Action: a.snapshotSave},
					{Name: "restore", Usage: "replace the cluster's state with a backup's", ArgsUsage: "<file>",
						Flags:  []cli.Flag{&cli.BoolFlag{Name: "yes", Usage: "confirm: every record is replaced"}},
						Action: a.snapshotRestore},
				}}),
			cmd(a.keyringCommand()),
			cmd(a.environmentsCommand()),
			cmd(&cli.Command{Name: "deployments", Usage: "deployments, newest first", Action: a.deployments,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "env", Usage: "only this environment's"},
					&cli.StringFlag{Name: "state", Usage: "only those in this state (e.g. AwaitingApproval)"},
					&cli.IntFlag{Name: "limit", Usage: "at most this many (server default 50)"},
				}}),
			cmd(&cli.Command{Name: "deployment", Usage: "a deployment: summary, plan, approvals, validation, state history",
				ArgsUsage: "<id>", Action: a.deployment,
				Flags: []cli.Flag{&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "show the plan's field-level diffs too"}}}),
			cmd(a.notificationsCommand()),
			cmd(a.planCommand()),
			cmd(&cli.Command{Name: "diff", Usage: "a deployment's field-level plan", ArgsUsage: "<id>", Action: a.diff}),
			cmd(&cli.Command{Name: "approve", Usage: "approve a deployment that is AwaitingApproval", ArgsUsage: "<id>",
				Action: a.approve,
				Flags:  []cli.Flag{&cli.StringFlag{Name: "comment", Usage: "recorded with the approval"}}}),
			cmd(&cli.Command{Name: "reject", Usage: "reject a deployment that is AwaitingApproval", ArgsUsage: "<id>",
				Action: a.reject,
				Flags:  []cli.Flag{&cli.StringFlag{Name: "reason", Usage: "why (required)"}}}),
			cmd(&cli.Command{Name: "rollback", Usage: "roll an environment back to its previous Completed deployment",
				ArgsUsage: "<env>", Action: a.rollback,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "to", Usage: "a deployment id or commit to roll back to instead"},
					&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "do not ask for confirmation"},
				}}),
			cmd(&cli.Command{Name: "history", Usage: "an environment's deployments with totals", ArgsUsage: "<env>",
				Action: a.history,
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "limit", Usage: "at most this many deployments (server default 20)"},
					&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "show each deployment's last message and error"},
				}}),
			cmd(&cli.Command{Name: "sync", Usage: "deploy an environment from the branch head now", ArgsUsage: "<env>",
				Action: a.sync,
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "wait", Aliases: []string{"w"}, Usage: "follow the deployment it starts until it ends (exit 1 unless it is Completed)"},
					&cli.DurationFlag{Name: "timeout", Value: 30 * time.Minute, Usage: "with --wait: give up (exit 124) after this long"},
				}}),
			cmd(a.suspendCommand()),
			cmd(a.resumeCommand()),
			cmd(a.cancelCommand()),
			cmd(a.overrideCommand()),
			cmd(a.rolloutCommand()),
			cmd(a.promoteCommand()),
			cmd(a.abortCommand()),
			cmd(&cli.Command{Name: "wait", Usage: "wait for a deployment to reach a state (default: any terminal state)",
				ArgsUsage: "<id>", Action: a.wait,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "for", Usage: "the state to wait for (e.g. Completed, AwaitingApproval)"},
					&cli.DurationFlag{Name: "timeout", Value: 30 * time.Minute, Usage: "give up (exit 124) after this long"},
				}}),
			cmd(&cli.Command{Name: "version", Usage: "the versions of honuactl and of the server", Action: a.version}),
			cmd(&cli.Command{Name: "help", Usage: "show help, of a command when named", ArgsUsage: "[command]",
				Before: func(*cli.Context) error { return nil }, Action: showHelp}),
			cmd(&cli.Command{Name: "completion", Usage: "print a shell completion script", ArgsUsage: "bash|zsh",
				Before: func(*cli.Context) error { return nil }, Action: a.completion}),
		},
	}
}

func showHelp(c *cli.Context) error {
	switch c.NArg() {
	case 0:
		return cli.ShowAppHelp(c)
	case 1:
		if findCommand(c.App.Commands, c.Args().First()) == nil {
			return usagef("help: unknown command %q", c.Args().First())
		}
		return cli.ShowCommandHelp(c, c.Args().First())
	}
	return usagef("help: name one command")
}

// commonFlags are accepted before the command and after it
// (`honuactl -o json status` and `honuactl status -o json`). They carry no
// EnvVars: opt reads the environment itself, so that a flag given before
// the command beats the environment.
func commonFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "addr", Value: "127.0.0.1:7201",
			Usage: "comma-separated nodes (host:port or URL); the next is tried when one cannot be reached (env HONUA_ADDR)"},
		&cli.StringFlag{Name: "token", Usage: "API bearer token (env HONUA_TOKEN)"},
		&cli.StringFlag{Name: "token-file", Usage: "file holding the API bearer token; used when neither --token nor HONUA_TOKEN is given"},
		&cli.StringFlag{Name: "ca-file", Usage: "CA certificate(s) the nodes' certificates must be signed by, for https:// addresses (env HONUA_CACERT)"},
		&cli.StringFlag{Name: "client-cert", Usage: "client certificate, for nodes with --tls-client-auth (env HONUA_CLIENT_CERT)"},
		&cli.StringFlag{Name: "client-key", Usage: "the client certificate's key (env HONUA_CLIENT_KEY)"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "table or json"},
		&cli.BoolFlag{Name: "no-color", Usage: "no color even on a terminal (or set NO_COLOR)"},
		&cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help"},
	}
}

// envOf names the environment variable of a common flag.
var envOf = map[string]string{"addr": "HONUA_ADDR", "ca-file": "HONUA_CACERT",
	"client-cert": "HONUA_CLIENT_CERT", "client-key": "HONUA_CLIENT_KEY"}

// opt returns a common flag's value: the one given nearest the command
// (after it, else before it), else its environment variable, else its
// default.
func (a *app) opt(c *cli.Context, name string) string {
	for _, cc := range c.Lineage() {
		if cc.Command != nil && cc.IsSet(name) {
			return cc.String(name)
		}
	}
	if env, ok := envOf[name]; ok {
		if v := a.s.getenv(env); v != "" {
			return v
		}
	}
	return c.String(name)
}

// optSet reports whether a common boolean flag was given anywhere.
func optSet(c *cli.Context, name string) bool {
	for _, cc := range c.Lineage() {
		if cc.Command != nil && cc.IsSet(name) && cc.Bool(name) {
			return true
		}
	}
	return false
}

func checkOutput(c *cli.Context) error {
	// Before runs with the command's context; output has no environment
	// variable, so the app is not needed here.
	o := c.String("output")
	for _, cc := range c.Lineage() {
		if cc.Command != nil && cc.IsSet("output") {
			o = cc.String("output")
			break
		}
	}
	switch o {
	case "table", "json":
		return nil
	}
	return usagef("--output %q: must be table or json", o)
}

// token returns the bearer token: --token, else HONUA_TOKEN, else the
// contents of --token-file; surrounding whitespace is trimmed.
func (a *app) token(c *cli.Context) (string, error) {
	for _, cc := range c.Lineage() {
		if cc.Command != nil && cc.IsSet("token") {
			return strings.TrimSpace(cc.String("token")), nil
		}
	}
	if v := strings.TrimSpace(a.s.getenv("HONUA_TOKEN")); v != "" {
		return v, nil
	}
	path := a.opt(c, "token-file")
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		// The error names the file, never its contents.
		return "", usagef("--token-file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", usagef("--token-file %s: the file is empty", path)
	}
	return t, nil
}

// tlsConfig reads --ca-file, --client-cert and --client-key (or their
// environment variables); nil when none is given: https:// addresses are
// then checked against the system's roots.
func (a *app) tlsConfig(c *cli.Context) (*tls.Config, error) {
	o := certs.ClientOptions{CAFile: a.opt(c, "ca-file"), CertFile: a.opt(c, "client-cert"), KeyFile: a.opt(c, "client-key")}
	if o == (certs.ClientOptions{}) {
		return nil, nil
	}
	cfg, err := certs.Client(o)
	if err != nil {
		return nil, usagef("%w", err)
	}
	return cfg, nil
}

// env is what a command's action works with.
type env struct {
	ctx    context.Context
	c      *cli.Context
	out    io.Writer
	errw   io.Writer
	json   bool
	color  bool
	now    time.Time
	client *api.Client
	// tls is the client's TLS config (--ca-file, --client-cert), nil
	// without one.
	tls *tls.Config
	app *app
}

// setup reads the common flags and builds the API client.
func (a *app) setup(c *cli.Context) (*env, error) {
	e := &env{ctx: c.Context, c: c, out: a.s.stdout, errw: a.s.stderr, app: a, now: a.s.now(),
		json: a.opt(c, "output") == "json"}
	e.color = a.s.stdoutTerminal && !optSet(c, "no-color") && a.s.getenv("NO_COLOR") == "" && a.s.getenv("TERM") != "dumb"
	tok, err := a.token(c)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := a.tlsConfig(c)
	if err != nil {
		return nil, err
	}
	cl, err := api.NewClient(api.Config{Addrs: strings.Split(a.opt(c, "addr"), ","), Token: tok, TLS: tlsCfg})
	if err != nil {
		return nil, usagef("--addr: %w", err)
	}
	e.client, e.tls = cl, tlsCfg
	return e, nil
}

// start checks a command's arguments against names, then sets up its
// environment: the preamble of every command that talks to the cluster.
func (a *app) start(c *cli.Context, names ...string) (*env, []string, error) {
	as, err := args(c, names...)
	if err != nil {
		return nil, nil, err
	}
	e, err := a.setup(c)
	if err != nil {
		return nil, nil, err
	}
	return e, as, nil
}

// args checks that the command got exactly the named arguments and returns
// them.
func args(c *cli.Context, names ...string) ([]string, error) {
	got := c.Args().Slice()
	if len(got) < len(names) {
		return nil, usagef("%s: missing argument %s", c.Command.FullName(), names[len(got)])
	}
	if len(got) > len(names) {
		return nil, usagef("%s: unexpected argument %q", c.Command.FullName(), got[len(names)])
	}
	for i, g := range got {
		if strings.TrimSpace(g) == "" {
			return nil, usagef("%s: argument %s is empty", c.Command.FullName(), names[i])
		}
	}
	return got, nil
}
