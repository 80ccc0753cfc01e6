package fsm

// This file holds the deployment state machine (which moves there are) and
// TransitionDeployment, the command that makes one, with the rules that
// depend on the deployment's history and its environment.

import (
	"encoding/json"
	"fmt"
	"time"
)

// legal lists, for each state, the states a deployment may move to from it.
// It is the state machine of docs/domain.md#states:
//
//	Pending → Validating → Planning → [AwaitingApproval] → [Scheduled] → BackingUp
//	        → Applying → PostValidating → Completed
//
// with Failed reachable from every non-terminal state, Superseded and
// Cancelled from every waiting state (Cancelled only through
// CancelDeployment), Rejected only from AwaitingApproval, and RollingBack only
// from Failed (and only once something was applied; see CanTransition).
var legal = map[DeploymentState][]DeploymentState{
	StatePending:          {StateValidating, StateFailed, StateSuperseded, StateCancelled},
	StateValidating:       {StatePlanning, StateFailed, StateSuperseded, StateCancelled},
	StatePlanning:         {StateAwaitingApproval, StateScheduled, StateBackingUp, StateFailed, StateSuperseded, StateCancelled},
	StateAwaitingApproval: {StateScheduled, StateBackingUp, StateRejected, StateFailed, StateSuperseded, StateCancelled},
	StateScheduled:        {StateBackingUp, StateFailed, StateSuperseded, StateCancelled},
	StateBackingUp:        {StateApplying, StateFailed},
	StateApplying:         {StatePostValidating, StateFailed},
	StatePostValidating:   {StateCompleted, StateFailed},
	StateFailed:           {StateRollingBack},
	StateRollingBack:      {StateRolledBack, StateFailed},
	StateCompleted:        nil,
	StateRolledBack:       nil,
	StateRejected:         nil,
	StateSuperseded:       nil,
	StateCancelled:        nil,
}

// CanTransition reports whether the state machine has an edge from → to.
// It does not know about a deployment's history; see Deployment.canMove for
// the rules that do (a Failed deployment rolls back only if it applied
// something, and only once).
func CanTransition(from, to DeploymentState) bool {
	for _, s := range legal[from] {
		if s == to {
			return true
		}
	}
	return false
}

// canMove reports whether d may move to state to, given its own history.
func (d *Deployment) canMove(to DeploymentState) bool {
	if !CanTransition(d.State, to) {
		return false
	}
	if d.State == StateFailed && to == StateRollingBack {
		return d.Applied && !d.RollbackStarted
	}
	return true
}

// TransitionDeployment moves a deployment to another state, recording what the step
// that moved it learned.
type TransitionDeployment struct {
	ID      string          `json:"id"`
	To      DeploymentState `json:"to"`
	Time    time.Time       `json:"time"`
	Message string          `json:"message,omitempty"`
	// Error is recorded on the deployment (moving to Failed, typically).
	Error string `json:"error,omitempty"`
	// Optional results of the step; a field left empty leaves the
	// deployment's value unchanged.
	Plan       json.RawMessage      `json:"plan,omitempty"`
	Validation json.RawMessage      `json:"validation,omitempty"`
	Risk       string               `json:"risk,omitempty"`
	Approval   *ApprovalRequirement `json:"approval,omitempty"`
	// BackupBundleID names the kept bundle, on the way out of BackingUp.
	BackupBundleID string `json:"backupBundleId,omitempty"`
}

// Type implements Command.
func (*TransitionDeployment) Type() CommandType { return TransitionCommand }

func init() { register(TransitionCommand, (*state).checkTransition, (*state).transition) }

// checkTransition refuses a malformed TransitionDeployment, a move the state
// machine or the deployment's history does not allow, a move blocked (see
// blocked), and a move that would make a second active deployment of the
// environment.
func (s *state) checkTransition(c *TransitionDeployment) error {
	d, ok := s.Deployments[c.ID]
	if !ok {
		return notFound("deployment", c.ID)
	}
	if !c.To.Valid() {
		return invalid("transition deployment %s: unknown state", c.ID)
	}
	if c.Time.IsZero() {
		return invalid("transition deployment %s: time is missing", c.ID)
	}
	if c.Approval != nil && c.To != StateAwaitingApproval {
		return invalid("transition deployment %s to %s: an approval requirement is recorded only on the move to %s",
			c.ID, c.To, StateAwaitingApproval)
	}
	if c.Approval != nil && c.Approval.Required < 1 {
		return invalid("transition deployment %s: an approval requirement needs at least 1 approval, got %d",
			c.ID, c.Approval.Required)
	}
	if !d.canMove(c.To) {
		e := &TransitionError{ID: d.ID, From: d.State, To: c.To}
		switch {
		case d.State == StateFailed && c.To == StateRollingBack && !d.Applied:
			e.Reason = "nothing was applied"
		case d.State == StateFailed && c.To == StateRollingBack:
			e.Reason = "it already rolled back once"
		case d.State.Terminal():
			e.Reason = fmt.Sprintf("%s is final", d.State)
		}
		return e
	}
	if c.To == StateCancelled {
		return &TransitionError{ID: d.ID, From: d.State, To: c.To,
			Reason: "only a CancelDeployment command, which says who cancels and why, makes this move"}
	}
	// A deployment whose environment has no record (only a restored
	// snapshot can hold one) is checked against an empty environment,
	// which the move creates if it is made.
	e := s.Environments[d.Environment]
	if e == nil {
		e = &Environment{Name: d.Environment}
	}
	if reason := s.blocked(d, e, c); reason != "" {
		return &TransitionError{ID: d.ID, From: d.State, To: c.To, Reason: reason}
	}
	if c.To.Active() && !d.State.Active() && e.Current != "" && e.Current != d.ID {
		// A current slot naming a deployment the state does not hold
		// (only a restored snapshot can have one) blocks nothing.
		if other := s.Deployments[e.Current]; other != nil {
			return &ConflictError{ID: d.ID, From: d.State, To: c.To, Environment: e.Name,
				OtherID: other.ID, OtherState: other.State}
		}
	}
	return nil
}

