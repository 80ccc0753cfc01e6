package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		err     error
		outcome Outcome
		code    string
	}{
		{nil, OK, ""},
		{&api.Error{StatusCode: 409, Code: "wrong_state"}, Failed, "wrong_state"},
		{&api.Error{StatusCode: 503, Code: "no_leader"}, Failed, "no_leader"},
		{&api.Error{StatusCode: 404, Code: "not_found"}, Failed, "not_found"},
		{&api.Error{StatusCode: 503, Code: "unknown_outcome"}, Unknown, "unknown_outcome"},
		{&api.Error{StatusCode: 503, Code: "unavailable"}, Unknown, "unavailable"},
		{&api.Error{StatusCode: 500, Code: "internal"}, Unknown, "internal"},
		{&api.Error{StatusCode: 502}, Unknown, "http-502"},
		{&api.Error{StatusCode: 400}, Failed, "http-400"},
		{fmt.Errorf("%w: n1: %w", api.ErrNoNodeReachable, syscall.ECONNREFUSED), Failed, "unreachable"},
		{fmt.Errorf("post: %w", context.DeadlineExceeded), Unknown, "timeout"},
		{&net.OpError{Op: "read", Err: timeoutErr{}}, Unknown, "timeout"},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), Unknown, "connection"},
		{errors.New("unexpected EOF"), Unknown, "connection"},
	}
	for _, tt := range tests {
		outcome, code, _ := classify(tt.err)
		if outcome != tt.outcome || code != tt.code {
			t.Errorf("classify(%v) = %v, %q; want %v, %q", tt.err, outcome, code, tt.outcome, tt.code)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// dep builds a deployment record with transitions (to, index) from
// Pending.
func dep(id, env string, steps ...any) *api.Deployment {
	d := &api.Deployment{ID: id, Environment: env}
	from := api.DeploymentState("")
	for i := 0; i < len(steps); i += 2 {
		to := api.DeploymentState(steps[i].(string))
		d.Transitions = append(d.Transitions, api.Transition{From: from, To: to, Index: uint64(steps[i+1].(int))})
		from = to
	}
	d.State = from
	return d
}

func deps(ds ...*api.Deployment) map[string]*api.Deployment {
	m := map[string]*api.Deployment{}
	for _, d := range ds {
		m[d.ID] = d
	}
	return m
}

func TestActiveOverlaps(t *testing.T) {
	serial := deps(
		dep("app-1", "app", "Pending", 1, "BackingUp", 2, "Applying", 3, "PostValidating", 4, "Completed", 5),
		dep("app-2", "app", "Pending", 3, "BackingUp", 6, "Applying", 7, "Failed", 8, "RollingBack", 9, "RolledBack", 10),
		dep("other-3", "other", "Pending", 3, "BackingUp", 4, "Applying", 5, "Completed", 6),
	)
	if v := activeOverlaps(serial); len(v) != 0 {
		t.Errorf("activeOverlaps(one at a time) = %v; want none", v)
	}
	overlapping := deps(
		dep("app-1", "app", "Pending", 1, "BackingUp", 2, "Applying", 3, "Completed", 6),
		dep("app-2", "app", "Pending", 3, "BackingUp", 5, "Completed", 7),
	)
	if v := activeOverlaps(overlapping); len(v) != 1 || !strings.Contains(v[0], "app-2 became BackingUp at index 5 while [app-1]") {
		t.Errorf("activeOverlaps(overlapping) = %v; want app-2 reported at index 5", v)
	}
	events := []api.Event{
		{ID: "2.0", DeploymentID: "app-1", Environment: "app", From: "Pending", To: "BackingUp"},
		{ID: "4.0", DeploymentID: "app-2", Environment: "app", From: "Scheduled", To: "BackingUp"},
		{ID: "5.0", DeploymentID: "app-1", Environment: "app", From: "BackingUp", To: "Completed"},
	}
	if v := eventOverlaps(events); len(v) != 1 {
		t.Errorf("eventOverlaps() = %v; want one overlap", v)
	}
}

func TestRecordViolations(t *testing.T) {
	good := deps(
		dep("a-1", "a", "Pending", 1, "Validating", 2, "Planning", 3, "BackingUp", 4, "Applying", 5, "Failed", 6, "RollingBack", 7, "RolledBack", 8),
		dep("a-2", "a", "Pending", 1, "Superseded", 9),
	)
	if v := recordViolations(good); len(v) != 0 {
		t.Errorf("recordViolations(good) = %v; want none", v)
	}
	twice := deps(dep("a-1", "a", "Pending", 1, "Completed", 2, "Failed", 3))
	v := recordViolations(twice)
	if len(v) != 2 || !strings.Contains(strings.Join(v, "\n"), "2 terminal states") {
		t.Errorf("recordViolations(Completed then Failed) = %v; want it left a terminal state and reached two", v)
	}
	broken := dep("a-1", "a", "Pending", 1, "Applying", 2)
	broken.Transitions[1].From = "Planning"
	if v := recordViolations(deps(broken)); len(v) != 1 {
		t.Errorf("recordViolations(a gap in the transitions) = %v; want one", v)
	}
}

func TestEventViolations(t *testing.T) {
	final := deps(dep("a-1", "a", "Pending", 1, "BackingUp", 2, "Completed", 3))
	e := func(id, from, to string) api.Event {
		return api.Event{ID: id, DeploymentID: "a-1", Environment: "a", From: api.DeploymentState(from), To: api.DeploymentState(to)}
	}
	good := map[string][]api.Event{
		"n1": {e("1.0", "", "Pending"), e("2.0", "Pending", "BackingUp"), e("3.0", "BackingUp", "Completed")},
		"n2": {e("2.0", "Pending", "BackingUp"), e("3.0", "BackingUp", "Completed")},
	}
	if v := eventViolations(good, final); len(v) != 0 {
		t.Errorf("eventViolations(good) = %v; want none", v)
	}
	bad := map[string][]api.Event{
		"n1": {e("3.0", "BackingUp", "Completed")},
		"n2": {e("3.0", "BackingUp", "RolledBack"), e("2.0", "Pending", "BackingUp")},
		"n3": {{ID: "4.0", DeploymentID: "a-9", From: "Pending", To: "Rejected"}},
	}
	v := eventViolations(bad, final)
	for _, want := range []string{"event 3.0 is a-1 3.0 BackingUp→RolledBack on n2", "not a transition of the final state",
		"n2 sent event 2.0 after 3.0", "a deployment the final state does not have"} {
		if !strings.Contains(strings.Join(v, "\n"), want) {
			t.Errorf("eventViolations(bad) = %q; want one saying %q", v, want)
		}
	}
}

func TestFirstAcks(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	ops := []Op{
		{ID: 0, Kind: OpApprove, Call: ms(90), Return: ms(300), Outcome: OK},  // called before the kill
		{ID: 1, Kind: OpApprove, Call: ms(110), Return: ms(900), Outcome: OK}, // the first after
		{ID: 2, Kind: OpReadDeployment, Call: ms(120), Return: ms(200), Outcome: OK},
		{ID: 3, Kind: OpApprove, Call: ms(130), Return: ms(500), Outcome: Failed},
		{ID: 4, Kind: OpSync, Call: ms(140), Return: ms(800), Outcome: OK},
	}
	acks := firstAcks(ops, []outage{{What: "kill", At: ms(100)}, {What: "later", At: ms(1000)}})
	if acks[0].op == nil || acks[0].op.ID != 4 {
		t.Errorf("first ack after the kill = %+v; want op 4 (the first write acknowledged)", acks[0].op)
	}
	if acks[1].op != nil {
		t.Errorf("first ack after the last outage = %+v; want none", acks[1].op)
	}
}

func TestSameState(t *testing.T) {
	if err := sameState(map[string]debugState{"n1": {5, "x", 1}, "n2": {5, "x", 1}}); err != nil {
		t.Errorf("sameState(equal) = %v", err)
	}
	if err := sameState(map[string]debugState{"n1": {5, "x", 1}, "n2": {4, "y", 1}}); err == nil || strings.Contains(err.Error(), "DIVERGED") {
		t.Errorf("sameState(behind) = %v; want a plain error (wait more)", err)
	}
	if err := sameState(map[string]debugState{"n1": {5, "x", 1}, "n2": {5, "y", 1}}); err == nil || !strings.Contains(err.Error(), "DIVERGED") {
		t.Errorf("sameState(diverged) = %v; want DIVERGED", err)
	}
}

func TestDiffFiles(t *testing.T) {
	want := map[string]string{"metadata.json": "m1", "datasources.json": "d"}
	if d := diffFiles(map[string]string{"metadata.json": "m1", "datasources.json": "d"}, want); d != "" {
		t.Errorf("diffFiles(same) = %q", d)
	}
	mixed := map[string]string{"metadata.json": "m2", "datasources.json": "d"}
	if d := diffFiles(mixed, want); !strings.Contains(d, "metadata.json differs") || missingOnly(mixed, want) {
		t.Errorf("diffFiles(a file of another bundle) = %q, missingOnly %v", d, missingOnly(mixed, want))
	}
	partial := map[string]string{"datasources.json": "d"}
	if d := diffFiles(partial, want); !strings.Contains(d, "metadata.json is missing") || !missingOnly(partial, want) {
		t.Errorf("diffFiles(a bundle being removed) = %q, missingOnly %v", d, missingOnly(partial, want))
	}
}

func TestUnexpectedAnswers(t *testing.T) {
	ops := []Op{
		{Kind: OpApprove, Outcome: Failed, Code: "wrong_state"},
		{Kind: OpApprove, Outcome: Failed, Code: "no_leader"},
		{Kind: OpApprove, Outcome: Failed, Code: "not_found", Err: "deployment gate-1-4 is not known"},
		{Kind: OpSync, Outcome: Failed, Code: "wrong_state"},
		{Kind: OpReject, Who: "alice", Outcome: OK, Rejecter: "bob"},
		{Kind: OpCancel, Outcome: Failed, Code: "wrong_state"},
		{Kind: OpCancel, Who: "alice", Outcome: OK, Canceller: "alice"},
		{Kind: OpCancel, Who: "alice", Outcome: OK, Canceller: "bob"},
		{Kind: OpSuspend, Outcome: Failed, Code: "wrong_state"},
		{Kind: OpResume, Outcome: Failed, Code: "wrong_state"},
	}
	if v := unexpectedAnswers(ops); len(v) != 6 {
		t.Errorf("unexpectedAnswers() = %q; want the not_found, the sync's, suspension's and resumption's wrong_state, "+
			"the rejection recorded as bob's and the cancellation recorded as bob's", v)
	}
}
