package main

// honuactl keyring: a node's gossip keyring belongs to it alone, so each
// command lists the members (GET /v1/cluster/members through --addr) and
// calls every member's own /v1/agent/keyring at the API address it
// advertises. use and remove first read every live member's keyring and
// change nothing unless the change is safe everywhere: a member must hold a
// key before any member encrypts with it, and no member may lose the key
// it encrypts with.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/gossipkey"
)

func (a *app) keyringCommand() *cli.Command {
	keyArg := "<key-or-@file>"
	return &cli.Command{Name: "keyring", Usage: "list and rotate the gossip encryption keys of every member (admin)",
		Description: "Each command runs on every member, at the API address it advertises, and prints one line per\n" +
			"member; it fails (exit 1) naming the members that failed or were not reached. A key is the\n" +
			"base64 that honuad keygen prints, given as is or as @file (better: it stays out of the shell's\n" +
			"history). Rotate with install, then use, then remove; see docs/operations.md.",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("keyring: unknown subcommand %q (use list, install, use or remove)", c.Args().First())
			}
			return usagef("keyring: name a subcommand: list, install, use or remove")
		},
		Subcommands: []*cli.Command{
			{Name: "list", Usage: "every member's keys, by fingerprint, primary first", Action: a.keyringOp("list")},
			{Name: "install", Usage: "install a key on every member: they decrypt with it too", ArgsUsage: keyArg,
				Action: a.keyringOp("install")},
			{Name: "use", Usage: "make an installed key every member's primary: they encrypt with it", ArgsUsage: keyArg,
				Action: a.keyringOp("use")},
			{Name: "remove", Usage: "remove a key no member uses from every member", ArgsUsage: keyArg,
				Action: a.keyringOp("remove")},
		}}
}

// keyringResult is one member's line of a keyring command (and its
// element in -o json).
type keyringResult struct {
	Node    string `json:"node"`
	APIAddr string `json:"apiAddr,omitempty"`
	// Result is what happened: ok (list), installed, already installed,
	// now primary, already primary, removed, not installed, skipped (the
	// member left the cluster) or failed.
	Result  string       `json:"result"`
	Error   string       `json:"error,omitempty"`
	Keyring *api.Keyring `json:"keyring,omitempty"`
	// dead: the member was not called, being dead in gossip.
	dead bool
}

func (r keyringResult) failed() bool { return r.Error != "" }

// keyringResults are what each member's change reads as.
var keyringResults = map[string][2]string{ // op → changed, unchanged
	"install": {"installed", "already installed"},
	"use":     {"now primary", "already primary"},
	"remove":  {"removed", "not installed"},
}

func (a *app) keyringOp(op string) cli.ActionFunc {
	return func(c *cli.Context) error {
		// Not args(): its messages quote the arguments, and one is a key.
		want := 1
		if op == "list" {
			want = 0
		}
		switch got := c.NArg(); {
		case got < want:
			return usagef("%s: missing argument <key-or-@file>", c.Command.FullName())
		case got > want:
			return usagef("%s: unexpected argument: it takes %s", c.Command.FullName(),
				map[int]string{0: "none", 1: "one key"}[want])
		}
		var key []byte
		var err error
		if op != "list" {
			if key, err = readKeyArg(c.Args().First()); err != nil {
				return err
			}
		}
		e, err := a.setup(c)
		if err != nil {
			return err
		}
		tok, err := a.token(c)
		if err != nil {
			return err
		}
		members, err := e.client.Members(e.ctx)
		if err != nil {
			return err
		}
		scheme := "http"
		if strings.HasPrefix(strings.TrimSpace(a.opt(c, "addr")), "https://") {
			scheme = "https"
		}
		fan := &keyringFan{members: members, token: tok, scheme: scheme, tls: e.tls}
		if op == "use" || op == "remove" {
			if err := fan.check(e.ctx, op, key); err != nil {
				return err
			}
		}
		results := fan.run(e.ctx, op, key)
		if err := printKeyringResults(e, results); err != nil {
			return err
		}
		var failed []string
		for _, r := range results {
			if r.failed() {
				failed = append(failed, fmt.Sprintf("%s (%s)", r.Node, r.Error))
			}
		}
		if len(failed) > 0 {
			what := "keyring " + op
			if key != nil {
				what += " " + gossipkey.Fingerprint(key)
			}
			return exitError{code: exitRefused, msg: fmt.Sprintf("%s failed on %d of %d members: %s",
				what, len(failed), len(results), strings.Join(failed, "; "))}
		}
		return nil
	}
}

// readKeyArg reads a key given on the command line, or from the file named
// after an @. Its errors never quote the key.
func readKeyArg(arg string) ([]byte, error) {
	text, where := []byte(arg), "key"
	if path, ok := strings.CutPrefix(arg, "@"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, usagef("key file %s: %v", path, err)
		}
		text, where = b, "key file "+path
	}
	key, err := gossipkey.Parse(text)
	if err != nil {
		return nil, usagef("%s: %v", where, err)
	}
	return key, nil
}

// keyringFan calls every member's keyring endpoint.
type keyringFan struct {
	members []api.Member
	token   string
	scheme  string
	tls     *tls.Config // --ca-file and the client certificate, for https
}

