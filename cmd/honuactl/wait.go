package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/honua-io/honua-gitops/api"
)

// goal is what a wait waits for: a state, or ("") any terminal state.
type goal struct {
	state api.DeploymentState
}

func (g goal) String() string {
	if g.state == "" {
		return "a terminal state"
	}
	return string(g.state)
}

// check decides a wait from a deployment's recorded transitions: done when
// the deployment is or was in the goal state, or ended (ok is then whether
// any end was the goal). A Failed deployment that applied something and
// has not rolled back may still roll back: waiting for RollingBack or
// RolledBack goes on.
func (g goal) check(d *api.Deployment) (done, ok bool) {
	if g.state != "" && (d.State == g.state || slices.ContainsFunc(d.Transitions, func(t api.Transition) bool { return t.To == g.state })) {
		return true, true
	}
	if !d.State.Terminal() {
		return false, false
	}
	if g.state == "" {
		return true, true
	}
	if d.State == api.StateFailed && (g.state == api.StateRollingBack || g.state == api.StateRolledBack) {
		applied := slices.ContainsFunc(d.Transitions, func(t api.Transition) bool { return t.To == api.StateApplying })
		if applied {
			return false, false
		}
	}
	return true, false
}

// afterIndex is the event id just past every transition made by the Raft
// entries up to index: a stream opened there sends what happens next.
func afterIndex(index uint64) string {
	return api.EventIDAfter(index)
}

// lastIndex is the Raft index of a deployment's last transition.
func lastIndex(d *api.Deployment) uint64 {
	var idx uint64
	for _, t := range d.Transitions {
		idx = max(idx, t.Index)
	}
	return idx
}

// errNoEvents: the server does not serve the event stream; poll instead.
var errNoEvents = errors.New("the server has no event stream")

// follower reads one environment's transitions from the event stream,
// from a position, and reopens the stream (on any node) where it left off
// when it breaks.
type follower struct {
	cl     *api.Client
	env    string
	after  string
	retry  time.Duration
	stream *api.EventStream
}

// next returns the next event, blocking until one comes or ctx ends.
func (f *follower) next(ctx context.Context) (*api.Event, error) {
	for {
		if f.stream == nil {
			s, err := f.cl.Events(ctx, api.EventOptions{Env: f.env, LastEventID: f.after})
			switch {
			case err == nil:
				f.stream = s
			case ctx.Err() != nil:
				return nil, ctx.Err()
			default:
				var ae *api.Error
				if errors.As(err, &ae) {
					switch ae.StatusCode {
					case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
						return nil, errNoEvents
					}
					if !ae.Retryable() {
						return nil, err
					}
				}
				// No node reachable, no leader, a broken connection:
				// try again until the deadline.
				if err := pause(ctx, f.retry); err != nil {
					return nil, err
				}
				continue
			}
		}
		ev, err := f.stream.Next()
		if err == nil {
			f.after = ev.ID
			return ev, nil
		}
		f.stream.Close()
		f.stream = nil
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err := pause(ctx, f.retry); err != nil {
			return nil, err
		}
	}
}

func (f *follower) close() {
	if f.stream != nil {
		f.stream.Close()
		f.stream = nil
	}
}

// pause waits d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// progress prints one transition as it happens (tables only).
func (e *env) progress(id string, t api.Transition) {
	if e.json {
		return
	}
	var from safe
	if t.From != "" {
		from = e.state(t.From) + " → "
	}
	fprintf(e.out, "%s  %s  %s%s  %s\n", t.Time.Local().Format("15:04:05"), id, from, e.state(t.To), oneLine(t.Message))
}

