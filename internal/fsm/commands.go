package fsm

import (
	"encoding/json"
	"fmt"
	"time"
)

// CommandType is the first byte of every log entry: which command follows.
//
// The list is append-only. A number is never reused or renumbered, 0 means
// unknown, and new commands are added at the end, so that an old log replays
// the same way on a new binary.
type CommandType uint8

// The command types.
const (
	UnknownCommand           CommandType = 0
	CreateDeploymentCommand  CommandType = 1
	TransitionCommand        CommandType = 2
	ApproveCommand           CommandType = 3
	RejectCommand            CommandType = 4
	ObserveCommitCommand     CommandType = 5
	SetPinCommand            CommandType = 6
	IssueFencingTokenCommand CommandType = 7
	SetSettingsCommand       CommandType = 8
	RequestSyncCommand       CommandType = 9
	SetSourceStatusCommand   CommandType = 10
	CreateRollbackCommand    CommandType = 11
	// Append new types here.
)

// IgnoreUnknownFlag, set on a type byte, tells a node that does not know the
// type to skip the entry instead of stopping. A command is marked this way
// when older nodes can safely go without it during a rolling upgrade.
const IgnoreUnknownFlag CommandType = 0x80

// Command is the payload of one log entry.
type Command interface {
	// Type returns the command's type byte (without IgnoreUnknownFlag).
	Type() CommandType
}

// ignorable is implemented by commands an older node may skip.
type ignorable interface{ IgnoreIfUnknown() bool }

// Encode returns the log entry for c: its type byte, then its JSON payload.
func Encode(c Command) ([]byte, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", c, err)
	}
	t := c.Type()
	if ig, ok := c.(ignorable); ok && ig.IgnoreIfUnknown() {
		t |= IgnoreUnknownFlag
	}
	return append([]byte{byte(t)}, payload...), nil
}

// errUnknownCommand is returned by Decode for a type this binary does not
// know. It carries whether the entry may be skipped.
type errUnknownCommand struct {
	t        CommandType
	ignoreOK bool
}

func (e errUnknownCommand) Error() string {
	return fmt.Sprintf("unknown command type %d", e.t)
}

// Decode parses a log entry written by Encode.
func Decode(b []byte) (Command, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("decode command: empty entry")
	}
	t := CommandType(b[0])
	ignoreOK := t&IgnoreUnknownFlag != 0
	t &^= IgnoreUnknownFlag
	spec := specOf(t)
	if spec == nil {
		return nil, errUnknownCommand{t: t, ignoreOK: ignoreOK}
	}
	c, err := spec.decode(b[1:])
	if err != nil {
		return nil, fmt.Errorf("decode command type %d: %w", t, err)
	}
	return c, nil
}

// commandSpec is what this binary knows of one command type: how to decode
// its payload, and how the state checks and applies it.
type commandSpec struct {
	decode func(payload []byte) (Command, error)
	// check returns why the state refuses the command; it changes
	// nothing.
	check func(s *state, c Command) error
	// apply executes a command check accepted, on the same state. It
	// cannot fail: whatever could refuse the command is in check.
	apply func(s *state, c Command) any
}

// specs holds the spec of every known command type, indexed by type.
// Unregistered types, 0 among them, are nil: unknown.
var specs [IgnoreUnknownFlag]*commandSpec

// specOf returns the spec of command type t, or nil when t is unknown.
func specOf(t CommandType) *commandSpec {
	if t >= IgnoreUnknownFlag {
		return nil
	}
	return specs[t]
}

// register adds command type t, whose payload is a *C, to the table, with
// the state's check and apply of it (see commandSpec). Each command calls
// it from an init function in its own file, so adding a command is one
// registration next to its handlers. It panics when t is reserved, not
// what *C's Type returns, or registered twice: programming errors that any
// run of the package's tests catches, as registration happens when the
// package is initialized.
func register[C any, P interface {
	*C
	Command
}](t CommandType, check func(*state, P) error, apply func(*state, P) any) {
	switch {
	case t == UnknownCommand || t >= IgnoreUnknownFlag:
		panic(fmt.Sprintf("fsm: register %T: command type %d is reserved", P(nil), t))
	case P(new(C)).Type() != t:
		panic(fmt.Sprintf("fsm: register %T as command type %d: its Type is %d", P(nil), t, P(new(C)).Type()))
	case specs[t] != nil:
		panic(fmt.Sprintf("fsm: register %T: command type %d is already registered", P(nil), t))
	}
	specs[t] = &commandSpec{
		decode: func(payload []byte) (Command, error) {
			c := P(new(C))
			if err := json.Unmarshal(payload, c); err != nil {
				return nil, err
			}
			return c, nil
		},
		check: func(s *state, c Command) error {
			p, ok := c.(P)
			if !ok {
				return invalid("command %T has no handler", c)
			}
			return check(s, p)
		},
		apply: func(s *state, c Command) any { return apply(s, c.(P)) },
	}
}

