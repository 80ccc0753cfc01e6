package fsm

// This file holds the envelope of every log entry (a type byte, then a
// JSON payload) and the table of command types: each command registers its
// payload type, check and apply once, in its own file, with register.
//
// To add a command: append its type to the list below; in the file of its
// concern, declare its payload with a Type method and register it with its
// check and apply; then list the ways it is refused in refusals
// (refusals_test.go) and pin its encoding with a line in
// testdata/golden/log.txt (golden_test.go says how).

import (
	"encoding/json"
	"fmt"
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
	// The notification outbox's commands, all safe for an older node to
	// ignore (see SetNotificationRoutes).
	SetNotificationRoutesCommand     CommandType = 12
	RecordNotificationAttemptCommand CommandType = 13
	MarkNotificationDeliveredCommand CommandType = 14
	RetryNotificationCommand         CommandType = 15
	// Day-two controls.
	SetSuspensionCommand    CommandType = 16
	CancelDeploymentCommand CommandType = 17
	OverrideWindowCommand   CommandType = 18
	// Drift.
	SetDriftCommand CommandType = 19
	// Rollouts.
	RecordWaveCommand     CommandType = 20
	ControlRolloutCommand CommandType = 21
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
