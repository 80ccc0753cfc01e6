package main

// honuactl plan: what a deployment of a branch or commit would get, for CI
// on a pull request (as flux diff and terraform plan -detailed-exitcode).

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// The exit codes of honuactl plan besides exitOK (no changes).
const (
	// exitPlanChanges: the ref is valid and changes the environment.
	exitPlanChanges = 1
	// exitPlanInvalid: the ref fails validation.
	exitPlanInvalid = 2
)

func (a *app) planCommand() *cli.Command {
	return &cli.Command{Name: "plan",
		Usage: "preview a deployment of a branch or commit: validation, plan against what is deployed, the policy's gate " +
			"(exit 0 no changes, 1 changes, 2 the ref fails validation)",
		ArgsUsage: "<env>", Action: a.plan,
		Flags: []cli.Flag{&cli.StringFlag{Name: "ref", Usage: "a branch name or a full commit hash (required)"}}}
}

func (a *app) plan(c *cli.Context) error {
	as, err := args(c, "<env>")
	if err != nil {
		return err
	}
	ref := strings.TrimSpace(c.String("ref"))
	if ref == "" {
		return usagef("plan: --ref is required (a branch name or a full commit hash)")
	}
	e, err := a.setup(c)
	if err != nil {
		return err
	}
	p, err := e.client.Preview(e.ctx, as[0], ref)
	if err != nil {
		return err
	}
	code := exitOK
	switch {
	case !p.Valid:
		code = exitPlanInvalid
	case p.Changes:
		code = exitPlanChanges
	}
	if e.json {
		if err := printJSON(e.out, p); err != nil {
			return err
		}
		return exitError{code: code}
	}
	w := e.out
	fprintf(w, "Preview of %s at %s (commit %s)\n\n", p.Environment, p.Ref, shortSHA(p.Commit))
	writeValidation(w, p.Validation)
	if !p.Valid {
		fprintf(w, "\nA deployment of %s to %s would fail validation.\n", shortSHA(p.Commit), p.Environment)
		return exitError{code: code}
	}
	if p.Plan != nil {
		fprintf(w, "Plan:         %s\n", planSummary(p.Plan))
		e.writeDiff(p.Plan)
	}
	fmt.Fprintln(w)
	if ap := p.Approval; ap != nil {
		if ap.Required {
			from := "any approver"
			if len(ap.Groups) > 0 {
				from = strings.Join(ap.Groups, ", ")
			}
			fprintf(w, "Approval:     required: %d approval(s) from %s (%s; policy of %s)\n", ap.Approvals, from, ap.Reason, ap.PolicyFrom)
		} else {
			fprintf(w, "Approval:     not required (%s; policy of %s)\n", ap.Reason, ap.PolicyFrom)
		}
	}
	if g := p.Gate; g != nil {
		switch {
		case g.Open:
			fmt.Fprintln(w, "Window:       open now")
		case !g.Opens.IsZero():
			fprintf(w, "Window:       %s; opens %s\n", g.Reason, g.Opens.Format(time.RFC3339))
		default:
			fprintf(w, "Window:       %s\n", g.Reason)
		}
	}
	if s := p.Suspended; s != nil {
		fprintf(w, "Suspended:    by %s since %s (%s): a deployment would wait until it is resumed\n",
			s.By, s.Since.Format(time.RFC3339), s.Reason)
	}
	return exitError{code: code}
}
