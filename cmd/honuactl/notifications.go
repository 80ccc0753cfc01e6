package main

// The notification outbox: `honuactl notifications` lists it, `honuactl
// notifications retry <id>` makes a failed notification pending again,
// and `honuactl deployment <id>` shows a deployment's (writeNotifications).

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/honua-io/honua-gitops/api"
)

// notificationsCommand is `honuactl notifications` and its retry.
func (a *app) notificationsCommand() *cli.Command {
	return &cli.Command{Name: "notifications", Usage: "the notification outbox, newest first", Action: a.notifications,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "state", Usage: "only those in this state: pending, delivered or failed"},
			&cli.StringFlag{Name: "deployment", Usage: "only this deployment's"},
			&cli.IntFlag{Name: "limit", Usage: "at most this many (server default 100)"},
		},
		Subcommands: []*cli.Command{
			{Name: "retry", Usage: "deliver a failed notification again, its attempts counted anew (admin)", ArgsUsage: "<id>",
				Action: a.retryNotification},
			a.listenCommand(),
		}}
}

// parseNotificationState accepts a notification state in any case.
func parseNotificationState(s string) (api.NotificationState, error) {
	names := make([]string, len(api.AllNotificationStates))
	for i, st := range api.AllNotificationStates {
		if strings.EqualFold(string(st), s) {
			return st, nil
		}
		names[i] = string(st)
	}
	return "", usagef("--state %q: not a notification state (%s)", s, strings.Join(names, ", "))
}

func (a *app) notifications(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("notifications: unknown subcommand %q (use notifications retry <id>)", c.Args().First())
	}
	f := api.NotificationFilter{Deployment: strings.TrimSpace(c.String("deployment")), Limit: c.Int("limit")}
	if f.Limit < 0 {
		return usagef("--limit %d: must be positive", f.Limit)
	}
	if s := c.String("state"); s != "" {
		st, err := parseNotificationState(s)
		if err != nil {
			return err
		}
		f.State = st
	}
	e, err := a.setup(c)
	if err != nil {
		return err
	}
	ns, err := e.client.Notifications(e.ctx, f, nil)
	if err != nil {
		return err
	}
	if e.json {
		if ns == nil {
			ns = []api.Notification{}
		}
		return printJSON(e.out, ns)
	}
	if len(ns) == 0 {
		fmt.Fprintln(e.out, "No notifications.")
		return nil
	}
	var t table
	t.row("ID", "EVENT", "DEPLOYMENT", "CHANNEL", "STATE", "ATTEMPTS", "LAST ERROR")
	for _, n := range ns {
		t.row(n.ID, string(n.Event), n.DeploymentID, n.Channel, e.notificationState(n.State), fmt.Sprint(n.Attempts),
			orDash(oneLine(n.LastError)))
	}
	return t.write(e.out)
}

func (a *app) retryNotification(c *cli.Context) error {
	e, as, err := a.start(c, "<id>")
	if err != nil {
		return err
	}
	n, err := e.client.RetryNotification(e.ctx, as[0])
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, n)
	}
	fprintf(e.out, "Retrying %s: it is %s again, and the leader delivers it to %s next.\n", n.ID, n.State, n.Channel)
	return nil
}

// notificationColors color notification states on a terminal, as
// stateColors do deployment states.
var notificationColors = map[api.NotificationState]string{
	api.NotificationDelivered: "32", // green
	api.NotificationFailed:    "31", // red
	api.NotificationPending:   "33", // yellow
}

// notificationState is a notification state's name, escaped and colored
// when output goes to a terminal.
func (e *env) notificationState(s api.NotificationState) safe {
	name := escapeCell(string(s))
	code, ok := notificationColors[s]
	if !e.color || !ok {
		return safe(name)
	}
	return safe("\x1b[" + code + "m" + name + "\x1b[0m")
}

// writeNotifications lists a deployment's notifications, when it has any:
// each event, its channel and how its delivery went.
func (e *env) writeNotifications(w io.Writer, ns []api.Notification) error {
	if len(ns) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Notifications:")
	var t table
	t.row("EVENT", "CHANNEL", "STATE", "ATTEMPTS", "WHEN", "LAST ERROR")
	for _, n := range ns {
		t.row(string(n.Event), n.Channel, e.notificationState(n.State), fmt.Sprint(n.Attempts), e.notificationWhen(n),
			orDash(oneLine(n.LastError)))
	}
	return t.write(w)
}

// notificationWhen says when a notification was delivered, or when its
// next attempt is due.
func (e *env) notificationWhen(n api.Notification) string {
	switch {
	case n.State == api.NotificationDelivered:
		return "delivered " + ago(e.now, n.DeliveredAt)
	case n.State == api.NotificationPending && !n.NextTry.IsZero():
		if n.NextTry.After(e.now) {
			return "next try " + ago(e.now, n.NextTry)
		}
		return "due"
	}
	return "-"
}
