package fsm_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// awaiting creates deployment name in prod and moves it to AwaitingApproval
// with the given requirement, and returns its id.
func (h *harness) awaiting(name string, req *fsm.ApprovalRequirement) string {
	h.t.Helper()
	h.create(name, "prod")
	h.drive(name, fsm.StateValidating, fsm.StatePlanning)
	h.mustApply(&fsm.TransitionDeployment{ID: h.id(name), To: fsm.StateAwaitingApproval, Time: h.tick(), Approval: req})
	return h.id(name)
}

func TestApproveOrRejectInTheWrongState(t *testing.T) {
	for _, state := range fsm.AllStates {
		if state == fsm.StateAwaitingApproval {
			continue
		}
		t.Run(state.String(), func(t *testing.T) {
			h := newHarness(t)
			id := h.createAt("d1", "prod", state).ID
			tests := []struct {
				name    string
				cmd     fsm.Command
				op      string
				wantMsg string
			}{
				{"approve", &fsm.Approve{ID: id, Identity: "alice", Time: h.tick()}, "approve",
					fmt.Sprintf("cannot approve deployment %s: it is %s, not AwaitingApproval", id, state)},
				{"reject", &fsm.Reject{ID: id, Identity: "alice", Time: h.tick(), Reason: "no"}, "reject",
					fmt.Sprintf("cannot reject deployment %s: it is %s, not AwaitingApproval", id, state)},
			}
			for _, tt := range tests {
				err := h.refused(tt.cmd, fsm.ErrWrongState)
				var se *fsm.StateError
				if !errors.As(err, &se) {
					t.Fatalf("Apply(%s) error %T is not a *fsm.StateError", describe(tt.cmd), err)
				}
				want := fsm.StateError{ID: id, Op: tt.op, Is: state, Want: fsm.StateAwaitingApproval}
				if *se != want {
					t.Errorf("Apply(%s) error = %+v; want %+v", describe(tt.cmd), *se, want)
				}
				if err.Error() != tt.wantMsg {
					t.Errorf("Apply(%s) error = %q; want %q", describe(tt.cmd), err, tt.wantMsg)
				}
			}
		})
	}
}

