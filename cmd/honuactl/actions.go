package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/honua-io/honua-gitops/api"
)

func (a *app) approve(c *cli.Context) error {
	e, as, err := a.start(c, "<id>")
	if err != nil {
		return err
	}
	res, err := e.client.Approve(e.ctx, as[0], c.String("comment"))
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, res)
	}
	d := res.Deployment
	if d == nil {
		d = &api.Deployment{ID: as[0]}
	}
	required := 0
	if d.Approval != nil {
		required = d.Approval.Required
	}
	count := approvals(len(d.Approvals), required)
	if res.Duplicate {
		fprintf(e.out, "Your approval of %s was already recorded (%s approvals); nothing changed.\n", d.ID, count)
		return nil
	}
	fprintf(e.out, "Approved %s (%s approvals); it is %s.\n", d.ID, count, e.state(d.State))
	return nil
}

func (a *app) reject(c *cli.Context) error {
	as, err := args(c, "<id>")
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(c.String("reason"))
	if reason == "" {
		return usagef("reject: --reason is required (say why, for the record)")
	}
	e, err := a.setup(c)
	if err != nil {
		return err
	}
	d, err := e.client.Reject(e.ctx, as[0], reason)
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, d)
	}
	fprintf(e.out, "Rejected %s: %s; it is %s.\n", d.ID, reason, e.state(d.State))
	return nil
}

// rollbackView is what a rollback goes from and to, as shown before it is
// confirmed.
type rollbackView struct {
	fromID, fromCommit string
	toID, toCommit     string
	toState            api.DeploymentState
	toTime             time.Time
	fromState          api.DeploymentState
	fromTime           time.Time
}

func (v rollbackView) from() string {
	return fmt.Sprintf("%s (%s)", orDash(v.fromID), shortSHA(v.fromCommit))
}

func (v rollbackView) to() string {
	if v.toID == "" {
		return "commit " + shortSHA(v.toCommit)
	}
	return fmt.Sprintf("%s (%s)", v.toID, shortSHA(v.toCommit))
}

func (a *app) rollback(c *cli.Context) error {
	as, err := args(c, "<env>")
	if err != nil {
		return err
	}
	envName := as[0]
	yes := c.Bool("yes")
	if !yes && !a.s.stdinTerminal {
		return usagef("rollback %s: not confirmed: standard input is not a terminal; pass --yes to roll back without asking", envName)
	}
	e, err := a.setup(c)
	if err != nil {
		return err
	}
	v, err := e.rollbackTarget(envName, strings.TrimSpace(c.String("to")))
	if err != nil {
		return err
	}
	// The preview goes where a person looks; with -o json stdout stays
	// the API's JSON.
	w := e.out
	if e.json {
		w = e.errw
	}
	var t table
	t.row("Environment:", envName)
	t.row("Current:", cellf("%s  commit %s  (%s %s)", orDash(v.fromID), shortSHA(v.fromCommit), e.state(v.fromState), ago(e.now, v.fromTime)))
	target := cellf("%s  commit %s", orDash(v.toID), shortSHA(v.toCommit))
	if v.toID != "" {
		target += cellf("  (%s %s)", e.state(v.toState), ago(e.now, v.toTime))
	}
	t.row("Target:", target)
	if err := t.write(w); err != nil {
		return err
	}
	if !yes {
		fprintf(a.s.stderr, "Roll %s back from %s to %s? [y/N] ", envName, v.from(), v.to())
		answer, _ := bufio.NewReader(a.s.stdin).ReadString('\n')
		switch strings.ToLower(strings.TrimSpace(answer)) {
		case "y", "yes":
		default:
			return exitError{code: exitRefused, msg: "rollback of " + envName + " not confirmed; nothing was changed"}
		}
	}
	to := c.String("to")
	d, err := e.client.Rollback(e.ctx, envName, strings.TrimSpace(to))
	if err != nil {
		return err
	}
	if e.json {
		return printJSON(e.out, d)
	}
	fprintf(e.out, "Rolling %s back to %s: deployment %s is %s.\nFollow it with: honuactl wait %s\n",
		envName, shortSHA(d.Commit), d.ID, e.state(d.State), d.ID)
	return nil
}

