package main

// The rollout commands: rollout (the waves, live), promote and abort.

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/honua-io/honua-gitops/api"
)

func (a *app) rolloutCommand() *cli.Command {
	return &cli.Command{Name: "rollout", Usage: "show a deployment's rollout wave by wave (--watch: until it leaves Applying)",
		ArgsUsage: "<id>", Action: a.rollout, Flags: []cli.Flag{
			&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "show it again every 2s while the deployment rolls out"},
		}}
}

func (a *app) promoteCommand() *cli.Command {
	return &cli.Command{Name: "promote", Usage: "end the bake of the wave a rollout is baking (approver)", ArgsUsage: "<id>",
		Action: a.promote}
}

func (a *app) abortCommand() *cli.Command {
	return &cli.Command{Name: "abort", Usage: "abort a rollout: the deployment fails and rolls back (approver)", ArgsUsage: "<id>",
		Action: a.abort, Flags: []cli.Flag{reasonFlag()}}
}

func (a *app) rollout(c *cli.Context) error {
	e, as, err := a.start(c, "<id>")
	if err != nil {
		return err
	}
	for {
		d, err := e.client.Deployment(e.ctx, as[0], nil)
		if err != nil {
			return err
		}
		if e.json {
			if err := printJSON(e.out, d.Rollout); err != nil {
				return err
			}
		} else {
			fprintf(e.out, "%s", describeRollout(d))
		}
		if !c.Bool("watch") || d.State != api.DeploymentState("Applying") {
			return nil
		}
		select {
		case <-e.ctx.Done():
			return e.ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// describeRollout is the text of honuactl rollout: one block per wave.
func describeRollout(d *api.Deployment) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %d wave(s) started\n", d.ID, d.State, len(d.Rollout))
	if d.RolloutAbort != nil {
		fmt.Fprintf(&b, "  aborted by %s: %s\n", d.RolloutAbort.Identity, d.RolloutAbort.Reason)
	}
	for i, w := range d.Rollout {
		fmt.Fprintf(&b, "wave %d  %-8s  targets %s  token %d", i, w.Phase, strings.Join(w.Targets, ", "), w.Token)
		if !w.BakeUntil.IsZero() {
			fmt.Fprintf(&b, "  bake until %s", w.BakeUntil.UTC().Format(time.RFC3339))
		}
		fmt.Fprintf(&b, "  analyses %d (%d failed)\n", w.Rounds, w.FailedRounds)
		if w.Promoted != nil && !strings.HasPrefix(w.Message, "promoted by "+w.Promoted.Identity) {
			fmt.Fprintf(&b, "  promoted by %s\n", w.Promoted.Identity)
		}
		if w.Message != "" {
			fmt.Fprintf(&b, "  %s\n", w.Message)
		}
		rounds := []*api.AnalysisRound{w.Last}
		if f := w.LastFailed; f != nil && (w.Last == nil || !w.Last.Time.Equal(f.Time)) {
			rounds = append(rounds, f)
		}
		for _, r := range rounds {
			if r == nil {
				continue
			}
			for _, x := range r.Results {
				fmt.Fprintf(&b, "  %s  %s of %s = %g %s", r.Time.UTC().Format(time.RFC3339), x.Check, x.Target, x.Value, x.Status)
				if x.Error != "" {
					fmt.Fprintf(&b, " (%s)", x.Error)
				}
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

func (a *app) promote(c *cli.Context) error {
	e, as, err := a.start(c, "<id>")
	if err != nil {
		return err
	}
	d, err := e.client.Promote(e.ctx, as[0])
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, d)
	}
	fprintf(e.out, "Promoted the baking wave of %s; the next wave starts.\n", d.ID)
	return nil
}

func (a *app) abort(c *cli.Context) error {
	as, err := args(c, "<id>")
	if err != nil {
		return err
	}
	reason, err := requiredReason(c, "abort")
	if err != nil {
		return err
	}
	e, err := a.setup(c)
	if err != nil {
		return err
	}
	d, err := e.client.Abort(e.ctx, as[0], reason)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, d)
	}
	fprintf(e.out, "Aborted the rollout of %s: %s; it fails and rolls back.\n", d.ID, reason)
	return nil
}
