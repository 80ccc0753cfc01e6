package fsm

// This file holds CreateRollback, which takes an environment back to a
// deployment that Completed and pins it there, and SetPin, which pins or
// unpins an environment.

import (
	"fmt"
	"time"
)

// CreateRollback creates a Pending deployment of kind rollback that takes an
// environment back to To, one of its deployments that Completed: its commit
// is To's, never one the caller names. A rollback skips the approval rules
// a commit goes through (only rollbackRequiresApproval holds it), so it may
// only restore something that was once deployed through them: a deployment
// that is waiting, was rejected, failed or rolled back is refused.
//
// The environment is pinned in the same step: the watcher does not deploy
// the commit it last saw for the environment (LatestSeenCommit, the branch
// head when the rollback was made; the deployed commit when none was seen)
// again, and only a later commit that changes the environment unpins it.
type CreateRollback struct {
	Environment string    `json:"environment"`
	To          string    `json:"to"`
	Branch      string    `json:"branch,omitempty"`
	Initiator   string    `json:"initiator"`
	Time        time.Time `json:"time"`
	Message     string    `json:"message,omitempty"`
}

// Type implements Command.
func (*CreateRollback) Type() CommandType { return CreateRollbackCommand }

func init() {
	register(CreateRollbackCommand, (*state).checkCreateRollback, (*state).createRollback)
}

// checkCreateRollback refuses a malformed CreateRollback, and one whose
// target is not a Completed deployment of the environment with another
// commit than the one deployed.
func (s *state) checkCreateRollback(c *CreateRollback) error {
	switch {
	case !ValidEnvironmentName(c.Environment):
		return invalid("roll back: environment name %q is not valid", c.Environment)
	case c.To == "":
		return invalid("roll back %s: the deployment to go back to is not named", c.Environment)
	case c.Initiator == "":
		return invalid("roll back %s: initiator is empty", c.Environment)
	case c.Time.IsZero():
		return invalid("roll back %s: time is missing", c.Environment)
	}
	e, ok := s.Environments[c.Environment]
	if !ok {
		return notFound("environment", c.Environment)
	}
	to, ok := s.Deployments[c.To]
	switch {
	case !ok:
		return fmt.Errorf("roll back %s to %s: no such deployment (only a Completed deployment of %s can be rolled back to): %w",
			c.Environment, c.To, c.Environment, ErrNotFound)
	case to.Environment != c.Environment:
		return invalid("roll back %s to %s: that deployment is of %s; only a Completed deployment of %s can be rolled back to",
			c.Environment, c.To, to.Environment, c.Environment)
	case to.State != StateCompleted:
		return fmt.Errorf("roll back %s to %s: that deployment is %s; only a Completed deployment can be rolled back to: %w",
			c.Environment, c.To, to.State, ErrWrongState)
	case e.DeployedCommit == "":
		return fmt.Errorf("roll back %s: nothing is deployed: %w", c.Environment, ErrWrongState)
	case to.Commit == e.DeployedCommit:
		return fmt.Errorf("roll back %s to %s: its commit %s is what is deployed: %w",
			c.Environment, c.To, to.Commit, ErrWrongState)
	}
	return s.checkNextID(c.Environment)
}

// createRollback records the rollback deployment, pins the environment
// and returns a copy of the deployment.
func (s *state) createRollback(c *CreateRollback) any {
	to := s.Deployments[c.To]
	d, e := s.newDeployment(c.Environment, to.Commit, c.Time)
	from := e.LatestSeenCommit
	if from == "" {
		from = e.DeployedCommit
	}
	d.Branch, d.Kind, d.Initiator, d.RollbackTo, d.Subject = c.Branch, KindRollback, c.Initiator, to.ID, to.Subject
	d.Transitions[0].Message = c.Message
	e.Pin = &Pin{Commit: to.Commit, From: from, By: c.Initiator, Since: c.Time}
	return s.added(d, e)
}

// SetPin pins an environment (Pin set) or unpins it (Pin nil).
type SetPin struct {
	Environment string `json:"environment"`
	Pin         *Pin   `json:"pin,omitempty"`
}

// Type implements Command.
func (*SetPin) Type() CommandType { return SetPinCommand }

func init() { register(SetPinCommand, (*state).checkSetPin, (*state).setPin) }

// checkSetPin refuses a bad environment name or a pin without a commit.
func (s *state) checkSetPin(c *SetPin) error {
	if !ValidEnvironmentName(c.Environment) {
		return invalid("set pin: environment name %q is not valid", c.Environment)
	}
	if c.Pin != nil && c.Pin.Commit == "" {
		return invalid("pin %s: commit is empty", c.Environment)
	}
	return nil
}

// setPin pins or unpins the environment, creating its record if needed.
func (s *state) setPin(c *SetPin) any {
	e := s.env(c.Environment)
	if c.Pin == nil {
		e.Pin = nil
	} else {
		p := *c.Pin
		e.Pin = &p
	}
	return nil
}