// blocked returns why d may not make the move c asks for although the state
// machine has the edge, or "" when it may.
func (s *state) blocked(d *Deployment, e *Environment, c *TransitionDeployment) string {
	if reason := suspendedBlocks(e, d, c.To); reason != "" {
		return reason
	}
	switch {
	case d.State == StateAwaitingApproval && (c.To == StateScheduled || c.To == StateBackingUp):
		if d.Approval == nil {
			return "no approval requirement was recorded"
		}
		if !d.Approved() {
			return fmt.Sprintf("it has %d of %d required approvals", len(d.Approvals), d.Approval.Required)
		}
	case d.State == StateFailed && c.To == StateRollingBack && d.Backup != nil:
		// Restoring the backup is right only while the environment still
		// has it deployed; otherwise it would undo a newer deployment.
		if e.DeployedDeployment != d.Backup.DeploymentID || e.DeployedCommit != d.Backup.Commit {
			return fmt.Sprintf("environment %s has moved on to deployment %s since", e.Name, e.DeployedDeployment)
		}
	}
	return ""
}

// transition moves the deployment, records what the step learned, updates
// the environment's slots and deployed commit, prunes when the deployment
// ended, and returns a copy of the deployment.
func (s *state) transition(c *TransitionDeployment) any {
	d := s.Deployments[c.ID]
	e := s.env(d.Environment)
	from := d.State
	d.move(c.To, c.Time, c.Message, s.index)
	s.moved = append(s.moved, d)
	if c.Error != "" {
		d.Error = c.Error
	}
	if c.Plan != nil {
		d.Plan = NewDocument(c.Plan)
	}
	if c.Validation != nil {
		d.Validation = NewDocument(c.Validation)
	}
	if c.Risk != "" {
		d.Risk = c.Risk
	}
	if c.Approval != nil {
		d.Approval = c.Approval.clone()
	}

	if from.Waiting() && !c.To.Waiting() && e.Waiting == d.ID {
		e.Waiting = ""
	}
	if from.Active() && !c.To.Active() && e.Current == d.ID {
		e.Current = ""
	}
	if c.To.Active() {
		e.Current = d.ID
	}
	if from == StatePlanning && (c.To == StateAwaitingApproval || c.To == StateScheduled || c.To == StateBackingUp) &&
		e.DeployedCommit == "" && e.FirstGate == "" {
		// The first decision of the policy's gate while nothing is
		// deployed: that policy stays in force until something is.
		e.FirstGate = d.Commit
	}
	switch c.To {
	case StateBackingUp:
		d.Backup = &Backup{DeploymentID: e.DeployedDeployment, Commit: e.DeployedCommit}
	case StateApplying:
		d.Applied = true
		if c.BackupBundleID != "" && d.Backup != nil {
			d.Backup.BundleID = c.BackupBundleID
		}
	case StateRollingBack:
		d.RollbackStarted = true
	case StateCompleted:
		e.DeployedCommit, e.DeployedDeployment = d.Commit, d.ID
		e.FirstGate = ""
	case StateRolledBack:
		if d.Backup != nil {
			e.DeployedCommit, e.DeployedDeployment = d.Backup.Commit, d.Backup.DeploymentID
		}
	}
	if c.To.Terminal() {
		s.prune(e)
	}
	return d.clone()
}

// move records a transition of d to state to. Callers check legality first.
func (d *Deployment) move(to DeploymentState, at time.Time, msg string, index uint64) {
	d.Transitions = append(d.Transitions, Transition{From: d.State, To: to, Time: InstantOf(at), Message: msg, Index: index})
	d.State = to
	d.UpdatedAt = at
}