// rollbackTarget finds what the server will roll env back to, the way it
// does: the given deployment or commit, or the newest Completed deployment
// before the deployed one with another commit.
func (e *env) rollbackTarget(envName, to string) (rollbackView, error) {
	var v rollbackView
	ed, err := e.client.Environment(e.ctx, envName, nil)
	if err != nil {
		return v, err
	}
	if ed.Environment == nil || ed.DeployedCommit == "" {
		return v, exitError{code: exitRefused, msg: fmt.Sprintf("roll back %s: nothing is deployed", envName)}
	}
	v.fromID, v.fromCommit = ed.DeployedDeployment, ed.DeployedCommit
	var all []*api.DeploymentSummary
	for cursor := ""; ; {
		h, err := e.client.History(e.ctx, envName, api.HistoryOptions{Limit: 1000, Cursor: cursor})
		if err != nil {
			return v, err
		}
		all = append(all, h.Deployments...)
		if h.NextCursor == "" || len(h.Deployments) == 0 {
			break
		}
		cursor = h.NextCursor
	}
	for _, d := range all {
		if d.ID == v.fromID {
			v.fromState, v.fromTime = d.State, d.UpdatedAt
		}
	}
	if to != "" {
		d, err := e.client.Deployment(e.ctx, to, nil)
		var ae *api.Error
		switch {
		case err == nil:
			v.toID, v.toCommit, v.toState, v.toTime = d.ID, d.Commit, d.State, d.UpdatedAt
			return v, nil
		case errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound:
		default:
			return v, err
		}
		// A commit, or the prefix of one a deployment of env deployed:
		// the newest Completed such deployment names it.
		v.toCommit = to
		for _, d := range all {
			if strings.HasPrefix(d.Commit, to) && d.State == api.StateCompleted {
				v.toID, v.toCommit, v.toState, v.toTime = d.ID, d.Commit, d.State, d.UpdatedAt
				break
			}
		}
		return v, nil
	}
	seen := false
	for _, d := range all { // newest first
		if d.ID == v.fromID {
			seen = true
			continue
		}
		if seen && d.State == api.StateCompleted && d.Commit != v.fromCommit {
			v.toID, v.toCommit, v.toState, v.toTime = d.ID, d.Commit, d.State, d.UpdatedAt
			return v, nil
		}
	}
	return v, exitError{code: exitRefused, msg: fmt.Sprintf("roll back %s: no Completed deployment before %s to go back to; name one with --to",
		envName, orDash(v.fromID))}
}

func (a *app) sync(c *cli.Context) error {
	as, err := args(c, "<env>")
	if err != nil {
		return err
	}
	envName := as[0]
	wait := c.Bool("wait")
	timeout := c.Duration("timeout")
	if wait && timeout <= 0 {
		return usagef("--timeout %v: must be positive", timeout)
	}
	e, err := a.setup(c)
	if err != nil {
		return err
	}
	if !wait {
		en, err := e.client.Sync(e.ctx, envName)
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(e.out, en)
		}
		by := "you"
		if en.PendingSync != nil {
			by = en.PendingSync.By
		}
		fprintf(e.out, "Sync of %s requested by %s: the leader deploys the branch head as a manual-sync deployment.\n", envName, by)
		return nil
	}

	ctx, cancel := context.WithTimeout(e.ctx, timeout)
	defer cancel()
	timedOut := func(what string) error {
		return exitError{code: exitTimeout, msg: fmt.Sprintf("timed out after %v waiting for %s", timeout, what)}
	}
	// The stream starts from what the cluster has applied before the
	// sync: the deployment the sync starts comes after it.
	st, err := e.client.Status(ctx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && e.ctx.Err() == nil {
			return timedOut("the cluster's status")
		}
		return err
	}
	en, err := e.client.Sync(ctx, envName)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && e.ctx.Err() == nil {
			return timedOut("the sync of " + envName)
		}
		return err
	}
	since := time.Time{}
	if en.PendingSync != nil {
		since = en.PendingSync.Time
	}
	if !e.json {
		fprintf(e.out, "Sync of %s requested; waiting for its deployment...\n", envName)
	}
	fol := &follower{cl: e.client, env: envName, after: afterIndex(st.AppliedIndex), retry: a.s.pollEvery}
	defer fol.close()
	d, err := e.syncDeployment(ctx, fol, envName, since)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && e.ctx.Err() == nil {
			return timedOut("the deployment of the sync of " + envName + " to be created")
		}
		return err
	}
	if d.State == "" {
		d.State = api.StatePending
	}
	final, ok, err := e.track(ctx, fol, d, goal{state: api.StateCompleted})
	return e.finish(final, goal{state: api.StateCompleted}, ok, err, timeout)
}

// syncDeployment waits for the manual-sync deployment of env the sync
// started: its creation on the event stream, or (without one) in the list
// of env's deployments created since the request.
func (e *env) syncDeployment(ctx context.Context, fol *follower, env string, since time.Time) (*api.Deployment, error) {
	for {
		ev, err := fol.next(ctx)
		if errors.Is(err, errNoEvents) {
			break
		}
		if err != nil {
			return nil, err
		}
		if ev.From != "" || ev.Kind != api.KindManualSync {
			continue
		}
		t := api.Transition{To: ev.To, Time: ev.Time, Message: ev.Message}
		e.progress(ev.DeploymentID, t)
		return &api.Deployment{ID: ev.DeploymentID, Environment: ev.Environment, Commit: ev.Commit, Kind: ev.Kind,
			State: ev.To, CreatedAt: ev.Time, UpdatedAt: ev.Time, Transitions: []api.Transition{t}}, nil
	}
	for {
		ds, err := e.client.Deployments(ctx, api.DeploymentFilter{Env: env, Limit: 20}, nil)
		if err == nil {
			for _, s := range ds {
				if s.Kind == string(api.KindManualSync) && !s.CreatedAt.Before(since) {
					d, err := e.client.Deployment(ctx, s.ID, nil)
					if err != nil {
						return nil, err
					}
					for _, t := range d.Transitions {
						e.progress(d.ID, t)
					}
					return d, nil
				}
			}
		} else if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err := pause(ctx, e.app.s.pollEvery); err != nil {
			return nil, err
		}
	}
}
