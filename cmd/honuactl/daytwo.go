package main

// The day-two controls: suspend, resume, cancel, override.

import (
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// reasonFlag is the --reason flag the day-two commands require (a new
// one each time: urfave/cli records on a flag whether it was set).
func reasonFlag() cli.Flag {
	return &cli.StringFlag{Name: "reason", Usage: "why, for the record (required)"}
}

func (a *app) suspendCommand() *cli.Command {
	return &cli.Command{Name: "suspend", Usage: "hold an environment: its new deployments wait as Pending until it is resumed",
		ArgsUsage: "<env>", Action: a.suspend, Flags: []cli.Flag{reasonFlag()}}
}

func (a *app) resumeCommand() *cli.Command {
	return &cli.Command{Name: "resume", Usage: "let a suspended environment deploy again", ArgsUsage: "<env>", Action: a.resume}
}

func (a *app) cancelCommand() *cli.Command {
	return &cli.Command{Name: "cancel", Usage: "cancel a deployment that has not started changing targets", ArgsUsage: "<id>",
		Action: a.cancel, Flags: []cli.Flag{reasonFlag()}}
}

func (a *app) overrideCommand() *cli.Command {
	return &cli.Command{Name: "override", Usage: "let a deployment through a closed deployment window or blackout (admin)",
		ArgsUsage: "<id>", Action: a.override, Flags: []cli.Flag{reasonFlag()}}
}

// requiredReason returns the --reason flag, which op requires.
func requiredReason(c *cli.Context, op string) (string, error) {
	reason := strings.TrimSpace(c.String("reason"))
	if reason == "" {
		return "", usagef("%s: --reason is required (say why, for the record)", op)
	}
	return reason, nil
}

func (a *app) suspend(c *cli.Context) error {
	as, err := args(c, "<env>")
	if err != nil {
		return err
	}
	reason, err := requiredReason(c, "suspend")
	if err != nil {
		return err
	}
	e, err := a.setup(c)
	if err != nil {
		return err
	}
	en, err := e.client.Suspend(e.ctx, as[0], reason)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, en)
	}
	if s := en.Suspended; s != nil {
		fprintf(e.out, "%s is suspended (by %s since %s: %s): its deployments wait until `honuactl resume %s`.\n",
			en.Name, s.By, s.Since.Format(time.RFC3339), s.Reason, en.Name)
	}
	return nil
}

func (a *app) resume(c *cli.Context) error {
	e, as, err := a.start(c, "<env>")
	if err != nil {
		return err
	}
	en, err := e.client.Resume(e.ctx, as[0])
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, en)
	}
	fprintf(e.out, "%s is resumed: its deployments go on.\n", en.Name)
	return nil
}

func (a *app) cancel(c *cli.Context) error {
	as, err := args(c, "<id>")
	if err != nil {
		return err
	}
	reason, err := requiredReason(c, "cancel")
	if err != nil {
		return err
	}
	e, err := a.setup(c)
	if err != nil {
		return err
	}
	d, err := e.client.Cancel(e.ctx, as[0], reason)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, d)
	}
	by := ""
	if d.Cancellation != nil {
		by = " by " + d.Cancellation.Identity
	}
	fprintf(e.out, "Cancelled %s%s: %s; it is %s.\n", d.ID, by, reason, e.state(d.State))
	return nil
}

func (a *app) override(c *cli.Context) error {
	as, err := args(c, "<id>")
	if err != nil {
		return err
	}
	reason, err := requiredReason(c, "override")
	if err != nil {
		return err
	}
	e, err := a.setup(c)
	if err != nil {
		return err
	}
	d, err := e.client.OverrideWindow(e.ctx, as[0], reason)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, d)
	}
	if o := d.WindowOverride; o != nil {
		fprintf(e.out, "%s may go outside its deployment windows (overridden by %s: %s); it is %s.\n",
			d.ID, o.Identity, o.Reason, e.state(d.State))
	}
	return nil
}
