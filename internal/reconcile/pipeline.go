package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// reevaluateEvery bounds how long the pipeline sleeps without an event.
const reevaluateEvery = 30 * time.Second

// retryAfter is how long a step that hit a passing error (the repository
// unreachable, say) waits before trying again.
const retryAfter = 10 * time.Second

// outcome is what one step of a deployment did (STYLE: typed outcomes).
type outcome struct {
	// moved is true when the step applied a transition: step again.
	moved bool
	// at, when set, is when the deployment wants looking at again.
	at time.Time
}

// pipeline steps every waiting deployment whenever the state changes, and
// at the earliest time one of them asked for (a window opening, an approval
// expiring), or every reevaluateEvery at the latest.
func (r *Reconciler) pipeline(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		changed := r.store.Changed()
		next := r.stepAll(ctx)
		wait := reevaluateEvery
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(r.now()), 10*time.Millisecond))
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-timer.C:
		case <-r.wake:
		}
	}
}

// stepAll steps each environment's waiting deployment as far as it goes now
// and returns the earliest time one of them wants looking at again.
func (r *Reconciler) stepAll(ctx context.Context) time.Time {
	var next time.Time
	for _, e := range r.store.Heads() {
		if ctx.Err() != nil {
			return next
		}
		if e.PendingSync != nil {
			r.PollNow("sync of " + e.Name + " requested by " + e.PendingSync.By)
		}
		if e.Current != "" {
			r.startActive(ctx, e.Current)
		} else if e.FailedUnrecovered != "" {
			// A leader that died between the failure and the rollback
			// left it to this one.
			r.startActive(ctx, e.FailedUnrecovered)
		}
		if e.Waiting == "" || e.Suspended {
			// A suspended environment's waiting deployment stays where
			// it is (the FSM refuses its start too) until it is resumed.
			continue
		}
		start := time.Now()
		at, err := r.advance(ctx, e.Waiting)
		r.metrics.stepDuration.WithLabelValues(e.Name).Observe(time.Since(start).Seconds())
		if err != nil {
			if leadershipGone(err) || ctx.Err() != nil {
				return next
			}
			r.logger.Error("pipeline step", "env", e.Name, "deployment", e.Waiting, "error", err)
			at = r.now().Add(retryAfter)
		}
		if !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next
}

// advance steps one deployment until it stops moving.
func (r *Reconciler) advance(ctx context.Context, id string) (time.Time, error) {
	if at, waiting := r.stillAwaiting(id); waiting {
		return at, nil
	}
	for range 16 {
		d, ok := r.store.Deployment(id)
		if !ok || !d.State.Waiting() || ctx.Err() != nil {
			return time.Time{}, nil
		}
		out, err := r.step(ctx, d)
		switch {
		case errors.Is(err, fsm.ErrIllegalTransition), errors.Is(err, fsm.ErrWrongState):
			// Someone else moved it (superseded, rejected): look again.
			continue
		case err != nil:
			return time.Time{}, err
		case !out.moved:
			return out.at, nil
		}
	}
	return time.Time{}, nil
}

// stillAwaiting reports, without copying the record, that a deployment
// waits for approvals it does not have yet and has not expired — the
// common case on every change of state — and when it expires.
func (r *Reconciler) stillAwaiting(id string) (time.Time, bool) {
	var at time.Time
	waiting := false
	now := r.now()
	r.store.Peek(id, func(d *fsm.Deployment) {
		if d == nil || d.State != fsm.StateAwaitingApproval || d.Approval == nil || d.Approved() {
			return
		}
		if exp := d.Approval.Expires; exp.IsZero() || now.Before(exp) {
			at, waiting = exp, true
		}
	})
	return at, waiting
}

// step makes the next move of a waiting deployment, if it can make one now.
func (r *Reconciler) step(ctx context.Context, d *fsm.Deployment) (outcome, error) {
	switch d.State {
	case fsm.StatePending:
		return r.move(ctx, d, fsm.StateValidating, fmt.Sprintf("validating commit %s", short(d.Commit)), nil)
	case fsm.StateValidating:
		return r.validateAndPlan(ctx, d)
	case fsm.StatePlanning:
		if d.DryRun {
			return outcome{}, nil
		}
		return r.decide(ctx, d)
	case fsm.StateAwaitingApproval:
		return r.awaitApproval(ctx, d)
	case fsm.StateScheduled:
		return r.gate(ctx, d)
	}
	return outcome{}, nil
}

// move applies a transition of d, with extras set on the command by edit.
// Its message and error are cut to their bounds; a transition whose plan or
// validation report the cluster refuses as too large fails d instead.
func (r *Reconciler) move(ctx context.Context, d *fsm.Deployment, to fsm.DeploymentState, msg string, edit func(*fsm.TransitionDeployment)) (outcome, error) {
	c := &fsm.TransitionDeployment{ID: d.ID, To: to, Time: r.now(), Message: msg}
	if edit != nil {
		edit(c)
	}
	boundTexts(c)
	if _, err := r.cluster.Apply(ctx, c); err != nil {
		if tooLargeToRecord(c, err) {
			return r.recordTooLarge(ctx, d, c, err)
		}
		return outcome{}, err
	}
	r.logger.Info("deployment moved", "deployment", d.ID, "env", d.Environment, "from", d.State, "to", to, "message", c.Message)
	return outcome{moved: true}, nil
}

// fail moves d to Failed with err as its error.
func (r *Reconciler) fail(ctx context.Context, d *fsm.Deployment, msg, errText string, edit func(*fsm.TransitionDeployment)) (outcome, error) {
	return r.move(ctx, d, fsm.StateFailed, msg, func(c *fsm.TransitionDeployment) {
		c.Error = errText
		if edit != nil {
			edit(c)
		}
	})
}

// awaitApproval moves on once the approvals are in, fails the deployment
// when its approval window expired, and otherwise waits for the expiry.
func (r *Reconciler) awaitApproval(ctx context.Context, d *fsm.Deployment) (outcome, error) {
	if d.Approved() {
		return r.gate(ctx, d)
	}
	if d.Approval != nil && !d.Approval.Expires.IsZero() {
		if !r.now().Before(d.Approval.Expires) {
			msg := fmt.Sprintf("approval expired: %d of %d approvals by %s",
				len(d.Approvals), d.Approval.Required, d.Approval.Expires.Format(time.RFC3339))
			return r.fail(ctx, d, msg, "approval expired", nil)
		}
		return outcome{at: d.Approval.Expires}, nil
	}
	return outcome{}, nil
}

// gate lets a cleared deployment go when the policy's windows and blackouts
// allow it, and otherwise parks it in Scheduled until they do.
func (r *Reconciler) gate(ctx context.Context, d *fsm.Deployment) (outcome, error) {
	if d.Kind == fsm.KindRollback {
		// A rollback restores a known-good state: windows and blackouts
		// do not hold it.
		return r.handoff(ctx, d, "")
	}
	if o := d.WindowOverride; o != nil {
		return r.handoff(ctx, d, fmt.Sprintf("deployment window overridden by %s: %s", o.Identity, o.Reason))
	}
	pol, _, err := r.policyFor(ctx, d)
	if err != nil {
		return outcome{at: r.now().Add(retryAfter)}, err
	}
	open, reason, next := pol.Gate(r.now())
	if !open {
		if d.State == fsm.StateScheduled {
			return outcome{at: next}, nil
		}
		msg := "cleared, but " + reason
		if !next.IsZero() {
			msg += "; proceeds at " + next.Format(time.RFC3339)
		}
		out, err := r.move(ctx, d, fsm.StateScheduled, msg, nil)
		out.moved = false
		out.at = next
		return out, err
	}
	return r.handoff(ctx, d, "")
}

// handoff is where a cleared deployment inside its window leaves the front
// of the pipeline, to the deploy stage.
// note, when set, is added to the transition's message.
func (r *Reconciler) handoff(ctx context.Context, d *fsm.Deployment, note string) (outcome, error) {
	return r.handoffToDeploy(ctx, d, note)
}

// problemSummary is the Error of a deployment that failed validation with
// total problems: the first few of them, and how many more there are.
func problemSummary(problems []string, total int) string {
	if total == 1 && len(problems) == 1 {
		return "validation failed: " + problems[0]
	}
	shown := problems[:min(len(problems), maxSummaryProblems)]
	s := fmt.Sprintf("validation failed with %d problems: %s", total, strings.Join(shown, "; "))
	if more := total - len(shown); more > 0 {
		s += fmt.Sprintf("; and %d more", more)
	}
	return s
}
