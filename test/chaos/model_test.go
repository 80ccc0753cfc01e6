package chaos

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// h builds a history for the model tests: times are in milliseconds.
type h []Op

func at(call, ret int) (time.Duration, time.Duration) {
	return time.Duration(call) * time.Millisecond, time.Duration(ret) * time.Millisecond
}

func approve(dep, who string, call, ret int, dup bool, approvals ...string) Op {
	c, r := at(call, ret)
	return Op{Kind: OpApprove, Deployment: dep, Who: who, Call: c, Return: r, Outcome: OK,
		Duplicate: dup, State: "AwaitingApproval", Approvals: approvals}
}

func reject(dep, who string, call, ret int, approvals ...string) Op {
	c, r := at(call, ret)
	return Op{Kind: OpReject, Deployment: dep, Who: who, Call: c, Return: r, Outcome: OK,
		State: "Rejected", Approvals: approvals, Rejecter: who}
}

func read(dep string, call, ret int, state string, approvals ...string) Op {
	c, r := at(call, ret)
	return Op{Kind: OpReadDeployment, Deployment: dep, Call: c, Return: r, Outcome: OK, State: state, Approvals: approvals}
}

func rollback(env, to, who string, call, ret int) Op {
	c, r := at(call, ret)
	return Op{Kind: OpRollback, Env: env, To: to, Who: who, Call: c, Return: r, Outcome: OK, CreatedCommit: to, CreatedKind: "rollback"}
}

func readPin(env string, call, ret int, commit, by string) Op {
	c, r := at(call, ret)
	return Op{Kind: OpReadEnvironment, Env: env, Call: c, Return: r, Outcome: OK, PinCommit: commit, PinBy: by}
}

// hostile marks a rollback as one that must be refused.
func hostile(o Op) Op {
	o.Hostile = true
	return o
}

// unknown turns an operation's outcome into an unknown one.
func unknown(o Op) Op {
	o.Outcome, o.Code, o.State, o.Approvals = Unknown, "timeout", "", nil
	return o
}

// failed turns an operation's outcome into a refusal with code.
func failed(o Op, code string) Op {
	o.Outcome, o.Code, o.State, o.Approvals = Failed, code, "", nil
	return o
}