func TestApprove(t *testing.T) {
	expires := t0.Add(time.Hour)
	tests := []struct {
		name          string
		req           *fsm.ApprovalRequirement
		approvals     []fsm.Approve // applied in order; all but the last must be accepted
		wantErr       error         // of the last approval
		wantDuplicate bool
		wantCount     int // approvals recorded in the end
		wantApproved  bool
	}{
		{
			name:      "one approval meets a requirement of one",
			req:       &fsm.ApprovalRequirement{Required: 1},
			approvals: []fsm.Approve{{Identity: "alice"}},
			wantCount: 1, wantApproved: true,
		},
		{
			name:      "two identities meet a requirement of two",
			req:       &fsm.ApprovalRequirement{Required: 2},
			approvals: []fsm.Approve{{Identity: "alice"}, {Identity: "bob"}},
			wantCount: 2, wantApproved: true,
		},
		{
			name:          "the same identity twice is one approval",
			req:           &fsm.ApprovalRequirement{Required: 2},
			approvals:     []fsm.Approve{{Identity: "alice"}, {Identity: "alice", Comment: "again"}},
			wantDuplicate: true, wantCount: 1, wantApproved: false,
		},
		{
			name:      "no requirement recorded: anyone may approve, nothing is approved",
			req:       nil,
			approvals: []fsm.Approve{{Identity: "alice"}},
			wantCount: 1, wantApproved: false,
		},
		{
			name:      "approver in a required group",
			req:       &fsm.ApprovalRequirement{Required: 1, Groups: []string{"ops", "sre"}},
			approvals: []fsm.Approve{{Identity: "alice", Groups: []string{"dev", "sre"}}},
			wantCount: 1, wantApproved: true,
		},
		{
			name:      "approver in no required group",
			req:       &fsm.ApprovalRequirement{Required: 1, Groups: []string{"ops"}},
			approvals: []fsm.Approve{{Identity: "mallory", Groups: []string{"dev"}}},
			wantErr:   fsm.ErrNotAllowed, wantCount: 0,
		},
		{
			name:      "approver in the group that stands for every group",
			req:       &fsm.ApprovalRequirement{Required: 1, Groups: []string{"ops", "sre"}},
			approvals: []fsm.Approve{{Identity: "anonymous", Groups: []string{fsm.EveryGroup}}},
			wantCount: 1, wantApproved: true,
		},
		{
			name:      "approver with no groups",
			req:       &fsm.ApprovalRequirement{Required: 1, Groups: []string{"ops"}},
			approvals: []fsm.Approve{{Identity: "mallory"}},
			wantErr:   fsm.ErrNotAllowed, wantCount: 0,
		},
		{
			name:      "before expiry",
			req:       &fsm.ApprovalRequirement{Required: 1, Expires: expires},
			approvals: []fsm.Approve{{Identity: "alice", Time: expires.Add(-time.Second)}},
			wantCount: 1, wantApproved: true,
		},
		{
			name:      "after expiry",
			req:       &fsm.ApprovalRequirement{Required: 1, Expires: expires},
			approvals: []fsm.Approve{{Identity: "alice", Time: expires.Add(time.Second)}},
			wantErr:   fsm.ErrWrongState, wantCount: 0,
		},
		{
			name:      "empty identity",
			req:       &fsm.ApprovalRequirement{Required: 1},
			approvals: []fsm.Approve{{Identity: ""}},
			wantErr:   fsm.ErrInvalid, wantCount: 0,
		},
		{
			name:      "unknown deployment",
			req:       &fsm.ApprovalRequirement{Required: 1},
			approvals: []fsm.Approve{{ID: "nope", Identity: "alice"}},
			wantErr:   fsm.ErrNotFound, wantCount: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.awaiting("d1", tt.req)
			var res any
			for i, a := range tt.approvals {
				cmd := a
				if cmd.ID == "" {
					cmd.ID = id
				}
				if cmd.Time.IsZero() {
					cmd.Time = h.tick()
				}
				if i == len(tt.approvals)-1 && tt.wantErr != nil {
					err := h.refused(&cmd, tt.wantErr)
					if tt.wantErr == fsm.ErrWrongState && !strings.Contains(err.Error(), "expired") {
						t.Errorf("Apply(%s) error %q does not say the approval expired", describe(&cmd), err)
					}
					if tt.wantErr == fsm.ErrNotAllowed && !strings.Contains(err.Error(), cmd.Identity) {
						t.Errorf("Apply(%s) error %q does not name %s", describe(&cmd), err, cmd.Identity)
					}
					break
				}
				res = h.mustApply(&cmd)
			}
			d := h.deployment("d1")
			if tt.wantErr == nil {
				r, ok := res.(*fsm.ApproveResult)
				if !ok {
					t.Fatalf("Apply(approve) result is %T; want *fsm.ApproveResult", res)
				}
				if r.Duplicate != tt.wantDuplicate {
					t.Errorf("Apply(approve) Duplicate = %v; want %v", r.Duplicate, tt.wantDuplicate)
				}
				if r.Deployment == nil || len(r.Deployment.Approvals) != tt.wantCount {
					t.Errorf("Apply(approve) returned deployment %+v; want %d approvals", r.Deployment, tt.wantCount)
				}
			}
			if len(d.Approvals) != tt.wantCount {
				t.Errorf("Deployment(d1).Approvals = %+v; want %d", d.Approvals, tt.wantCount)
			}
			if got := d.Approved(); got != tt.wantApproved {
				t.Errorf("Deployment(d1).Approved() = %v; want %v", got, tt.wantApproved)
			}
			if d.State != fsm.StateAwaitingApproval {
				t.Errorf("Deployment(d1).State = %s; want AwaitingApproval (approving does not move it)", d.State)
			}
		})
	}
}

