package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/honua-io/honua-gitops/api"
)

// OpKind is what a recorded operation did.
type OpKind string

// The operations of the workload.
const (
	OpApprove         OpKind = "approve"
	OpReject          OpKind = "reject"
	OpReadDeployment  OpKind = "read-deployment"
	OpRollback        OpKind = "rollback"
	OpReadEnvironment OpKind = "read-environment"
	OpSync            OpKind = "sync"
	OpCommit          OpKind = "commit"
	OpSuspend         OpKind = "suspend"
	OpResume          OpKind = "resume"
	OpCancel          OpKind = "cancel"
)

// write reports whether the operation changes the replicated state.
func (k OpKind) write() bool {
	switch k {
	case OpApprove, OpReject, OpRollback, OpSync, OpSuspend, OpResume, OpCancel:
		return true
	}
	return false
}

// Outcome is what is known of an operation's effect.
type Outcome int

// The outcomes.
const (
	// Pending: the operation has not returned yet.
	Pending Outcome = iota
	// OK: the server acknowledged it.
	OK
	// Failed: the server said it did nothing (or nothing was sent).
	Failed
	// Unknown: it may or may not have happened.
	Unknown
)

// String returns "pending", "ok", "failed" or "unknown".
func (o Outcome) String() string {
	return [...]string{"pending", "ok", "failed", "unknown"}[o]
}

// Op is one recorded operation: what was asked, when, and what came back.
type Op struct {
	ID     int
	Client int
	Kind   OpKind
	// Deployment is the deployment an approval, rejection, cancellation or
	// read names.
	Deployment string
	// Env is the environment a rollback, sync, suspension, resumption, read
	// or commit names.
	Env string
	// Who is the identity whose token was used.
	Who string
	// To is the commit a rollback goes to, or the commit a commit made.
	// For a hostile rollback it is the deployment id it names.
	To string
	// Hostile marks a rollback to something that is no Completed
	// deployment of Env (a deployment of another environment, or one that
	// waits or was rejected): it must be refused.
	Hostile bool
	// Node is the node the request was sent to first.
	Node string
	// Call and Return are offsets from the run's start (monotonic).
	Call, Return time.Duration
	// CallWall is the wall time of the call, to compare with times the
	// servers recorded.
	CallWall time.Time

	Outcome Outcome
	// Code is the API error code, or what went wrong on the wire
	// ("timeout", "connection", "unreachable").
	Code string
	Err  string
	// AnsweredBy is the node that answered an API error.
	AnsweredBy string

	// What an ok operation returned. Approvals are the identities that had
	// approved, sorted; State the deployment's state; Duplicate an
	// approval's flag; Rejecter who rejected; Canceller who cancelled.
	State     string
	Approvals []string
	Duplicate bool
	Rejecter  string
	Canceller string
	// PinCommit and PinBy are an environment's pin (empty: none), and
	// SuspendedBy who suspended it (empty: not suspended), as a read, a
	// suspension or a resumption answered.
	PinCommit, PinBy string
	SuspendedBy      string
	// Created is the deployment a rollback created; CreatedCommit and
	// CreatedKind its commit and kind.
	Created       string
	CreatedCommit string
	CreatedKind   string
}