func TestModel(t *testing.T) {
	tests := []struct {
		name string
		ops  h
		want bool // linearizable
	}{
		{"approvals then a read", h{
			approve("d", "alice", 0, 10, false, "alice"),
			approve("d", "alice", 20, 30, true, "alice"),
			approve("d", "bob", 40, 50, false, "alice", "bob"),
			read("d", 60, 70, awaiting, "alice", "bob"),
		}, true},
		{"a read misses an acknowledged approval", h{
			approve("d", "alice", 0, 10, false, "alice"),
			read("d", 20, 30, awaiting),
		}, false},
		{"concurrent approvals in either order", h{
			approve("d", "alice", 0, 50, false, "alice", "bob"),
			approve("d", "bob", 10, 40, false, "bob"),
			read("d", 60, 70, awaiting, "alice", "bob"),
		}, true},
		{"an approval counted twice as new", h{
			approve("d", "alice", 0, 10, false, "alice"),
			approve("d", "alice", 20, 30, false, "alice"),
		}, false},
		{"an approval returns an approver nobody added", h{
			approve("d", "alice", 0, 10, false, "alice", "carol"),
		}, false},
		{"an unknown approval may have happened", h{
			unknown(approve("d", "alice", 0, 10, false)),
			read("d", 20, 30, awaiting, "alice"),
		}, true},
		{"an unknown approval may not have happened", h{
			unknown(approve("d", "alice", 0, 10, false)),
			read("d", 20, 30, awaiting),
		}, true},
		{"an unknown approval happens later, after a read missed it", h{
			unknown(approve("d", "alice", 0, 10, false)),
			read("d", 20, 30, awaiting),
			read("d", 40, 50, awaiting, "alice"),
		}, true},
		{"an unknown approval cannot come back after it was seen", h{
			unknown(approve("d", "alice", 0, 10, false)),
			read("d", 20, 30, awaiting, "alice"),
			read("d", 40, 50, awaiting),
		}, false},
		{"rejection, then refusals", h{
			approve("d", "bob", 0, 10, false, "bob"),
			reject("d", "alice", 20, 30, "bob"),
			failed(approve("d", "carol", 40, 50, false), "wrong_state"),
			failed(reject("d", "dave", 40, 50), "wrong_state"),
			read("d", 60, 70, rejected, "bob"),
		}, true},
		{"an approval acknowledged after a rejection", h{
			reject("d", "alice", 0, 10),
			approve("d", "bob", 20, 30, false, "bob"),
		}, false},
		{"a retried approval after a rejection is a duplicate", h{
			approve("d", "bob", 0, 10, false, "bob"),
			reject("d", "alice", 20, 30, "bob"),
			func() Op { o := approve("d", "bob", 40, 50, true, "bob"); o.State = rejected; return o }(),
		}, true},
		{"a duplicate after a rejection by someone who never approved", h{
			reject("d", "alice", 0, 10),
			func() Op { o := approve("d", "bob", 20, 30, true); o.State = rejected; return o }(),
		}, false},
		{"wrong_state to a retried approval after a rejection", h{
			approve("d", "bob", 0, 10, false, "bob"),
			reject("d", "alice", 20, 30, "bob"),
			failed(approve("d", "bob", 40, 50, false), "wrong_state"),
		}, false},
		{"two rejections acknowledged", h{
			reject("d", "alice", 0, 10),
			reject("d", "bob", 20, 30),
		}, false},
		{"wrong_state before any rejection", h{
			failed(approve("d", "alice", 0, 10, false), "wrong_state"),
		}, false},
		{"wrong_state explained by an unknown rejection", h{
			unknown(reject("d", "bob", 0, 5)),
			failed(approve("d", "alice", 10, 20, false), "wrong_state"),
		}, true},
		{"a rejection lost after it was acknowledged", h{
			reject("d", "alice", 0, 10),
			read("d", 20, 30, awaiting),
		}, false},
		{"partitions are separate", h{
			approve("d1", "alice", 0, 10, false, "alice"),
			approve("d2", "bob", 0, 10, false, "bob"),
			read("d1", 20, 30, awaiting, "alice"),
			read("d2", 20, 30, awaiting, "bob"),
		}, true},
		{"a refused write (no_leader) is left out", h{
			failed(approve("d", "alice", 0, 10, false), "no_leader"),
			read("d", 20, 30, awaiting),
		}, true},
		{"a write refused with no_leader that happened anyway", h{
			failed(approve("d", "alice", 0, 10, false), "no_leader"),
			read("d", 20, 30, awaiting, "alice"),
		}, false},

		{"rollbacks pin", h{
			readPin("rb", 0, 10, "", ""),
			rollback("rb", "c0", "alice", 20, 30),
			readPin("rb", 40, 50, "c0", "alice"),
			rollback("rb", "c0", "bob", 60, 70),
			readPin("rb", 80, 90, "c0", "bob"),
		}, true},
		{"a pin lost", h{
			rollback("rb", "c0", "alice", 20, 30),
			readPin("rb", 40, 50, "", ""),
		}, false},
		{"a stale pin", h{
			rollback("rb", "c0", "alice", 20, 30),
			rollback("rb", "c0", "bob", 40, 50),
			readPin("rb", 60, 70, "c0", "alice"),
		}, false},
		{"a refused rollback changes nothing", h{
			rollback("rb", "c0", "alice", 20, 30),
			failed(rollback("rb", "c0", "bob", 40, 50), "wrong_state"),
			readPin("rb", 60, 70, "c0", "alice"),
		}, true},
		{"an unknown rollback may pin", h{
			unknown(rollback("rb", "c0", "bob", 0, 10)),
			readPin("rb", 20, 30, "c0", "bob"),
		}, true},
		{"a hostile rollback refused", h{
			rollback("rb", "c0", "alice", 0, 10),
			failed(hostile(rollback("rb", "gate-1-4", "bob", 20, 30)), "invalid"),
			unknown(hostile(rollback("rb", "gate-1-4", "bob", 40, 50))),
			readPin("rb", 60, 70, "c0", "alice"),
		}, true},
		{"a hostile rollback acknowledged", h{
			hostile(rollback("gate-1", "gate-1-4", "bob", 0, 10)),
		}, false},
		{"a hostile rollback of unknown outcome that pinned", h{
			unknown(hostile(rollback("rb", "gate-1-4", "bob", 0, 10))),
			readPin("rb", 20, 30, "gate-1-4", "bob"),
		}, false},
		{"a rollback that created a deployment of another commit", h{
			func() Op { o := rollback("rb", "c0", "bob", 0, 10); o.CreatedCommit = "c1"; return o }(),
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range tt.ops {
				tt.ops[i].ID, tt.ops[i].Client = i, i
			}
			artifact := filepath.Join(t.TempDir(), "history.html")
			_, err := linearizability(tt.ops, nil, 10*time.Second, artifact)
			if got := err == nil; got != tt.want {
				t.Fatalf("linearizability() = %v; want linearizable %v", err, tt.want)
			}
			if err != nil {
				b, rerr := os.ReadFile(artifact)
				if rerr != nil || !strings.Contains(string(b), "<html") {
					t.Errorf("visualization %s: %v (%d bytes); want porcupine's HTML", artifact, rerr, len(b))
				}
				if !strings.Contains(err.Error(), artifact) {
					t.Errorf("error %q does not name the visualization %s", err, artifact)
				}
			}
		})
	}
}