// CreateDeployment creates a Pending deployment of kind auto or manual-sync
// and returns it; the FSM assigns its id. A waiting deployment of the same
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
}

// Type implements Command.
func (*CreateDeployment) Type() CommandType { return CreateDeploymentCommand }

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

// Approve records an identity's approval of a deployment that is
// AwaitingApproval. The same identity approving twice is one approval.
type Approve struct {
	ID       string    `json:"id"`
	Identity string    `json:"identity"`
	Groups   []string  `json:"groups,omitempty"`
	Time     time.Time `json:"time"`
	Comment  string    `json:"comment,omitempty"`
}

// Type implements Command.
func (*Approve) Type() CommandType { return ApproveCommand }

// Reject ends a deployment that is AwaitingApproval.
type Reject struct {
	ID       string    `json:"id"`
	Identity string    `json:"identity"`
	Groups   []string  `json:"groups,omitempty"`
	Time     time.Time `json:"time"`
	Reason   string    `json:"reason"`
}

// Type implements Command.
func (*Reject) Type() CommandType { return RejectCommand }

// ObserveCommit records the newest commit the watcher saw for an
// environment, creating the environment's record if needed.
type ObserveCommit struct {
	Environment string    `json:"environment"`
	Commit      string    `json:"commit"`
	Time        time.Time `json:"time"`
}

// Type implements Command.
func (*ObserveCommit) Type() CommandType { return ObserveCommitCommand }

// SetPin pins an environment (Pin set) or unpins it (Pin nil).
type SetPin struct {
	Environment string `json:"environment"`
	Pin         *Pin   `json:"pin,omitempty"`
}

// Type implements Command.
func (*SetPin) Type() CommandType { return SetPinCommand }

// IssueFencingToken hands a deployment a new fencing token (DOMAIN.md §7)
// before it changes targets. The token is the entry's Raft index, so it
// grows with every term and every apply, and no two applies share one.
type IssueFencingToken struct {
	ID string `json:"id"`
	// Above, when set, makes the token greater than it: a target reported
	// it accepted that token already, which this cluster never issued
	// (its state was restored from a backup taken before). Only the
	// leader can commit the command, so a deposed leader cannot use it
	// to overtake its successor.
	Above uint64 `json:"above,omitempty"`
}

// Type implements Command.
func (*IssueFencingToken) Type() CommandType { return IssueFencingTokenCommand }

// SetSettings changes cluster-wide settings of the state itself. Settings
// travel in the log, not in each node's configuration, so that every node
// prunes history the same way.
type SetSettings struct {
	// HistoryRetention is how many deployments each environment keeps.
	HistoryRetention int `json:"historyRetention"`
	// PlanRetention is how many of each environment's newest deployments
	// keep their plan and validation documents; 0 leaves it unchanged.
	PlanRetention int `json:"planRetention,omitempty"`
}

// Type implements Command.
func (*SetSettings) Type() CommandType { return SetSettingsCommand }

// RequestSync asks the leader to poll the repository now and deploy the
// environment's branch head, even when nothing changed (kind manual-sync).
// The request stays pending until a manual-sync deployment of the
// environment is created.
type RequestSync struct {
	Environment string    `json:"environment"`
	By          string    `json:"by"`
	Time        time.Time `json:"time"`
}

// Type implements Command.
func (*RequestSync) Type() CommandType { return RequestSyncCommand }

// SetSourceStatus records what the leader last learned of the configuration
// repository: the branch head, or the error that stopped it from learning
// it. The leader applies it when either changes, not on every poll.
type SetSourceStatus struct {
	Head  string    `json:"head,omitempty"`
	Error string    `json:"error,omitempty"`
	Time  time.Time `json:"time"`
}

// Type implements Command.
func (*SetSourceStatus) Type() CommandType { return SetSourceStatusCommand }