// track follows deployment d until g is decided, printing its transitions
// as they happen. With fol nil, or when the server has no event stream, it
// polls the deployment instead. It returns the last record it has.
func (e *env) track(ctx context.Context, fol *follower, d *api.Deployment, g goal) (*api.Deployment, bool, error) {
	cur := d
	if done, ok := g.check(cur); done {
		return cur, ok, nil
	}
	for {
		if fol != nil {
			ev, err := fol.next(ctx)
			if errors.Is(err, errNoEvents) {
				fol = nil
				continue
			}
			if err != nil {
				return cur, false, err
			}
			if ev.DeploymentID != cur.ID {
				continue
			}
			t := api.Transition{From: ev.From, To: ev.To, Time: ev.Time, Message: ev.Message}
			e.progress(cur.ID, t)
			cur.State, cur.UpdatedAt = ev.To, ev.Time
			cur.Transitions = append(cur.Transitions, t)
		} else {
			if err := pause(ctx, e.app.s.pollEvery); err != nil {
				return cur, false, err
			}
			next, err := e.client.Deployment(ctx, cur.ID, nil)
			if err != nil {
				if ctx.Err() != nil {
					return cur, false, ctx.Err()
				}
				var ae *api.Error
				if errors.As(err, &ae) && !ae.Retryable() {
					return cur, false, err
				}
				continue // unreachable for now: poll again
			}
			if len(next.Transitions) < len(cur.Transitions) {
				continue // a node behind the one that answered before
			}
			for _, t := range next.Transitions[len(cur.Transitions):] {
				e.progress(cur.ID, t)
			}
			cur = next
		}
		if done, ok := g.check(cur); done {
			return cur, ok, nil
		}
	}
}

// finish ends a wait: the final record (JSON) or a line (table), and the
// exit code for how it ended.
func (e *env) finish(d *api.Deployment, g goal, ok bool, err error, timeout time.Duration) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded) && e.ctx.Err() == nil:
		return exitError{code: exitTimeout, msg: fmt.Sprintf("timed out after %v waiting for deployment %s to reach %s; it is %s",
			timeout, d.ID, g, d.State)}
	case err != nil:
		return err
	}
	// The record as the server has it now, for the error and JSON.
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if full, ferr := e.client.Deployment(ctx, d.ID, nil); ferr == nil && len(full.Transitions) >= len(d.Transitions) {
		d = full
	}
	if e.json {
		if err := printJSON(e.out, d); err != nil {
			return err
		}
	} else if ok {
		fprintf(e.out, "Deployment %s is %s.\n", d.ID, e.state(d.State))
	}
	if ok {
		return nil
	}
	msg := fmt.Sprintf("deployment %s ended %s, not %s", d.ID, d.State, g)
	if d.Error != "" {
		msg += ": " + d.Error
	} else if n := len(d.Transitions); n > 0 && d.Transitions[n-1].Message != "" {
		msg += ": " + d.Transitions[n-1].Message
	}
	return exitError{code: exitRefused, msg: msg}
}

func (a *app) wait(c *cli.Context) error {
	as, err := args(c, "<id>")
	if err != nil {
		return err
	}
	var g goal
	if s := c.String("for"); s != "" {
		if g.state, err = parseState("for", s); err != nil {
			return err
		}
	}
	timeout := c.Duration("timeout")
	if timeout <= 0 {
		return usagef("--timeout %v: must be positive", timeout)
	}
	e, err := a.setup(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(e.ctx, timeout)
	defer cancel()
	d, err := e.fetchDeployment(ctx, as[0])
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && e.ctx.Err() == nil {
			return exitError{code: exitTimeout, msg: fmt.Sprintf("timed out after %v waiting for deployment %s: %v", timeout, as[0], err)}
		}
		return err
	}
	if !e.json {
		if done, _ := g.check(d); !done {
			fprintf(e.out, "Waiting for %s to reach %s (it is %s)...\n", d.ID, g, e.state(d.State))
		}
	}
	fol := &follower{cl: e.client, env: d.Environment, after: afterIndex(lastIndex(d)), retry: a.s.pollEvery}
	defer fol.close()
	final, ok, err := e.track(ctx, fol, d, g)
	return e.finish(final, g, ok, err, timeout)
}
