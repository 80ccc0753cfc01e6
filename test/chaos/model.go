package chaos

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// The model of the package documentation, for porcupine. One model covers
// both kinds of partition: a gate deployment's uses Rejected, CancelledBy
// and Approvals, an rb environment's PinCommit, PinBy and SuspendedBy.

// modelState is the state of one partition.
type modelState struct {
	Rejected    bool
	CancelledBy string // who cancelled the deployment; empty: not cancelled
	Approvals   uint64 // a bit per approver, by its index in approvers
	PinCommit   string
	PinBy       string
	SuspendedBy string // who suspended the environment first; empty: not suspended
}

// ended reports whether a gate deployment reached a terminal state.
func (s modelState) ended() bool { return s.Rejected || s.CancelledBy != "" }

// state returns a gate deployment's state as the API names it.
func (s modelState) state() string {
	switch {
	case s.Rejected:
		return rejected
	case s.CancelledBy != "":
		return cancelled
	}
	return awaiting
}

// modelInput is an operation's call.
type modelInput struct {
	Kind OpKind
	Key  string // the partition: "deployment <id>" or "environment <env>"
	Who  string
	To   string // a rollback's commit
	// Hostile: a rollback to something that is no Completed deployment
	// of the environment, which must be refused.
	Hostile bool
}

// modelOutput is an operation's return.
type modelOutput struct {
	Outcome     Outcome
	Code        string
	Duplicate   bool
	State       string
	Approvals   uint64
	Canceller   string
	PinCommit   string
	PinBy       string
	SuspendedBy string
	Commit      string // the commit of the deployment a rollback created
}

// approverBits returns the set of identities as bits; ok is false when one
// of them is not an approver.
func approverBits(ids []string) (bits uint64, ok bool) {
	for _, id := range ids {
		i := slices.Index(approvers, id)
		if i < 0 {
			return 0, false
		}
		bits |= 1 << i
	}
	return bits, true
}

func approverNames(bits uint64) string {
	var names []string
	for i, a := range approvers {
		if bits&(1<<i) != 0 {
			names = append(names, a)
		}
	}
	return "{" + strings.Join(names, ",") + "}"
}

const (
	awaiting  = "AwaitingApproval"
	rejected  = "Rejected"
	cancelled = "Cancelled"
)

func stepModel(state, input, output any) (bool, any) {
	s, in, out := state.(modelState), input.(modelInput), output.(modelOutput)
	switch in.Kind {
	case OpApprove, OpReject, OpCancel, OpReadDeployment:
		return stepDeployment(s, in, out)
	}
	return stepEnvironment(s, in, out)
}

// stepDeployment steps a gate deployment's partition.
func stepDeployment(s modelState, in modelInput, out modelOutput) (bool, modelState) {
	bit := uint64(0)
	if i := slices.Index(approvers, in.Who); i >= 0 {
		bit = 1 << i
	}
	// seen reports whether an answer shows the deployment as s is.
	seen := func(s modelState) bool {
		return out.State == s.state() && out.Approvals == s.Approvals && out.Canceller == s.CancelledBy
	}
	switch in.Kind {
	case OpApprove:
		switch out.Outcome {
		case OK:
			if s.ended() {
				// Only a retry by an identity that approved already.
				return s.Approvals&bit != 0 && out.Duplicate && seen(s), s
			}
			next := s
			next.Approvals |= bit
			return out.Duplicate == (s.Approvals&bit != 0) && seen(next), next
		case Failed: // wrong_state
			return s.ended() && s.Approvals&bit == 0, s
		default: // unknown: applied, or refused because it ended
			if !s.ended() {
				s.Approvals |= bit
			}
			return true, s
		}
	case OpReject:
		switch out.Outcome {
		case OK:
			next := s
			next.Rejected = true
			return !s.ended() && seen(next), next
		case Failed:
			return s.ended(), s
		default:
			if !s.ended() {
				s.Rejected = true
			}
			return true, s
		}
	case OpCancel:
		switch out.Outcome {
		case OK:
			// A cancellation, or a retry by the identity that cancelled.
			if s.ended() && s.CancelledBy != in.Who {
				return false, s
			}
			next := s
			next.CancelledBy = in.Who
			return seen(next), next
		case Failed: // wrong_state
			return s.ended() && s.CancelledBy != in.Who, s
		default:
			if !s.ended() {
				s.CancelledBy = in.Who
			}
			return true, s
		}
	case OpReadDeployment:
		return seen(s), s
	}
	return false, s
}

