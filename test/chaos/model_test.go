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

func cancel(dep, who string, call, ret int, approvals ...string) Op {
	c, r := at(call, ret)
	return Op{Kind: OpCancel, Deployment: dep, Who: who, Call: c, Return: r, Outcome: OK,
		State: cancelled, Approvals: approvals, Canceller: who}
}

// readCancelled is a read of a deployment by cancelled.
func readCancelled(dep string, call, ret int, by string, approvals ...string) Op {
	o := read(dep, call, ret, cancelled, approvals...)
	o.Canceller = by
	return o
}

// ended turns an approval's answer into that of a retry after the
// deployment ended in state (cancelled by canceller, if cancelled).
func ended(o Op, state, canceller string) Op {
	o.State, o.Canceller = state, canceller
	return o
}

// suspend is a suspension by who that answered the environment suspended
// by by, with the pin commit/pinBy.
func suspend(env, who string, call, ret int, by, commit, pinBy string) Op {
	c, r := at(call, ret)
	return Op{Kind: OpSuspend, Env: env, Who: who, Call: c, Return: r, Outcome: OK,
		SuspendedBy: by, PinCommit: commit, PinBy: pinBy}
}

// resume is a resumption by who that answered the environment resumed,
// with the pin commit/pinBy.
func resume(env, who string, call, ret int, commit, pinBy string) Op {
	c, r := at(call, ret)
	return Op{Kind: OpResume, Env: env, Who: who, Call: c, Return: r, Outcome: OK, PinCommit: commit, PinBy: pinBy}
}

