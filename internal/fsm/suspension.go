package fsm

// This file holds SetSuspension, which suspends or resumes an environment:
// while it is suspended no deployment of it starts (docs/domain.md#day-two-controls).

import (
	"fmt"
	"strings"
	"time"
)

// Suspension records who suspended an environment, why and since when.
type Suspension struct {
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	// Index is the Raft index of the command that suspended it: no
	// deployment of the environment starts at a later index until it is
	// resumed.
	Index uint64 `json:"index"`
}

// SetSuspension suspends (Suspend true) or resumes an environment. While an
// environment is suspended, commits are still observed and deployments
// created — they wait as Pending, and a newer one supersedes them as
// usual — but none leaves Pending, and no waiting deployment (one being
// approved or scheduled) starts changing targets; a deployment that was
// changing them already finishes, and rolls back if it fails. Resuming lets
// the waiting deployment go on.
//
// Both are idempotent, so that a retry is safe: suspending a suspended
// environment keeps the first suspension (who, why, since), and resuming
// one that is not suspended changes nothing.
type SetSuspension struct {
	Environment string    `json:"environment"`
	Suspend     bool      `json:"suspend"`
	Identity    string    `json:"identity"`
	Reason      string    `json:"reason,omitempty"`
	Time        time.Time `json:"time"`
}

// Type implements Command.
func (*SetSuspension) Type() CommandType { return SetSuspensionCommand }

// SuspensionResult is what a SetSuspension command returns.
type SuspensionResult struct {
	Environment *Environment
	// Unchanged is true when the environment already was as asked: the
	// command changed nothing.
	Unchanged bool
}

func init() { register(SetSuspensionCommand, (*state).checkSetSuspension, (*state).setSuspension) }

// checkSetSuspension refuses a SetSuspension without an identity or a time,
// a suspension without a reason, and one of an environment the state does
// not know.
func (s *state) checkSetSuspension(c *SetSuspension) error {
	op := "resume"
	if c.Suspend {
		op = "suspend"
	}
	switch {
	case !ValidEnvironmentName(c.Environment):
		return invalid("%s: environment name %q is not valid", op, c.Environment)
	case c.Identity == "":
		return invalid("%s %s: identity is empty", op, c.Environment)
	case c.Time.IsZero():
		return invalid("%s %s: time is missing", op, c.Environment)
	case c.Suspend && strings.TrimSpace(c.Reason) == "":
		return invalid("suspend %s: reason is empty", c.Environment)
	}
	if _, ok := s.Environments[c.Environment]; !ok {
		return notFound("environment", c.Environment)
	}
	return nil
}

// setSuspension suspends or resumes the environment unless it already is
// as asked, and returns a *SuspensionResult.
func (s *state) setSuspension(c *SetSuspension) any {
	e := s.Environments[c.Environment]
	switch {
	case c.Suspend && e.Suspended == nil:
		e.Suspended = &Suspension{By: c.Identity, Reason: c.Reason, Since: c.Time, Index: s.index}
	case !c.Suspend && e.Suspended != nil:
		e.Suspended = nil
	default:
		return &SuspensionResult{Environment: e.clone(), Unchanged: true}
	}
	return &SuspensionResult{Environment: e.clone()}
}

// suspendedBlocks returns why e's suspension stops d moving to state to, or
// "" when it does not: a deployment may not start (leave Pending) nor start
// changing targets (move from a waiting state to an active one).
func suspendedBlocks(e *Environment, d *Deployment, to DeploymentState) string {
	if e.Suspended == nil {
		return ""
	}
	if (d.State == StatePending && to == StateValidating) || (d.State.Waiting() && to.Active()) {
		return fmt.Sprintf("environment %s is suspended (by %s since %s: %s); resume it first",
			e.Name, e.Suspended.By, e.Suspended.Since.UTC().Format(time.RFC3339), e.Suspended.Reason)
	}
	return ""
}