// stepEnvironment steps an rb environment's partition.
func stepEnvironment(s modelState, in modelInput, out modelOutput) (bool, modelState) {
	// seen reports whether an answer shows the environment as s is.
	seen := func(s modelState) bool {
		return out.PinCommit == s.PinCommit && out.PinBy == s.PinBy && out.SuspendedBy == s.SuspendedBy
	}
	switch in.Kind {
	case OpRollback:
		if in.Hostile {
			// Never acknowledged, never applied.
			return out.Outcome != OK, s
		}
		next := s
		next.PinCommit, next.PinBy = in.To, in.Who
		switch out.Outcome {
		case OK:
			return out.Commit == in.To, next
		case Failed: // wrong_state: what it would pin is deployed
			return true, s
		default:
			return true, next
		}
	case OpSuspend, OpResume:
		next := s
		switch {
		case in.Kind == OpResume:
			next.SuspendedBy = ""
		case s.SuspendedBy == "":
			next.SuspendedBy = in.Who
		}
		switch out.Outcome {
		case OK:
			return seen(next), next
		case Failed: // wrong_state: both are idempotent, never refused so
			return false, s
		default:
			return true, next
		}
	case OpReadEnvironment:
		return seen(s), s
	}
	return false, s
}

// historyModel is the porcupine model of the history.
var historyModel = porcupine.Model{
	Init: func() any { return modelState{} },
	Step: stepModel,
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(modelInput).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(modelInput), output.(modelOutput)
		var call string
		switch in.Kind {
		case OpApprove, OpReject, OpCancel, OpSuspend:
			call = fmt.Sprintf("%s(%s)", in.Kind, in.Who)
		case OpResume:
			call = fmt.Sprintf("resume(%s)", in.Who)
		case OpRollback:
			call = fmt.Sprintf("rollback(%.8s, %s)", in.To, in.Who)
			if in.Hostile {
				call = fmt.Sprintf("hostile rollback(%s, %s)", in.To, in.Who)
			}
		default:
			call = "read"
		}
		var ret string
		switch {
		case out.Outcome == Unknown:
			ret = "unknown (" + out.Code + ")"
		case out.Outcome == Failed:
			ret = out.Code
		case in.Kind == OpApprove:
			ret = fmt.Sprintf("ok dup=%v %s", out.Duplicate, approverNames(out.Approvals))
		case in.Kind == OpReject || in.Kind == OpReadDeployment || in.Kind == OpCancel:
			ret = out.State + " " + approverNames(out.Approvals)
			if out.Canceller != "" {
				ret += " by " + out.Canceller
			}
		case in.Kind == OpRollback:
			ret = fmt.Sprintf("ok %.8s", out.Commit)
		default:
			ret = fmt.Sprintf("pin %.8s/%s", out.PinCommit, out.PinBy)
			if out.SuspendedBy != "" {
				ret += ", suspended by " + out.SuspendedBy
			}
		}
		return in.Key + ": " + call + " → " + ret
	},
	DescribeState: func(state any) string {
		s := state.(modelState)
		suspended := ""
		if s.SuspendedBy != "" {
			suspended = ", suspended by " + s.SuspendedBy
		}
		switch {
		case s.PinCommit != "":
			return fmt.Sprintf("pinned to %.8s by %s%s", s.PinCommit, s.PinBy, suspended)
		case s.SuspendedBy != "":
			return "no pin" + suspended
		case s.Rejected:
			return "Rejected " + approverNames(s.Approvals)
		case s.CancelledBy != "":
			return "Cancelled by " + s.CancelledBy + " " + approverNames(s.Approvals)
		}
		return "Awaiting " + approverNames(s.Approvals) + " / no pin, not suspended"
	},
}