// readEnv is a read of an environment pinned to commit by pinBy (none:
// empty) and suspended by by (not suspended: empty).
func readEnv(env string, call, ret int, commit, pinBy, by string) Op {
	o := readPin(env, call, ret, commit, pinBy)
	o.SuspendedBy = by
	return o
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

		{"a cancellation, its retry, and refusals", h{
			approve("d", "bob", 0, 10, false, "bob"),
			cancel("d", "alice", 20, 30, "bob"),
			cancel("d", "alice", 40, 50, "bob"),
			failed(cancel("d", "carol", 60, 70), "wrong_state"),
			failed(reject("d", "dave", 60, 70), "wrong_state"),
			failed(approve("d", "carol", 60, 70, false), "wrong_state"),
			ended(approve("d", "bob", 80, 90, true, "bob"), cancelled, "alice"),
			readCancelled("d", 100, 110, "alice", "bob"),
		}, true},
		{"a cancellation by another identity acknowledged after one", h{
			cancel("d", "alice", 0, 10),
			cancel("d", "bob", 20, 30),
		}, false},
		{"a retried cancellation answers another canceller", h{
			cancel("d", "alice", 0, 10),
			func() Op { o := cancel("d", "bob", 20, 30); o.Canceller = "alice"; return o }(),
		}, false},
		{"wrong_state to a retried cancellation by its canceller", h{
			cancel("d", "alice", 0, 10),
			failed(cancel("d", "alice", 20, 30), "wrong_state"),
		}, false},
		{"wrong_state to a cancellation of a waiting deployment", h{
			approve("d", "alice", 0, 10, false, "alice"),
			failed(cancel("d", "bob", 20, 30), "wrong_state"),
		}, false},
		{"a cancellation acknowledged after a rejection", h{
			reject("d", "alice", 0, 10),
			cancel("d", "bob", 20, 30),
		}, false},
		{"a rejection acknowledged after a cancellation", h{
			cancel("d", "alice", 0, 10),
			reject("d", "bob", 20, 30),
		}, false},
		{"an approval acknowledged as new after a cancellation", h{
			cancel("d", "alice", 0, 10),
			approve("d", "bob", 20, 30, false, "bob"),
		}, false},
		{"a duplicate after a cancellation by someone who never approved", h{
			cancel("d", "alice", 0, 10),
			ended(approve("d", "alice", 20, 30, true), cancelled, "alice"),
		}, false},
		{"a read misses an acknowledged cancellation", h{
			cancel("d", "alice", 0, 10),
			read("d", 20, 30, awaiting),
		}, false},
		{"a read names another canceller", h{
			cancel("d", "alice", 0, 10),
			readCancelled("d", 20, 30, "bob"),
		}, false},
		{"concurrent cancellations: the one refused came second", h{
			cancel("d", "alice", 0, 50),
			failed(cancel("d", "bob", 10, 40), "wrong_state"),
			readCancelled("d", 60, 70, "alice"),
		}, true},
		{"an unknown cancellation explains a refusal", h{
			unknown(cancel("d", "alice", 0, 10)),
			failed(approve("d", "bob", 20, 30, false), "wrong_state"),
			readCancelled("d", 40, 50, "alice"),
		}, true},
		{"an unknown cancellation may not have happened", h{
			unknown(cancel("d", "alice", 0, 10)),
			approve("d", "bob", 20, 30, false, "bob"),
			read("d", 40, 50, awaiting, "bob"),
		}, true},
		{"an unknown cancellation, then its retry", h{
			unknown(cancel("d", "alice", 0, 10)),
			cancel("d", "alice", 20, 30),
			readCancelled("d", 40, 50, "alice"),
		}, true},
		{"an unknown rejection cannot land after an acknowledged cancellation", h{
			unknown(reject("d", "bob", 0, 5)),
			cancel("d", "alice", 10, 20),
			read("d", 30, 40, rejected),
		}, false},
		{"an unknown rejection that never happened, then a cancellation", h{
			unknown(reject("d", "bob", 0, 5)),
			cancel("d", "alice", 10, 20),
			readCancelled("d", 30, 40, "alice"),
		}, true},

		{"the first suspension stands; a resumption clears it", h{
			readEnv("rb", 0, 10, "", "", ""),
			suspend("rb", "alice", 20, 30, "alice", "", ""),
			suspend("rb", "bob", 40, 50, "alice", "", ""),
			readEnv("rb", 60, 70, "", "", "alice"),
			resume("rb", "carol", 80, 90, "", ""),
			resume("rb", "carol", 100, 110, "", ""),
			readEnv("rb", 120, 130, "", "", ""),
			suspend("rb", "bob", 140, 150, "bob", "", ""),
		}, true},
		{"a read shows suspended after an acknowledged resumption", h{
			suspend("rb", "alice", 0, 10, "alice", "", ""),
			resume("rb", "bob", 20, 30, "", ""),
			readEnv("rb", 40, 50, "", "", "alice"),
		}, false},
		{"a second suspension replaces the first", h{
			suspend("rb", "alice", 0, 10, "alice", "", ""),
			suspend("rb", "bob", 20, 30, "bob", "", ""),
		}, false},
		{"a read misses an acknowledged suspension", h{
			suspend("rb", "alice", 0, 10, "alice", "", ""),
			readEnv("rb", 20, 30, "", "", ""),
		}, false},
		{"a resumption answers the environment suspended", h{
			suspend("rb", "alice", 0, 10, "alice", "", ""),
			func() Op { o := resume("rb", "bob", 20, 30, "", ""); o.SuspendedBy = "alice"; return o }(),
		}, false},
		{"a suspension refused with wrong_state", h{
			failed(suspend("rb", "alice", 0, 10, "", "", ""), "wrong_state"),
		}, false},
		{"concurrent suspensions: the answer names the first", h{
			suspend("rb", "alice", 0, 50, "bob", "", ""),
			suspend("rb", "bob", 10, 40, "bob", "", ""),
			readEnv("rb", 60, 70, "", "", "bob"),
		}, true},
		{"an unknown suspension may have happened", h{
			unknown(suspend("rb", "alice", 0, 10, "", "", "")),
			readEnv("rb", 20, 30, "", "", "alice"),
		}, true},
		{"an unknown suspension may not have happened", h{
			unknown(suspend("rb", "alice", 0, 10, "", "", "")),
			readEnv("rb", 20, 30, "", "", ""),
		}, true},
		{"an unknown resumption may land after a later suspension", h{
			unknown(resume("rb", "bob", 0, 10, "", "")),
			suspend("rb", "alice", 20, 30, "alice", "", ""),
			readEnv("rb", 40, 50, "", "", ""),
		}, true},
		{"an unknown suspension cannot come back after it was seen and resumed", h{
			unknown(suspend("rb", "alice", 0, 10, "", "", "")),
			readEnv("rb", 20, 30, "", "", "alice"),
			resume("rb", "bob", 40, 50, "", ""),
			readEnv("rb", 60, 70, "", "", "alice"),
		}, false},
		{"suspensions and pins together", h{
			rollback("rb", "c0", "alice", 0, 10),
			suspend("rb", "bob", 20, 30, "bob", "c0", "alice"),
			rollback("rb", "c1", "carol", 40, 50),
			readEnv("rb", 60, 70, "c1", "carol", "bob"),
			resume("rb", "dave", 80, 90, "c1", "carol"),
			readEnv("rb", 100, 110, "c1", "carol", ""),
		}, true},
		{"a suspension's answer misses the pin", h{
			rollback("rb", "c0", "alice", 0, 10),
			suspend("rb", "bob", 20, 30, "bob", "", ""),
		}, false},
		{"a rollback lifts the suspension", h{
			suspend("rb", "bob", 0, 10, "bob", "", ""),
			rollback("rb", "c0", "alice", 20, 30),
			readEnv("rb", 40, 50, "c0", "alice", ""),
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
