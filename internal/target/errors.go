package target

import (
	"errors"
	"fmt"
)

// ErrFenced is matched (errors.Is) by the error of an Apply that a target
// refused for its fencing token: lower than the highest it has accepted.
var ErrFenced = errors.New("fencing token refused")

// ErrRedirected is matched (errors.Is) by the error of a request that was
// answered with a redirect.
var ErrRedirected = errors.New("redirect not followed")

// FencedError is how a target refuses a fencing token; it matches ErrFenced.
type FencedError struct {
	// Token is the token the refused bundle carried.
	Token uint64
	// Highest is the highest token the target had accepted, when it says
	// (0 when it does not: an http server's refusal).
	Highest uint64
	// Detail is what the target said, if anything (an http status and body).
	Detail string
	// BrokenBy is, when not 0, the token of the apply that broke this
	// apply's lock on a directory target after waiting for it (this one
	// was frozen while it held it), and is why it was refused.
	BrokenBy uint64
}

// Error says which token was refused and why.
func (e *FencedError) Error() string {
	var msg string
	if e.BrokenBy > 0 {
		msg = fmt.Sprintf("an apply of fencing token %d broke the lock that this one, of fencing token %d, held", e.BrokenBy, e.Token)
	} else if e.Highest > 0 {
		msg = fmt.Sprintf("fencing token %d is lower than %d, already accepted", e.Token, e.Highest)
	} else {
		msg = fmt.Sprintf("the server refused fencing token %d", e.Token)
	}
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

// Is makes errors.Is(err, ErrFenced) hold.
func (e *FencedError) Is(target error) bool { return target == ErrFenced }

// Error is the error of a target operation: which target, which step, the
// cause, and whether trying the same bundle again may succeed without
// anyone changing anything.
type Error struct {
	// Target names the target, as its String method does.
	Target string
	// Op is the step that failed: "validate bundle", "prepare", "lock",
	// "fencing", "write bundle", "switch", "put", "start", "run", ...
	Op string
	// Retryable is true for conditions that may pass by themselves: a
	// server error, a connection error, a timeout. It is false for a
	// refused fencing token, a 4xx answer, a bad path or a failed command.
	Retryable bool
	// Err is the cause.
	Err error
	// Output holds the last lines an exec target's command printed, when
	// it ran.
	Output string
}

// Error reads "<target>: <op>: <cause>", then the command's last output
// when there is one.
func (e *Error) Error() string {
	msg := e.Target + ": " + e.Op + ": " + e.Err.Error()
	if e.Output != "" {
		msg += "; last output:\n" + e.Output
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }
