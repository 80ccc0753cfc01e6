package fsm

// This file holds CancelDeployment, which ends a deployment before it
// changes any target, and OverrideWindow, which lets one through a closed
// deployment window (docs/domain.md#day-two-controls).

import (
	"fmt"
	"strings"
	"time"
)

// Cancellation records who cancelled a deployment and why.
type Cancellation struct {
	Identity string    `json:"identity"`
	Time     time.Time `json:"time"`
	Reason   string    `json:"reason"`
}

// CancelDeployment ends a deployment that has not started changing targets
// (a waiting one: Pending through AwaitingApproval, or Scheduled) as
// Cancelled. When the deployment records an approval requirement with
// groups, only a member of one of them may cancel it, as for a rejection.
// A retry by the identity that cancelled it answers the cancelled
// deployment again.
type CancelDeployment struct {
	ID       string    `json:"id"`
	Identity string    `json:"identity"`
	Groups   []string  `json:"groups,omitempty"`
	Time     time.Time `json:"time"`
	Reason   string    `json:"reason"`
}

// Type implements Command.
func (*CancelDeployment) Type() CommandType { return CancelDeploymentCommand }

func init() { register(CancelDeploymentCommand, (*state).checkCancel, (*state).cancel) }

// checkCancel refuses a cancellation without an identity, a reason or a
// time, one of a deployment that is not waiting, and one by an identity
// outside the deployment's approver groups.
func (s *state) checkCancel(c *CancelDeployment) error {
	switch {
	case c.Identity == "":
		return invalid("cancel deployment %s: identity is empty", c.ID)
	case strings.TrimSpace(c.Reason) == "":
		return invalid("cancel deployment %s: reason is empty", c.ID)
	case c.Time.IsZero():
		return invalid("cancel deployment %s: time is missing", c.ID)
	}
	d, ok := s.Deployments[c.ID]
	if !ok {
		return notFound("deployment", c.ID)
	}
	if s.cancelledBy(d, c.Identity) {
		return nil
	}
	if !d.State.Waiting() {
		return fmt.Errorf("cannot cancel deployment %s: it is %s; only a deployment that has not started changing targets (%s) can be cancelled: %w",
			d.ID, d.State, waitingStates(), ErrWrongState)
	}
	if d.Approval != nil && len(d.Approval.Groups) > 0 && !InApproverGroups(c.Groups, d.Approval.Groups) {
		return fmt.Errorf("cannot cancel deployment %s: %s is not in an approver group (%s): %w",
			d.ID, c.Identity, strings.Join(d.Approval.Groups, ", "), ErrNotAllowed)
	}
	return nil
}

// cancel ends the deployment as Cancelled, unless the identity did so
// already, and returns a *CancelResult.
func (s *state) cancel(c *CancelDeployment) any {
	d := s.Deployments[c.ID]
	if s.cancelledBy(d, c.Identity) {
		return &CancelResult{Deployment: d.clone(), Duplicate: true}
	}
	d.Cancellation = &Cancellation{Identity: c.Identity, Time: c.Time, Reason: c.Reason}
	d.move(StateCancelled, c.Time, fmt.Sprintf("cancelled by %s: %s", c.Identity, c.Reason), s.index)
	s.moved = append(s.moved, d)
	e := s.env(d.Environment)
	if e.Waiting == d.ID {
		e.Waiting = ""
	}
	s.prune(e)
	return &CancelResult{Deployment: d.clone()}
}

// CancelResult is what a CancelDeployment command returns.
type CancelResult struct {
	Deployment *Deployment
	// Duplicate is true when the identity had cancelled the deployment
	// already: the command changed nothing.
	Duplicate bool
}

// cancelledBy reports whether d was cancelled by identity.
func (s *state) cancelledBy(d *Deployment, identity string) bool {
	return d != nil && d.State == StateCancelled && d.Cancellation != nil && d.Cancellation.Identity == identity
}

// waitingStates names the waiting states, for messages.
func waitingStates() string {
	var names []string
	for _, st := range AllStates {
		if st.Waiting() {
			names = append(names, st.String())
		}
	}
	return strings.Join(names, ", ")
}

// WindowOverride records an admin letting a deployment through a closed
// deployment window or a blackout.
type WindowOverride struct {
	Identity string    `json:"identity"`
	Time     time.Time `json:"time"`
	Reason   string    `json:"reason"`
}

// OverrideWindow lets a waiting deployment through its environment's
// deployment windows and blackouts: once approved (if the policy asks for
// approval), it starts without waiting for a window to open. Only an admin
// may override (Role, set by the API from the caller's token, is checked
// here as well as there). The first override stands; a retry by the same
// identity answers it again.
type OverrideWindow struct {
	ID       string    `json:"id"`
	Identity string    `json:"identity"`
	Role     string    `json:"role"`
	Time     time.Time `json:"time"`
	Reason   string    `json:"reason"`
}

// Type implements Command.
func (*OverrideWindow) Type() CommandType { return OverrideWindowCommand }

func init() { register(OverrideWindowCommand, (*state).checkOverrideWindow, (*state).overrideWindow) }

// AdminRole is the role OverrideWindow requires.
const AdminRole = "admin"

// checkOverrideWindow refuses an override without an identity, a reason or
// a time, by anyone but an admin, of a deployment that is not waiting, and
// a second override by another identity.
func (s *state) checkOverrideWindow(c *OverrideWindow) error {
	switch {
	case c.Identity == "":
		return invalid("override the window of deployment %s: identity is empty", c.ID)
	case strings.TrimSpace(c.Reason) == "":
		return invalid("override the window of deployment %s: reason is empty", c.ID)
	case c.Time.IsZero():
		return invalid("override the window of deployment %s: time is missing", c.ID)
	case c.Role != AdminRole:
		return fmt.Errorf("cannot override the window of deployment %s: %s has the role %q; only an admin may: %w",
			c.ID, c.Identity, c.Role, ErrNotAllowed)
	}
	d, ok := s.Deployments[c.ID]
	if !ok {
		return notFound("deployment", c.ID)
	}
	if o := d.WindowOverride; o != nil {
		if o.Identity == c.Identity {
			return nil
		}
		return fmt.Errorf("cannot override the window of deployment %s: %s overrode it already at %s: %w",
			d.ID, o.Identity, o.Time.UTC().Format(time.RFC3339), ErrWrongState)
	}
	if !d.State.Waiting() {
		return fmt.Errorf("cannot override the window of deployment %s: it is %s; only a deployment that has not started (%s) waits for a window: %w",
			d.ID, d.State, waitingStates(), ErrWrongState)
	}
	return nil
}

// overrideWindow records the override unless one is recorded, and returns
// a copy of the deployment.
func (s *state) overrideWindow(c *OverrideWindow) any {
	d := s.Deployments[c.ID]
	if d.WindowOverride == nil {
		d.WindowOverride = &WindowOverride{Identity: c.Identity, Time: c.Time, Reason: c.Reason}
		d.UpdatedAt = c.Time
	}
	return d.clone()
}
