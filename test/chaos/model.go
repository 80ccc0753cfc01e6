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
// both kinds of partition: a gate deployment's uses Rejected and
// Approvals, an rb environment's PinCommit and PinBy.

// modelState is the state of one partition.
type modelState struct {
	Rejected  bool
	Approvals uint64 // a bit per approver, by its index in approvers
	PinCommit string
	PinBy     string
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
	Outcome   Outcome
	Code      string
	Duplicate bool
	State     string
	Approvals uint64
	PinCommit string
	PinBy     string
	Commit    string // the commit of the deployment a rollback created
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
	awaiting = "AwaitingApproval"
	rejected = "Rejected"
)

func stepModel(state, input, output any) (bool, any) {
	s, in, out := state.(modelState), input.(modelInput), output.(modelOutput)
	bit := uint64(0)
	if i := slices.Index(approvers, in.Who); i >= 0 {
		bit = 1 << i
	}
	switch in.Kind {
	case OpApprove:
		switch out.Outcome {
		case OK:
			if s.Rejected {
				// Only a retry by an identity that approved already.
				return s.Approvals&bit != 0 && out.Duplicate && out.State == rejected && out.Approvals == s.Approvals, s
			}
			next := s
			next.Approvals |= bit
			ok := out.Duplicate == (s.Approvals&bit != 0) && out.State == awaiting && out.Approvals == next.Approvals
			return ok, next
		case Failed: // wrong_state
			return s.Rejected && s.Approvals&bit == 0, s
		default: // unknown: applied, or refused because it was rejected
			if !s.Rejected {
				s.Approvals |= bit
			}
			return true, s
		}
	case OpReject:
		switch out.Outcome {
		case OK:
			next := s
			next.Rejected = true
			return !s.Rejected && out.State == rejected && out.Approvals == s.Approvals, next
		case Failed:
			return s.Rejected, s
		default:
			s.Rejected = true
			return true, s
		}
	case OpReadDeployment:
		want := awaiting
		if s.Rejected {
			want = rejected
		}
		return out.State == want && out.Approvals == s.Approvals, s
	case OpRollback:
		if in.Hostile {
			// Never acknowledged, never applied.
			return out.Outcome != OK, s
		}
		switch out.Outcome {
		case OK:
			return out.Commit == in.To, modelState{PinCommit: in.To, PinBy: in.Who}
		case Failed: // wrong_state: what it would pin is deployed
			return true, s
		default:
			return true, modelState{PinCommit: in.To, PinBy: in.Who}
		}
	case OpReadEnvironment:
		return out.PinCommit == s.PinCommit && out.PinBy == s.PinBy, s
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
		case OpApprove, OpReject:
			call = fmt.Sprintf("%s(%s)", in.Kind, in.Who)
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
		case in.Kind == OpReject || in.Kind == OpReadDeployment:
			ret = out.State + " " + approverNames(out.Approvals)
		case in.Kind == OpRollback:
			ret = fmt.Sprintf("ok %.8s", out.Commit)
		default:
			ret = fmt.Sprintf("pin %.8s/%s", out.PinCommit, out.PinBy)
		}
		return in.Key + ": " + call + " → " + ret
	},
	DescribeState: func(state any) string {
		s := state.(modelState)
		if s.PinCommit != "" {
			return fmt.Sprintf("pinned to %.8s by %s", s.PinCommit, s.PinBy)
		}
		if s.Rejected {
			return "Rejected " + approverNames(s.Approvals)
		}
		return "Awaiting " + approverNames(s.Approvals) + " / no pin"
	},
}

// modelOps turns the recorded history into porcupine's operations: the
// approvals, rejections, rollbacks and consistent reads of the model's
// keys. Failed operations are left out except wrong_state answers; an
// unknown outcome gets an infinite return time.
func modelOps(ops []Op) []porcupine.Operation {
	var out []porcupine.Operation
	for _, o := range ops {
		in := modelInput{Kind: o.Kind, Who: o.Who, To: o.To, Hostile: o.Hostile}
		var res modelOutput
		switch o.Kind {
		case OpApprove, OpReject, OpReadDeployment:
			in.Key = "deployment " + o.Deployment
		case OpRollback, OpReadEnvironment:
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
			res = modelOutput{Duplicate: o.Duplicate, State: o.State, Approvals: bits,
				PinCommit: o.PinCommit, PinBy: o.PinBy, Commit: o.CreatedCommit}
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
