// Command honuactl shows and steers a Honua GitOps cluster through the API of
// any of its nodes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/honua-io/honua-gitops/api"
)

var version = "dev"

// usageError marks a command line that was refused; honuactl exits 2 on it.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout)
	app.ErrWriter = stderr
	err := app.Run(args)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "honuactl: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func newApp(stdout io.Writer) *cli.App {
	onUsage := func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	return &cli.App{
		Name:            "honuactl",
		Usage:           "see and steer a Honua GitOps cluster",
		Version:         version,
		Writer:          stdout,
		HideHelpCommand: true,
		ExitErrHandler:  func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError{fmt.Errorf("unknown command %q; run '%s --help'", c.Args().First(), c.App.Name)}
			}
			return cli.ShowAppHelp(c)
		},
		OnUsageError: onUsage,
		Flags:        commonFlags(),
		Commands: []*cli.Command{
			{Name: "status", Usage: "the cluster as the answering node sees it", Flags: commonFlags(),
				OnUsageError: onUsage, Before: checkOutput, Action: cmdStatus},
			{Name: "members", Usage: "the cluster's servers", Flags: commonFlags(),
				OnUsageError: onUsage, Before: checkOutput, Action: cmdMembers},
		},
	}
}

// commonFlags are accepted before the command and after it
// (`honuactl -o json status` and `honuactl status -o json`).
func commonFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "addr", EnvVars: []string{"HONUA_ADDR"}, Value: "127.0.0.1:7201",
			Usage: "comma-separated nodes (host:port or URL); the next is tried when one cannot be reached"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "table or json"},
	}
}

// opt returns a common flag's value: the command's when given there,
// otherwise the one given before the command (or its default).
func opt(c *cli.Context, name string) string {
	if c.IsSet(name) {
		return c.String(name)
	}
	// Lineage is this command's context, then the app's.
	if lineage := c.Lineage(); len(lineage) > 1 {
		return lineage[1].String(name)
	}
	return c.String(name)
}

func checkOutput(c *cli.Context) error {
	switch opt(c, "output") {
	case "table", "json":
		return nil
	}
	return usageError{fmt.Errorf("--output %q: must be table or json", opt(c, "output"))}
}

func client(c *cli.Context) (*api.Client, error) {
	cl, err := api.NewClient(api.Config{Addrs: strings.Split(opt(c, "addr"), ",")})
	if err != nil {
		return nil, usageError{fmt.Errorf("--addr: %w", err)}
	}
	return cl, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// status fetches the answering node's status.
func status(c *cli.Context) (*api.Status, error) {
	cl, err := client(c)
	if err != nil {
		return nil, err
	}
	return cl.Status(context.Background())
}

func cmdStatus(c *cli.Context) error {
	st, err := status(c)
	if err != nil {
		return err
	}
	w := c.App.Writer
	if opt(c, "output") == "json" {
		return printJSON(w, st)
	}
	leader := "none known"
	if st.Leader != nil {
		leader = fmt.Sprintf("%s (%s)", st.Leader.ID, st.Leader.APIAddr)
	}
	fmt.Fprintf(w, "Node:    %s (%s)\nLeader:  %s\nTerm:    %d\nIndex:   applied %d, committed %d, last %d\n\n",
		st.NodeID, st.State, leader, st.Term, st.AppliedIndex, st.CommitIndex, st.LastIndex)
	return printMembers(w, st)
}

func cmdMembers(c *cli.Context) error {
	st, err := status(c)
	if err != nil {
		return err
	}
	if opt(c, "output") == "json" {
		return printJSON(c.App.Writer, st.Members)
	}
	return printMembers(c.App.Writer, st)
}

func printMembers(w io.Writer, st *api.Status) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tROLE\tVOTER\tAPI\tRAFT\tGOSSIP")
	for _, m := range st.Members {
		role := "follower"
		if st.Leader != nil && st.Leader.ID == m.ID {
			role = "leader"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\t%s\n", m.ID, m.Status, role, m.Voter, m.APIAddr, m.RaftAddr, m.GossipAddr)
	}
	return tw.Flush()
}
