package fsm

// This file holds CreateDeployment, and what every command that creates a
// deployment shares: its id, and the superseding of the waiting one.

import (
	"fmt"
	"time"
)

// CreateDeployment creates a Pending deployment of kind auto, manual-sync
// or self-heal and returns it; the FSM assigns its id. A self-heal
// deployment redeploys the deployed commit of an environment whose drift
// is recorded, once per drift, when nothing else is waiting or active
// (checkSelfHeal). A waiting deployment of the same
// environment is superseded by it in the same step. Rollbacks are created
// by CreateRollback, which names what they go back to.
type CreateDeployment struct {
	Environment string    `json:"environment"`
	Commit      string    `json:"commit"`
	Branch      string    `json:"branch,omitempty"`
	Kind        Kind      `json:"kind"`
	Initiator   string    `json:"initiator"`
	Time        time.Time `json:"time"`
	Message     string    `json:"message,omitempty"`
	// DryRun deployments are validated and planned, and stop there.
	DryRun bool `json:"dryRun,omitempty"`
	// Subject is the first line of the commit's message, at most
	// MaxSubject bytes.
	Subject string `json:"subject,omitempty"`
}

// MaxSubject bounds a deployment's Subject, in bytes.
const MaxSubject = 256

// Type implements Command.
func (*CreateDeployment) Type() CommandType { return CreateDeploymentCommand }

func init() {
	register(CreateDeploymentCommand, (*state).checkCreateDeployment, (*state).createDeployment)
}

// checkCreateDeployment refuses a malformed CreateDeployment, and one of a
// kind only rollback commands create.
func (s *state) checkCreateDeployment(c *CreateDeployment) error {
	switch {
	case !ValidEnvironmentName(c.Environment):
		return invalid("create deployment: environment name %q is not valid", c.Environment)
	case c.Commit == "":
		return invalid("create deployment for %s: commit is empty", c.Environment)
	case c.Kind == KindRollback || c.Kind == KindAutoRollback:
		return invalid("create deployment for %s: a deployment of kind %s is created by a rollback command, which names the Completed deployment it goes back to", c.Environment, c.Kind)
	case !c.Kind.Valid():
		return invalid("create deployment for %s: kind %q is not one of auto, manual-sync, self-heal", c.Environment, c.Kind)
	case c.Time.IsZero():
		return invalid("create deployment for %s: time is missing", c.Environment)
	case len(c.Subject) > MaxSubject:
		return invalid("create deployment for %s: the commit's subject is %d bytes; at most %d", c.Environment, len(c.Subject), MaxSubject)
	}
	if c.Kind == KindSelfHeal {
		if err := s.checkSelfHeal(c); err != nil {
			return err
		}
	}
	return s.checkNextID(c.Environment)
}

// createDeployment records the new deployment, supersedes the waiting one,
// clears a pending sync request when it is a manual sync, and returns a
// copy of the new deployment.
func (s *state) createDeployment(c *CreateDeployment) any {
	d, e := s.newDeployment(c.Environment, c.Commit, c.Time)
	d.Branch, d.Kind, d.Initiator, d.DryRun, d.Subject = c.Branch, c.Kind, c.Initiator, c.DryRun, c.Subject
	d.Transitions[0].Message = c.Message
	if c.Kind == KindManualSync {
		e.PendingSync = nil
	}
	if c.Kind == KindSelfHeal {
		e.Drift.SelfHeal = d.ID
	}
	return s.added(d, e)
}

// nextID returns the id the next deployment of env gets.
func (s *state) nextID(env string) string { return fmt.Sprintf("%s-%d", env, s.DeploymentSeq+1) }

// checkNextID refuses a new deployment of env whose id the state holds
// already. Only a corrupt snapshot could get here.
func (s *state) checkNextID(env string) error {
	if id := s.nextID(env); s.Deployments[id] != nil {
		return fmt.Errorf("create deployment %s: id already used: %w", id, ErrDuplicate)
	}
	return nil
}

// newDeployment numbers a new Pending deployment of commit in env, whose
// id checkNextID accepted. Nothing is recorded until the caller hands the
// deployment to added.
func (s *state) newDeployment(env, commit string, at time.Time) (*Deployment, *Environment) {
	d := &Deployment{
		ID:          s.nextID(env),
		Environment: env,
		Commit:      commit,
		State:       StatePending,
		CreatedAt:   at,
		UpdatedAt:   at,
		Transitions: []Transition{{To: StatePending, Time: InstantOf(at), Index: s.index}},
	}
	return d, s.env(env)
}

// added records d, new in e, as e's waiting deployment, superseding the one
// that waited, and returns a copy.
func (s *state) added(d *Deployment, e *Environment) *Deployment {
	s.DeploymentSeq++
	if e.Waiting != "" {
		if w := s.Deployments[e.Waiting]; w != nil {
			msg := fmt.Sprintf("superseded by deployment %s (commit %s)", d.ID, d.Commit)
			w.move(StateSuperseded, d.CreatedAt, msg, s.index)
			s.moved = append(s.moved, w)
		}
		e.Waiting = ""
	}
	s.Deployments[d.ID] = d
	s.moved = append(s.moved, d)
	e.Waiting = d.ID
	e.History = append(e.History, d.ID)
	s.prune(e)
	return d.clone()
}