// modelOps turns the recorded history into porcupine's operations: the
// approvals, rejections, cancellations, rollbacks, suspensions,
// resumptions and consistent reads of the model's keys. Failed operations are left out except wrong_state answers; an
// unknown outcome gets an infinite return time.
func modelOps(ops []Op) []porcupine.Operation {
	var out []porcupine.Operation
	for _, o := range ops {
		in := modelInput{Kind: o.Kind, Who: o.Who, To: o.To, Hostile: o.Hostile}
		var res modelOutput
		switch o.Kind {
		case OpApprove, OpReject, OpCancel, OpReadDeployment:
			in.Key = "deployment " + o.Deployment
		case OpRollback, OpSuspend, OpResume, OpReadEnvironment:
			in.Key = "environment " + o.Env
		default:
			continue
		}
		switch o.Outcome {
		case Pending:
			continue
		case Failed:
			if o.Code != "wrong_state" || !o.Kind.write() {
				continue
			}
		case Unknown:
			if !o.Kind.write() {
				continue // a read that returned nothing observed nothing
			}
		case OK:
			bits, ok := approverBits(o.Approvals)
			if !ok {
				bits = math.MaxUint64 // matches no state: an identity we never used
			}
			res = modelOutput{Duplicate: o.Duplicate, State: o.State, Approvals: bits, Canceller: o.Canceller,
				PinCommit: o.PinCommit, PinBy: o.PinBy, SuspendedBy: o.SuspendedBy, Commit: o.CreatedCommit}
		}
		res.Outcome, res.Code = o.Outcome, o.Code
		ret := int64(o.Return)
		if o.Outcome == Unknown {
			ret = math.MaxInt64
		}
		out = append(out, porcupine.Operation{ClientId: o.Client, Input: in, Call: int64(o.Call), Output: res, Return: ret})
	}
	return out
}

// linearizability checks the history against the model within timeout.
// When the history is not linearizable (or the checker ran out of time),
// it writes porcupine's visualization, with the faults marked, to
// artifact and says so in the error.
func linearizability(ops []Op, faults []faultRecord, timeout time.Duration, artifact string) (partitions int, err error) {
	history := modelOps(ops)
	partitions = len(historyModel.Partition(history))
	res := porcupine.CheckOperationsTimeout(historyModel, history, timeout)
	if res == porcupine.Ok {
		return partitions, nil
	}
	verdict := "is not linearizable"
	if res == porcupine.Unknown {
		verdict = fmt.Sprintf("could not be checked within %v (porcupine timed out)", timeout)
	}
	_, info := porcupine.CheckOperationsVerbose(historyModel, history, timeout)
	var notes []porcupine.Annotation
	for _, f := range faults {
		notes = append(notes, porcupine.Annotation{Tag: "faults", Start: int64(f.Start), End: int64(f.End),
			Description: f.Name, Details: f.Detail, BackgroundColor: "#f5c6cb"})
	}
	info.AddAnnotations(notes)
	if mkErr := os.MkdirAll(filepath.Dir(artifact), 0o755); mkErr != nil {
		return partitions, fmt.Errorf("the history of %d operations %s; writing the visualization failed: %v", len(history), verdict, mkErr)
	}
	if vErr := porcupine.VisualizePath(historyModel, info, artifact); vErr != nil {
		return partitions, fmt.Errorf("the history of %d operations %s; writing the visualization failed: %v", len(history), verdict, vErr)
	}
	return partitions, fmt.Errorf("the history of %d operations %s; visualization: %s", len(history), verdict, artifact)
}