func TestApprovalIsRecorded(t *testing.T) {
	h := newHarness(t)
	id := h.awaiting("d1", &fsm.ApprovalRequirement{Required: 2})
	at := h.tick()
	h.mustApply(&fsm.Approve{ID: id, Identity: "alice", Groups: []string{"ops"}, Time: at, Comment: "lgtm"})
	// A duplicate neither adds an approval nor changes the first one.
	res := h.mustApply(&fsm.Approve{ID: id, Identity: "alice", Time: h.tick(), Comment: "again"})
	if r := res.(*fsm.ApproveResult); !r.Duplicate {
		t.Errorf("Apply(second approval by alice) Duplicate = false; want true")
	}
	d := h.deployment("d1")
	if len(d.Approvals) != 1 {
		t.Fatalf("Deployment(d1).Approvals = %+v; want one", d.Approvals)
	}
	a := d.Approvals[0]
	if a.Identity != "alice" || fmt.Sprint(a.Groups) != "[ops]" || !a.Time.Equal(at) || a.Comment != "lgtm" {
		t.Errorf("Deployment(d1).Approvals[0] = %+v; want alice [ops] at %v \"lgtm\"", a, at)
	}
	if !d.UpdatedAt.Equal(at) {
		t.Errorf("Deployment(d1).UpdatedAt = %v; want %v (the duplicate changes nothing)", d.UpdatedAt, at)
	}
}

func TestReject(t *testing.T) {
	tests := []struct {
		name    string
		req     *fsm.ApprovalRequirement
		cmd     fsm.Reject
		wantErr error
	}{
		{"with a reason", nil, fsm.Reject{Identity: "bob", Reason: "not during the sale"}, nil},
		{"in an approver group", &fsm.ApprovalRequirement{Required: 1, Groups: []string{"ops"}},
			fsm.Reject{Identity: "bob", Groups: []string{"ops"}, Reason: "no"}, nil},
		{"in the group that stands for every group", &fsm.ApprovalRequirement{Required: 1, Groups: []string{"ops"}},
			fsm.Reject{Identity: "anonymous", Groups: []string{fsm.EveryGroup}, Reason: "no"}, nil},
		{"empty reason", nil, fsm.Reject{Identity: "bob", Reason: ""}, fsm.ErrInvalid},
		{"blank reason", nil, fsm.Reject{Identity: "bob", Reason: " \t\n"}, fsm.ErrInvalid},
		{"empty identity", nil, fsm.Reject{Reason: "no"}, fsm.ErrInvalid},
		{"not in an approver group", &fsm.ApprovalRequirement{Required: 1, Groups: []string{"ops"}},
			fsm.Reject{Identity: "mallory", Groups: []string{"dev"}, Reason: "no"}, fsm.ErrNotAllowed},
		{"unknown deployment", nil, fsm.Reject{ID: "nope", Identity: "bob", Reason: "no"}, fsm.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.awaiting("d1", tt.req)
			cmd := tt.cmd
			if cmd.ID == "" {
				cmd.ID = id
			}
			cmd.Time = h.tick()
			if tt.wantErr != nil {
				h.refused(&cmd, tt.wantErr)
				if d := h.deployment("d1"); d.State != fsm.StateAwaitingApproval || d.Rejection != nil {
					t.Errorf("Deployment(d1) = %s rejection %+v; want AwaitingApproval, none", d.State, d.Rejection)
				}
				return
			}
			d, ok := h.mustApply(&cmd).(*fsm.Deployment)
			if !ok || d.State != fsm.StateRejected {
				t.Fatalf("Apply(%s) = %+v; want the deployment, Rejected", describe(&cmd), d)
			}
			want := fsm.Rejection{Identity: cmd.Identity, Time: cmd.Time, Reason: cmd.Reason}
			if d.Rejection == nil || *d.Rejection != want {
				t.Errorf("Apply(%s) rejection = %+v; want %+v", describe(&cmd), d.Rejection, want)
			}
			last := d.Transitions[len(d.Transitions)-1]
			if last.From != fsm.StateAwaitingApproval || last.To != fsm.StateRejected || !last.Time.Time().Equal(cmd.Time) ||
				!strings.Contains(last.Message, cmd.Identity) || !strings.Contains(last.Message, cmd.Reason) {
				t.Errorf("Apply(%s) last transition = %+v; want AwaitingApproval→Rejected naming %s and the reason",
					describe(&cmd), last, cmd.Identity)
			}
			if e := h.environment("prod"); e.Waiting != "" {
				t.Errorf("Environment(prod).Waiting = %q after the rejection; want empty", e.Waiting)
			}
			// The freed slot: a new deployment supersedes nothing, and the
			// rejected one stays rejected.
			h.create("d2", "prod")
			if got := h.deployment("d1").State; got != fsm.StateRejected {
				t.Errorf("Deployment(d1).State = %s after d2 was created; want Rejected", got)
			}
			if e := h.environment("prod"); e.Waiting != h.id("d2") {
				t.Errorf("Environment(prod).Waiting = %q; want %s (d2)", e.Waiting, h.id("d2"))
			}
		})
	}
}