// each calls f for every member that can be reached, at once, and returns
// one result per member, sorted by id: a member that left is skipped, one
// that is dead or has no API address fails unreached.
func (f *keyringFan) each(ctx context.Context, call func(*api.Client, *keyringResult) error) []keyringResult {
	ms := slices.Clone(f.members)
	slices.SortFunc(ms, func(a, b api.Member) int { return strings.Compare(a.ID, b.ID) })
	results := make([]keyringResult, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		r := &results[i]
		r.Node, r.APIAddr = m.ID, m.APIAddr
		switch {
		case m.Status == "left":
			r.Result = "skipped: left the cluster"
			continue
		case m.Status == "dead":
			r.Result, r.Error, r.dead = "failed", "not reached: the member is dead", true
			continue
		case m.APIAddr == "":
			r.Result, r.Error = "failed", "not reached: its API address is not known"
			continue
		}
		cl, err := api.NewClient(api.Config{Addrs: []string{f.scheme + "://" + m.APIAddr}, Token: f.token, TLS: f.tls})
		if err != nil {
			r.Result, r.Error = "failed", err.Error()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := call(cl, r); err != nil {
				r.Result, r.Error = "failed", describeErr(m.APIAddr, err)
			}
		}()
	}
	wg.Wait()
	return results
}

// describeErr is an error as a member's line shows it.
func describeErr(addr string, err error) string {
	var ae *api.Error
	var oe *net.OpError
	var ue *url.Error
	switch {
	case errors.As(err, &ae):
		return describeAPIError(ae)
	case errors.As(err, &oe):
		return fmt.Sprintf("not reached at %s: %v", addr, oe.Err)
	case errors.As(err, &ue):
		return fmt.Sprintf("not reached at %s: %v", addr, ue.Err)
	}
	return err.Error()
}

// check reads every live member's keyring and refuses, changing nothing,
// unless op with key is safe on all of them: use needs the key installed
// on every member, remove needs it to be no member's primary.
func (f *keyringFan) check(ctx context.Context, op string, key []byte) error {
	fp := gossipkey.Fingerprint(key)
	results := f.each(ctx, func(cl *api.Client, r *keyringResult) error {
		kr, err := cl.Keyring(ctx)
		r.Keyring = kr
		return err
	})
	var unchecked, blocking []string
	for _, r := range results {
		switch {
		case r.dead:
			// It gossips with no one now; the change itself reports it.
		case r.Error != "":
			unchecked = append(unchecked, fmt.Sprintf("%s (%s)", r.Node, r.Error))
		case r.Keyring == nil:
		case op == "use" && !slices.Contains(r.Keyring.Keys, fp):
			blocking = append(blocking, r.Node)
		case op == "remove" && r.Keyring.Primary == fp:
			blocking = append(blocking, r.Node)
		}
	}
	switch {
	case len(unchecked) > 0:
		return exitError{code: exitRefused, msg: fmt.Sprintf("keyring %s %s: nothing was changed: could not read the keyring of %s",
			op, fp, strings.Join(unchecked, "; "))}
	case len(blocking) > 0 && op == "use":
		return exitError{code: exitRefused, msg: fmt.Sprintf("keyring use %s: nothing was changed: %s %s not hold the key; install it on every member first (honuactl keyring install)",
			fp, strings.Join(blocking, ", "), doesOrDo(len(blocking)))}
	case len(blocking) > 0:
		return exitError{code: exitRefused, msg: fmt.Sprintf("keyring remove %s: nothing was changed: it is the primary key of %s; use another key on every member first (honuactl keyring use)",
			fp, strings.Join(blocking, ", "))}
	}
	return nil
}

func doesOrDo(n int) string {
	if n == 1 {
		return "does"
	}
	return "do"
}

// run lists every member's keyring (op list) or changes it.
func (f *keyringFan) run(ctx context.Context, op string, key []byte) []keyringResult {
	return f.each(ctx, func(cl *api.Client, r *keyringResult) error {
		if op == "list" {
			kr, err := cl.Keyring(ctx)
			if err == nil {
				r.Result, r.Keyring = "ok", kr
			}
			return err
		}
		ch, err := cl.ChangeKeyring(ctx, op, gossipkey.Encode(key))
		if err != nil {
			return err
		}
		words := keyringResults[op]
		r.Result, r.Keyring = words[1], &ch.Keyring
		if ch.Changed {
			r.Result = words[0]
		}
		return nil
	})
}

func printKeyringResults(e *env, results []keyringResult) error {
	if e.json {
		return printJSON(e.out, results)
	}
	var t table
	t.row("NODE", "RESULT", "PRIMARY", "KEYS")
	for _, r := range results {
		result, primary, keys := r.Result, "-", "-"
		if r.Error != "" {
			result = "failed: " + r.Error
		}
		if r.Keyring != nil {
			primary, keys = orDash(r.Keyring.Primary), orDash(strings.Join(r.Keyring.Keys, ","))
			if !r.Keyring.Encrypted {
				primary = "(not encrypted)"
			}
		}
		t.row(r.Node, result, primary, keys)
	}
	return t.write(e.out)
}
