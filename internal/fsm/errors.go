package fsm

import (
	"errors"
	"fmt"
)

// Conditions a command can be refused for. Every error Apply returns wraps
// exactly one of these, so callers map them with errors.Is.
var (
	// ErrNotFound: the deployment or environment does not exist.
	ErrNotFound = errors.New("not found")
	// ErrIllegalTransition: the state machine has no such edge.
	ErrIllegalTransition = errors.New("illegal transition")
	// ErrWrongState: the operation needs the deployment in another state.
	ErrWrongState = errors.New("wrong state")
	// ErrConflict: another deployment of the environment already holds the
	// slot (active or waiting) the command needs.
	ErrConflict = errors.New("conflict")
	// ErrDuplicate: the id is already taken.
	ErrDuplicate = errors.New("duplicate")
	// ErrNotAllowed: the identity may not approve or reject this deployment.
	ErrNotAllowed = errors.New("not allowed")
	// ErrInvalid: the command itself is malformed (missing or bad field).
	ErrInvalid = errors.New("invalid command")
)

// TransitionError is returned when a deployment cannot move between two
// states.
type TransitionError struct {
	ID       string
	From, To DeploymentState
	Reason   string
}

func (e *TransitionError) Error() string {
	msg := fmt.Sprintf("deployment %s cannot go from %s to %s", e.ID, e.From, e.To)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrIllegalTransition) hold.
func (e *TransitionError) Unwrap() error { return ErrIllegalTransition }

// StateError is returned when an operation needs the deployment in a
// particular state, such as an approval of a deployment that is not
// AwaitingApproval.
type StateError struct {
	ID   string
	Op   string
	Is   DeploymentState
	Want DeploymentState
}

func (e *StateError) Error() string {
	return fmt.Sprintf("cannot %s deployment %s: it is %s, not %s", e.Op, e.ID, e.Is, e.Want)
}

// Unwrap makes errors.Is(err, ErrWrongState) hold.
func (e *StateError) Unwrap() error { return ErrWrongState }

// ConflictError is returned when a deployment would become the second active
// deployment of its environment.
type ConflictError struct {
	ID          string
	From, To    DeploymentState
	Environment string
	OtherID     string
	OtherState  DeploymentState
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("deployment %s cannot go from %s to %s: deployment %s is already %s in environment %s",
		e.ID, e.From, e.To, e.OtherID, e.OtherState, e.Environment)
}

// Unwrap makes errors.Is(err, ErrConflict) hold.
func (e *ConflictError) Unwrap() error { return ErrConflict }

func notFound(what, id string) error { return fmt.Errorf("%s %s: %w", what, id, ErrNotFound) }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalid)
}