// TestApproveWithoutTime: like every other command that records a time,
// Approve and Reject refuse a zero one. (Zero is never after an expiry, so
// an approval without time would slip past the expiry check, and it would
// move UpdatedAt back to year 1.)
func TestApproveWithoutTime(t *testing.T) {
	for _, expires := range []time.Time{{}, t0.Add(time.Hour)} {
		t.Run(fmt.Sprintf("expires %v", expires), func(t *testing.T) {
			h := newHarness(t)
			id := h.awaiting("d1", &fsm.ApprovalRequirement{Required: 1, Expires: expires})
			h.now = t0.Add(2 * time.Hour) // past the expiry, if any
			for _, cmd := range []fsm.Command{
				&fsm.Approve{ID: id, Identity: "alice"},
				&fsm.Reject{ID: id, Identity: "alice", Reason: "no"},
			} {
				err := h.refused(cmd, fsm.ErrInvalid)
				if !strings.Contains(err.Error(), "time") || !strings.Contains(err.Error(), id) {
					t.Errorf("Apply(%s) error %q; want it to name %s and the missing time", describe(cmd), err, id)
				}
			}
			if d := h.deployment("d1"); d.State != fsm.StateAwaitingApproval || len(d.Approvals) != 0 {
				t.Errorf("Deployment(d1) = %s with approvals %+v; want AwaitingApproval, none", d.State, d.Approvals)
			}
		})
	}
}

// TestRetriedApprovalAfterTheDeploymentMovedOn: an approval retried (a lost
// answer, a client's retry) after the deployment left AwaitingApproval, or
// after its approval window closed, is answered as the duplicate it is, not
// refused; another identity's approval is refused.
func TestRetriedApprovalAfterTheDeploymentMovedOn(t *testing.T) {
	for _, moved := range []fsm.DeploymentState{fsm.StateBackingUp, fsm.StateCompleted, fsm.StateRejected} {
		t.Run(moved.String(), func(t *testing.T) {
			h := newHarness(t)
			id := h.awaiting("d1", &fsm.ApprovalRequirement{Required: 1, Groups: []string{"ops"}, Expires: t0.Add(time.Hour)})
			h.mustApply(&fsm.Approve{ID: id, Identity: "alice", Groups: []string{"ops"}, Time: h.tick()})
			switch moved {
			case fsm.StateRejected:
				h.mustApply(&fsm.Reject{ID: id, Identity: "bob", Groups: []string{"ops"}, Time: h.tick(), Reason: "no"})
			default:
				h.drive("d1", fsm.StateBackingUp)
				if moved == fsm.StateCompleted {
					h.drive("d1", fsm.StateApplying, fsm.StatePostValidating, fsm.StateCompleted)
				}
			}
			before := h.stateBytes()
			res, err := h.apply(&fsm.Approve{ID: id, Identity: "alice", Groups: []string{"ops"}, Time: t0.Add(2 * time.Hour)})
			if r, ok := res.(*fsm.ApproveResult); err != nil || !ok || !r.Duplicate || r.Deployment.State != moved {
				t.Fatalf("Apply(alice approves again once %s) = %+v, %v; want a duplicate showing %s", moved, res, err, moved)
			}
			if string(h.stateBytes()) != string(before) {
				t.Errorf("a duplicate approval changed the state")
			}
			h.refused(&fsm.Approve{ID: id, Identity: "carol", Groups: []string{"ops"}, Time: h.tick()}, fsm.ErrWrongState)
		})
	}
}
