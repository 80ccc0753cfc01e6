package fsm

// This file holds ControlRollout: an operator promoting the wave that
// bakes (skipping the rest of its bake) or aborting the rollout, which the
// leader then fails and rolls back (docs/domain.md#rollouts).

import (
	"fmt"
	"strings"
	"time"
)

// RolloutAction is what ControlRollout does.
type RolloutAction string

// The actions of ControlRollout.
const (
	// RolloutPromote skips the rest of the bake of the wave baking.
	RolloutPromote RolloutAction = "promote"
	// RolloutAbort stops the rollout: the leader fails the deployment,
	// which rolls back.
	RolloutAbort RolloutAction = "abort"
)

// RolloutControl records who promoted a wave or aborted a rollout.
type RolloutControl struct {
	Identity string    `json:"identity"`
	Time     time.Time `json:"time"`
	Reason   string    `json:"reason,omitempty"`
}

// ControlRollout promotes the baking wave of a deployment rolling out, or
// aborts its rollout. Only a member of the deployment's approver groups
// may, when it records some (the API checks the approver role). The first
// promotion of a wave and the first abort stand; repeating one changes
// nothing.
type ControlRollout struct {
	ID       string        `json:"id"`
	Action   RolloutAction `json:"action"`
	Identity string        `json:"identity"`
	Groups   []string      `json:"groups,omitempty"`
	Time     time.Time     `json:"time"`
	Reason   string        `json:"reason,omitempty"`
}

// Type implements Command.
func (*ControlRollout) Type() CommandType { return ControlRolloutCommand }

func init() { register(ControlRolloutCommand, (*state).checkControlRollout, (*state).controlRollout) }

func (s *state) checkControlRollout(c *ControlRollout) error {
	op := fmt.Sprintf("%s the rollout of deployment %s", c.Action, c.ID)
	switch {
	case c.Action != RolloutPromote && c.Action != RolloutAbort:
		return invalid("control the rollout of deployment %s: action %q is not promote or abort", c.ID, c.Action)
	case c.Identity == "":
		return invalid("%s: identity is empty", op)
	case c.Time.IsZero():
		return invalid("%s: time is missing", op)
	case c.Action == RolloutAbort && strings.TrimSpace(c.Reason) == "":
		return invalid("%s: reason is empty", op)
	case len(c.Reason) > MaxAnalysisText:
		return invalid("%s: reason longer than %d bytes", op, MaxAnalysisText)
	}
	d, ok := s.Deployments[c.ID]
	if !ok {
		return notFound("deployment", c.ID)
	}
	if d.State != StateApplying || len(d.Rollout) == 0 {
		return fmt.Errorf("cannot %s: it is %s with %d waves; only a deployment rolling out (Applying, a wave started) can be: %w",
			op, d.State, len(d.Rollout), ErrWrongState)
	}
	if c.Action == RolloutPromote {
		if w := d.Rollout[len(d.Rollout)-1]; w.Phase != WaveBaking {
			return fmt.Errorf("cannot %s: its wave %d is %s, not baking: %w", op, len(d.Rollout)-1, w.Phase, ErrWrongState)
		}
	}
	if d.Approval != nil && len(d.Approval.Groups) > 0 && !InApproverGroups(c.Groups, d.Approval.Groups) {
		return fmt.Errorf("cannot %s: %s is not in an approver group (%s): %w",
			op, c.Identity, strings.Join(d.Approval.Groups, ", "), ErrNotAllowed)
	}
	return nil
}

// controlRollout records the promotion or the abort, unless one is
// recorded, and returns a copy of the deployment.
func (s *state) controlRollout(c *ControlRollout) any {
	d := s.Deployments[c.ID]
	ctl := &RolloutControl{Identity: c.Identity, Time: c.Time, Reason: c.Reason}
	switch c.Action {
	case RolloutPromote:
		if w := &d.Rollout[len(d.Rollout)-1]; w.Promoted == nil {
			w.Promoted = ctl
			d.UpdatedAt = c.Time
		}
	case RolloutAbort:
		if d.RolloutAbort == nil {
			d.RolloutAbort = ctl
			d.UpdatedAt = c.Time
		}
	}
	return d.clone()
}