// String describes the operation on one line, as failure messages show it.
func (o *Op) String() string {
	s := fmt.Sprintf("#%d c%d %s", o.ID, o.Client, o.Kind)
	switch o.Kind {
	case OpApprove, OpReject, OpCancel:
		s += fmt.Sprintf(" %s by %s", o.Deployment, o.Who)
	case OpReadDeployment:
		s += " " + o.Deployment
	case OpRollback:
		s += fmt.Sprintf(" %s to %.12s by %s", o.Env, o.To, o.Who)
		if o.Hostile {
			s += " (hostile)"
		}
	case OpSync, OpReadEnvironment, OpResume:
		s += " " + o.Env
	case OpSuspend:
		s += fmt.Sprintf(" %s by %s", o.Env, o.Who)
	case OpCommit:
		s += fmt.Sprintf(" %s → %.12s", o.Env, o.To)
	}
	s += fmt.Sprintf(" via %s [%v, ", o.Node, o.Call.Round(time.Millisecond))
	if o.Outcome == Unknown {
		s += "∞) "
	} else {
		s += fmt.Sprintf("%v] ", o.Return.Round(time.Millisecond))
	}
	s += o.Outcome.String()
	if o.Code != "" {
		s += " " + o.Code
	}
	switch {
	case o.Outcome != OK:
	case o.Kind == OpApprove:
		s += fmt.Sprintf(" dup=%v approvals=%v", o.Duplicate, o.Approvals)
	case o.Kind == OpReadDeployment || o.Kind == OpReject || o.Kind == OpCancel:
		s += fmt.Sprintf(" %s approvals=%v", o.State, o.Approvals)
		if o.Canceller != "" {
			s += " cancelled by " + o.Canceller
		}
	case o.Kind == OpReadEnvironment || o.Kind == OpSuspend || o.Kind == OpResume:
		s += fmt.Sprintf(" pin=%.12s/%s suspended=%s", o.PinCommit, o.PinBy, o.SuspendedBy)
	case o.Kind == OpRollback:
		s += " created " + o.Created
	}
	return s
}

// History records every operation of a run.
type History struct {
	start time.Time

	mu  sync.Mutex
	ops []*Op
}

func newHistory(start time.Time) *History { return &History{start: start} }

// Since returns the offset of now from the run's start.
func (h *History) Since() time.Duration { return time.Since(h.start) }

// Begin records an operation's call and returns it for End.
func (h *History) Begin(op *Op) *Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	op.ID = len(h.ops)
	op.CallWall = time.Now()
	op.Call = op.CallWall.Sub(h.start)
	h.ops = append(h.ops, op)
	return op
}

// End records an operation's return with the error it got, classified;
// when it succeeded, fill records what it returned.
func (h *History) End(op *Op, err error, fill func(*Op)) {
	ret := h.Since()
	outcome, code, by := classify(err)
	h.mu.Lock()
	defer h.mu.Unlock()
	op.Return, op.Outcome, op.Code, op.AnsweredBy = ret, outcome, code, by
	if err != nil {
		op.Err = err.Error()
	} else if fill != nil {
		fill(op)
	}
}

// Ops returns a copy of every operation recorded so far.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Op, len(h.ops))
	for i, o := range h.ops {
		out[i] = *o
		out[i].Approvals = slices.Clone(o.Approvals)
	}
	return out
}

// definiteCodes are the API error codes that say the request did nothing.
var definiteCodes = map[string]bool{
	"invalid": true, "unauthorized": true, "forbidden": true, "not_found": true,
	"wrong_state": true, "too_large": true, "no_leader": true,
}

// classify says what an error means for the operation's effect: see the
// package documentation.
func classify(err error) (outcome Outcome, code, answeredBy string) {
	if err == nil {
		return OK, "", ""
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		code = ae.Code
		if code == "" {
			code = fmt.Sprintf("http-%d", ae.StatusCode)
		}
		if definiteCodes[ae.Code] || (ae.Code == "" && ae.StatusCode < http.StatusInternalServerError) {
			return Failed, code, ae.Node
		}
		return Unknown, code, ae.Node
	}
	if errors.Is(err, api.ErrNoNodeReachable) {
		return Failed, "unreachable", ""
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return Unknown, "timeout", ""
	}
	return Unknown, "connection", ""
}

// approvalIdentities returns the identities of a deployment's approvals,
// sorted.
func approvalIdentities(d *api.Deployment) []string {
	var out []string
	for _, a := range d.Approvals {
		out = append(out, a.Identity)
	}
	slices.Sort(out)
	return out
}
