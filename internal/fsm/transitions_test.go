package fsm_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

type edge struct{ from, to fsm.DeploymentState }

// specEdges is the state machine of docs/domain.md#states, written out independently
// of transitions.go:
//
//	Pending → Validating → Planning → [AwaitingApproval] → [Scheduled] → BackingUp
//	        → Applying → PostValidating → Completed
//
// Failed from every non-terminal state, Superseded and Cancelled from every
// waiting state, Rejected only from AwaitingApproval, RollingBack only from Failed, and
// RollingBack ends in RolledBack (or Failed).
var specEdges = func() map[edge]bool {
	m := map[edge]bool{}
	add := func(from fsm.DeploymentState, tos ...fsm.DeploymentState) {
		for _, to := range tos {
			m[edge{from, to}] = true
		}
	}
	add(fsm.StatePending, fsm.StateValidating)
	add(fsm.StateValidating, fsm.StatePlanning)
	add(fsm.StatePlanning, fsm.StateAwaitingApproval, fsm.StateScheduled, fsm.StateBackingUp)
	add(fsm.StateAwaitingApproval, fsm.StateScheduled, fsm.StateBackingUp, fsm.StateRejected)
	add(fsm.StateScheduled, fsm.StateBackingUp)
	add(fsm.StateBackingUp, fsm.StateApplying)
	add(fsm.StateApplying, fsm.StatePostValidating)
	add(fsm.StatePostValidating, fsm.StateCompleted)
	add(fsm.StateFailed, fsm.StateRollingBack)
	add(fsm.StateRollingBack, fsm.StateRolledBack)
	for _, s := range []fsm.DeploymentState{
		fsm.StatePending, fsm.StateValidating, fsm.StatePlanning, fsm.StateAwaitingApproval,
		fsm.StateScheduled, fsm.StateBackingUp, fsm.StateApplying, fsm.StatePostValidating,
		fsm.StateRollingBack,
	} {
		add(s, fsm.StateFailed)
	}
	for _, s := range []fsm.DeploymentState{
		fsm.StatePending, fsm.StateValidating, fsm.StatePlanning, fsm.StateAwaitingApproval,
		fsm.StateScheduled,
	} {
		add(s, fsm.StateSuperseded, fsm.StateCancelled)
	}
	return m
}()

func TestAllStatesAreTheFifteenOfTheDomain(t *testing.T) {
	want := []string{
		"Pending", "Validating", "Planning", "AwaitingApproval", "Scheduled", "BackingUp", "Applying",
		"PostValidating", "Completed", "Failed", "RollingBack", "RolledBack", "Rejected", "Superseded", "Cancelled",
	}
	if fmt.Sprint(fsm.AllStates) != fmt.Sprint(want) {
		t.Fatalf("AllStates = %v; want %v", fsm.AllStates, want)
	}
	for i, name := range want {
		s, ok := fsm.ParseState(name)
		if !ok || s != fsm.AllStates[i] || !s.Valid() || s.String() != name {
			t.Errorf("ParseState(%q) = %d, %v (valid %v, named %q); want %d, the %d-th state", name, s, ok, s.Valid(), s, fsm.AllStates[i], i+1)
		}
		b, err := json.Marshal(s)
		var back fsm.DeploymentState
		if err != nil || string(b) != `"`+name+`"` || json.Unmarshal(b, &back) != nil || back != s {
			t.Errorf("%s in JSON: %s, %v, back %v; want %q and back", name, b, err, back, name)
		}
	}
	for _, name := range []string{"Done", "", "pending"} {
		if s, ok := fsm.ParseState(name); s.Valid() || ok != (name == "") {
			t.Errorf("ParseState(%q) = %v, %v; want no valid state", name, s, ok)
		}
	}
	if b, err := json.Marshal(fsm.DeploymentState(99)); err == nil {
		t.Errorf("json.Marshal(DeploymentState(99)) = %s; want an error, a number no state has never encodes", b)
	}
}

// TestTransitionToAnUnknownStateIsRefused: a log entry naming a state this
// version does not know (written by another) decodes, and is refused as a
// command; the node neither stops nor changes anything.
func TestTransitionToAnUnknownStateIsRefused(t *testing.T) {
	h := newHarness(t)
	d := h.create("p1", "prod")
	before := string(h.stateBytes())
	entry := append([]byte{byte(fsm.TransitionCommand)},
		fmt.Sprintf(`{"id":%q,"to":"Sideways","time":"2026-01-05T09:00:00Z"}`, d.ID)...)
	res, err := h.a.ApplyData(entry)
	if !errors.Is(err, fsm.ErrInvalid) || !strings.Contains(fmt.Sprint(err), "unknown state") {
		t.Fatalf("a transition to Sideways: %v, %v; want ErrInvalid naming the unknown state", res, err)
	}
	if after := string(h.stateBytes()); after != before {
		t.Errorf("the refused transition changed the state:\n%s\nwant\n%s", after, before)
	}
}

func TestStateClasses(t *testing.T) {
	tests := []struct {
		state                     fsm.DeploymentState
		waiting, active, terminal bool
	}{
		{fsm.StatePending, true, false, false},
		{fsm.StateValidating, true, false, false},
		{fsm.StatePlanning, true, false, false},
		{fsm.StateAwaitingApproval, true, false, false},
		{fsm.StateScheduled, true, false, false},
		{fsm.StateBackingUp, false, true, false},
		{fsm.StateApplying, false, true, false},
		{fsm.StatePostValidating, false, true, false},
		{fsm.StateCompleted, false, false, true},
		{fsm.StateFailed, false, false, true},
		{fsm.StateRollingBack, false, true, false},
		{fsm.StateRolledBack, false, false, true},
		{fsm.StateRejected, false, false, true},
		{fsm.StateSuperseded, false, false, true},
		{fsm.StateCancelled, false, false, true},
	}
	if len(tests) != len(fsm.AllStates) {
		t.Fatalf("table has %d states; AllStates has %d", len(tests), len(fsm.AllStates))
	}
	for _, tt := range tests {
		if got := tt.state.Waiting(); got != tt.waiting {
			t.Errorf("%s.Waiting() = %v; want %v", tt.state, got, tt.waiting)
		}
		if got := tt.state.Active(); got != tt.active {
			t.Errorf("%s.Active() = %v; want %v", tt.state, got, tt.active)
		}
		if got := tt.state.Terminal(); got != tt.terminal {
			t.Errorf("%s.Terminal() = %v; want %v", tt.state, got, tt.terminal)
		}
	}
}

// TestEveryTransition drives a fresh deployment to each state and applies a
// transition to each state: it must be accepted exactly on the edges of the
// domain's state machine, and a refusal must change nothing.
func TestEveryTransition(t *testing.T) {
	type test struct {
		name     string
		from, to fsm.DeploymentState
		want     bool // accepted
	}
	var tests []test
	for _, from := range fsm.AllStates {
		for _, to := range fsm.AllStates {
			tests = append(tests, test{
				name: fmt.Sprintf("%s to %s", from, to),
				from: from, to: to, want: specEdges[edge{from, to}] && to != fsm.StateCancelled,
			})
		}
	}
	accepted := 0
	for _, tt := range tests {
		if tt.want {
			accepted++
		}
		t.Run(tt.name, func(t *testing.T) {
			// The moves to Cancelled are edges of the state machine that
			// only CancelDeployment makes (TestCancel covers it).
			if got, want := fsm.CanTransition(tt.from, tt.to), specEdges[edge{tt.from, tt.to}]; got != want {
				t.Errorf("CanTransition(%s, %s) = %v; want %v", tt.from, tt.to, got, want)
			}

			h := newHarness(t)
			h.createAt("d1", "prod", tt.from)
			id := h.id("d1")
			if tt.from == fsm.StateAwaitingApproval && (tt.to == fsm.StateScheduled || tt.to == fsm.StateBackingUp) {
				// These edges need the approval the harness requires
				// (TestLeavingAwaitingApproval covers the refusal).
				h.approve("d1", "alice")
			}
			before := h.stateBytes()
			cmd := &fsm.TransitionDeployment{ID: id, To: tt.to, Time: h.tick(), Message: "step"}
			res, err := h.apply(cmd)

			if tt.want {
				if err != nil {
					t.Fatalf("Apply(%s) = %v; want accepted", describe(cmd), err)
				}
				d, ok := res.(*fsm.Deployment)
				if !ok {
					t.Fatalf("Apply(%s) result is %T; want *fsm.Deployment", describe(cmd), res)
				}
				last := d.Transitions[len(d.Transitions)-1]
				if d.State != tt.to || last.From != tt.from || last.To != tt.to || !last.Time.Time().Equal(cmd.Time) ||
					last.Message != "step" {
					t.Errorf("Apply(%s) = state %s, last transition %+v; want state %s, transition %s→%s at %v",
						describe(cmd), d.State, last, tt.to, tt.from, tt.to, cmd.Time)
				}
				if got := h.deployment("d1"); got.State != tt.to || !got.UpdatedAt.Equal(cmd.Time) {
					t.Errorf("Deployment(%s) = state %s updated %v; want %s updated %v",
						id, got.State, got.UpdatedAt, tt.to, cmd.Time)
				}
				return
			}

			if !errors.Is(err, fsm.ErrIllegalTransition) {
				t.Fatalf("Apply(%s) = %v, %v; want error wrapping ErrIllegalTransition", describe(cmd), res, err)
			}
			if got := wrappedSentinels(err); len(got) != 1 {
				t.Errorf("Apply(%s) error wraps %v; want exactly ErrIllegalTransition", describe(cmd), got)
			}
			var te *fsm.TransitionError
			if !errors.As(err, &te) {
				t.Fatalf("Apply(%s) error %T is not a *fsm.TransitionError", describe(cmd), err)
			}
			if te.ID != id || te.From != tt.from || te.To != tt.to {
				t.Errorf("Apply(%s) error = {ID:%s From:%s To:%s}; want {ID:%s From:%s To:%s}",
					describe(cmd), te.ID, te.From, te.To, id, tt.from, tt.to)
			}
			msg := err.Error()
			for _, s := range []string{id, tt.from.String(), tt.to.String()} {
				if !strings.Contains(msg, s) {
					t.Errorf("Apply(%s) error %q does not name %q", describe(cmd), msg, s)
				}
			}
			if tt.from.Terminal() && !strings.Contains(msg, "final") {
				t.Errorf("Apply(%s) error %q does not say %s is final", describe(cmd), msg, tt.from)
			}
			if after := h.stateBytes(); string(after) != string(before) {
				t.Errorf("Apply(%s) was refused but changed the state:\nbefore %s\nafter  %s",
					describe(cmd), before, after)
			}
		})
	}
	// Guard the table itself: the domain has exactly these many edges.
	if accepted != 28 {
		t.Errorf("spec table has %d legal edges; want 28", accepted)
	}
}

// TestRollbackNeedsApplyAndHappensOnce covers the rule CanTransition cannot
// see: Failed → RollingBack only after Applying, and only once.
func TestRollbackNeedsApplyAndHappensOnce(t *testing.T) {
	tests := []struct {
		name       string
		path       []fsm.DeploymentState // from Pending
		want       bool
		wantReason string
	}{
		{"failed while pending", []fsm.DeploymentState{fsm.StateFailed}, false, "nothing was applied"},
		{"failed while planning", []fsm.DeploymentState{fsm.StateValidating, fsm.StatePlanning, fsm.StateFailed},
			false, "nothing was applied"},
		{"failed while awaiting approval", append(pathTo[fsm.StateAwaitingApproval], fsm.StateFailed),
			false, "nothing was applied"},
		{"failed while scheduled", append(pathTo[fsm.StateScheduled], fsm.StateFailed), false, "nothing was applied"},
		{"failed while backing up", append(pathTo[fsm.StateBackingUp], fsm.StateFailed), false, "nothing was applied"},
		{"failed while applying", append(pathTo[fsm.StateApplying], fsm.StateFailed), true, ""},
		{"failed while post-validating", append(pathTo[fsm.StatePostValidating], fsm.StateFailed), true, ""},
		{"failed while rolling back", append(pathTo[fsm.StateRollingBack], fsm.StateFailed),
			false, "it already rolled back once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.create("d1", "prod")
			h.drive("d1", tt.path...)
			cmd := &fsm.TransitionDeployment{ID: h.id("d1"), To: fsm.StateRollingBack, Time: h.tick()}
			if tt.want {
				d, ok := h.mustApply(cmd).(*fsm.Deployment)
				if !ok || d.State != fsm.StateRollingBack || !d.RollbackStarted {
					t.Fatalf("Apply(%s) = %+v; want RollingBack with RollbackStarted", describe(cmd), d)
				}
				if e := h.environment("prod"); e.Current != h.id("d1") {
					t.Errorf("Environment(prod).Current = %q; want %s (d1)", e.Current, h.id("d1"))
				}
				return
			}
			err := h.refused(cmd, fsm.ErrIllegalTransition)
			var te *fsm.TransitionError
			if !errors.As(err, &te) || te.From != fsm.StateFailed || te.To != fsm.StateRollingBack ||
				te.Reason != tt.wantReason {
				t.Fatalf("Apply(%s) = %v; want *TransitionError Failed→RollingBack, reason %q",
					describe(cmd), err, tt.wantReason)
			}
			if !strings.Contains(err.Error(), tt.wantReason) {
				t.Errorf("Apply(%s) error %q does not give the reason %q", describe(cmd), err, tt.wantReason)
			}
		})
	}
}

// TestLeavingAwaitingApproval: AwaitingApproval → Scheduled and
// AwaitingApproval → BackingUp are edges of the state machine, but the FSM
// takes them only once the deployment has the approvals its recorded
// requirement asks for.
func TestLeavingAwaitingApproval(t *testing.T) {
	for _, to := range []fsm.DeploymentState{fsm.StateScheduled, fsm.StateBackingUp} {
		t.Run(to.String(), func(t *testing.T) {
			// refusedWith checks that moving d1 to `to` is refused for reason.
			refusedWith := func(h *harness, reason string) {
				t.Helper()
				cmd := &fsm.TransitionDeployment{ID: h.id("d1"), To: to, Time: h.tick()}
				err := h.refused(cmd, fsm.ErrIllegalTransition)
				var te *fsm.TransitionError
				if !errors.As(err, &te) {
					t.Fatalf("Apply(%s) error %T is not a *fsm.TransitionError", describe(cmd), err)
				}
				want := fsm.TransitionError{ID: h.id("d1"), From: fsm.StateAwaitingApproval, To: to, Reason: reason}
				if *te != want {
					t.Errorf("Apply(%s) error = %+v; want %+v", describe(cmd), *te, want)
				}
				if got := wrappedSentinels(err); len(got) != 1 {
					t.Errorf("Apply(%s) error wraps %v; want exactly ErrIllegalTransition", describe(cmd), got)
				}
				if !strings.Contains(err.Error(), reason) {
					t.Errorf("Apply(%s) error %q does not give the reason %q", describe(cmd), err, reason)
				}
			}

			t.Run("no requirement recorded", func(t *testing.T) {
				h := newHarness(t)
				h.createAt("d1", "prod", fsm.StatePlanning)
				h.mustApply(&fsm.TransitionDeployment{ID: h.id("d1"), To: fsm.StateAwaitingApproval, Time: h.tick()})
				refusedWith(h, "no approval requirement was recorded")
				// Anyone may approve such a deployment, but that does not
				// make it approved.
				h.approve("d1", "alice")
				refusedWith(h, "no approval requirement was recorded")
			})

			t.Run("two required", func(t *testing.T) {
				h := newHarness(t)
				h.createAt("d1", "prod", fsm.StatePlanning)
				h.mustApply(&fsm.TransitionDeployment{ID: h.id("d1"), To: fsm.StateAwaitingApproval, Time: h.tick(),
					Approval: &fsm.ApprovalRequirement{Required: 2, Groups: []string{"ops"}}})
				refusedWith(h, "it has 0 of 2 required approvals")
				h.mustApply(&fsm.Approve{ID: h.id("d1"), Identity: "alice", Groups: []string{"ops"}, Time: h.tick()})
				refusedWith(h, "it has 1 of 2 required approvals")
				// The same identity again is still one approval.
				h.mustApply(&fsm.Approve{ID: h.id("d1"), Identity: "alice", Groups: []string{"ops"}, Time: h.tick()})
				refusedWith(h, "it has 1 of 2 required approvals")
				// A refused approval (not an approver) does not count.
				h.refused(&fsm.Approve{ID: h.id("d1"), Identity: "mallory", Groups: []string{"dev"}, Time: h.tick()},
					fsm.ErrNotAllowed)
				refusedWith(h, "it has 1 of 2 required approvals")

				h.mustApply(&fsm.Approve{ID: h.id("d1"), Identity: "bob", Groups: []string{"ops", "dev"}, Time: h.tick()})
				d := h.mustTransition("d1", to)
				if len(d.Approvals) != 2 || !d.Approved() {
					t.Errorf("Deployment(d1) = approvals %+v approved %v; want 2, true", d.Approvals, d.Approved())
				}
				e := h.environment("prod")
				if to.Active() && (e.Current != h.id("d1") || e.Waiting != "") {
					t.Errorf("Environment(prod) current, waiting = %q, %q; want %s, empty", e.Current, e.Waiting, h.id("d1"))
				}
				if to.Waiting() && (e.Waiting != h.id("d1") || e.Current != "") {
					t.Errorf("Environment(prod) current, waiting = %q, %q; want empty, %s", e.Current, e.Waiting, h.id("d1"))
				}
			})

			t.Run("one required", func(t *testing.T) {
				h := newHarness(t)
				h.createAt("d1", "prod", fsm.StateAwaitingApproval) // requireOne
				refusedWith(h, "it has 0 of 1 required approvals")
				h.approve("d1", "alice")
				h.mustTransition("d1", to)
			})
		})
	}

	// The other ways out of AwaitingApproval need no approval.
	for _, to := range []fsm.DeploymentState{fsm.StateRejected, fsm.StateFailed, fsm.StateSuperseded} {
		t.Run("unapproved to "+to.String(), func(t *testing.T) {
			h := newHarness(t)
			h.createAt("d1", "prod", fsm.StatePlanning)
			h.mustApply(&fsm.TransitionDeployment{ID: h.id("d1"), To: fsm.StateAwaitingApproval, Time: h.tick(),
				Approval: &fsm.ApprovalRequirement{Required: 3}})
			h.mustTransition("d1", to)
		})
	}
}

func TestConflictingActiveDeployments(t *testing.T) {
	tests := []struct {
		name string
		// setup leaves "other" holding the environment and "d" about to move.
		setup    func(h *harness)
		subject  string
		to       fsm.DeploymentState
		wantFrom fsm.DeploymentState
		other    string
		otherIs  fsm.DeploymentState
	}{
		{
			name: "backing up while another applies",
			setup: func(h *harness) {
				h.createAt("d1", "prod", fsm.StateApplying)
				h.createAt("d2", "prod", fsm.StatePlanning)
			},
			subject: "d2", to: fsm.StateBackingUp, wantFrom: fsm.StatePlanning, other: "d1", otherIs: fsm.StateApplying,
		},
		{
			name: "backing up from approval while another backs up",
			setup: func(h *harness) {
				h.createAt("d1", "prod", fsm.StateBackingUp)
				h.createAt("d2", "prod", fsm.StateAwaitingApproval)
				h.approve("d2", "alice")
			},
			subject: "d2", to: fsm.StateBackingUp, wantFrom: fsm.StateAwaitingApproval, other: "d1", otherIs: fsm.StateBackingUp,
		},
		{
			name: "scheduled one starts while another post-validates",
			setup: func(h *harness) {
				h.createAt("d1", "prod", fsm.StatePostValidating)
				h.createAt("d2", "prod", fsm.StateScheduled)
			},
			subject: "d2", to: fsm.StateBackingUp, wantFrom: fsm.StateScheduled, other: "d1", otherIs: fsm.StatePostValidating,
		},
		{
			name: "rolling back while another backs up",
			setup: func(h *harness) {
				h.createAt("d1", "prod", fsm.StateFailed) // failed after applying
				h.createAt("d2", "prod", fsm.StateBackingUp)
			},
			subject: "d1", to: fsm.StateRollingBack, wantFrom: fsm.StateFailed, other: "d2", otherIs: fsm.StateBackingUp,
		},
		{
			name: "backing up while another rolls back",
			setup: func(h *harness) {
				h.createAt("d1", "prod", fsm.StateRollingBack)
				h.createAt("d2", "prod", fsm.StatePlanning)
			},
			subject: "d2", to: fsm.StateBackingUp, wantFrom: fsm.StatePlanning, other: "d1", otherIs: fsm.StateRollingBack,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			tt.setup(h)
			id, other := h.id(tt.subject), h.id(tt.other)
			cmd := &fsm.TransitionDeployment{ID: id, To: tt.to, Time: h.tick()}
			err := h.refused(cmd, fsm.ErrConflict)
			var ce *fsm.ConflictError
			if !errors.As(err, &ce) {
				t.Fatalf("Apply(%s) error %T is not a *fsm.ConflictError", describe(cmd), err)
			}
			want := fsm.ConflictError{ID: id, From: tt.wantFrom, To: tt.to, Environment: "prod",
				OtherID: other, OtherState: tt.otherIs}
			if *ce != want {
				t.Errorf("Apply(%s) error = %+v; want %+v", describe(cmd), *ce, want)
			}
			for _, s := range []string{id, other, tt.wantFrom.String(), tt.to.String(), tt.otherIs.String(), "prod"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Apply(%s) error %q does not name %q", describe(cmd), err, s)
				}
			}
			if e := h.environment("prod"); e.Current != other {
				t.Errorf("Environment(prod).Current = %q; want %q (%s)", e.Current, other, tt.other)
			}
		})
	}
}

func TestActiveSlotIsFreedAndPerEnvironment(t *testing.T) {
	h := newHarness(t)
	h.createAt("d1", "prod", fsm.StateApplying)

	// Another environment does not conflict.
	h.createAt("s1", "staging", fsm.StateBackingUp)
	if e := h.environment("staging"); e.Current != h.id("s1") {
		t.Errorf("Environment(staging).Current = %q; want %s (s1)", e.Current, h.id("s1"))
	}
	if e := h.environment("prod"); e.Current != h.id("d1") {
		t.Errorf("Environment(prod).Current = %q; want %s (d1)", e.Current, h.id("d1"))
	}

	// Once d1 finishes, d2 may take the slot.
	h.createAt("d2", "prod", fsm.StatePlanning)
	if _, err := h.transition("d2", fsm.StateBackingUp); !errors.Is(err, fsm.ErrConflict) {
		t.Fatalf("Apply(transition d2 to BackingUp) = %v; want ErrConflict while d1 applies", err)
	}
	h.drive("d1", fsm.StatePostValidating, fsm.StateCompleted)
	if e := h.environment("prod"); e.Current != "" {
		t.Errorf("Environment(prod).Current = %q after d1 completed; want empty", e.Current)
	}
	h.mustTransition("d2", fsm.StateBackingUp)
	if e := h.environment("prod"); e.Current != h.id("d2") || e.Waiting != "" {
		t.Errorf("Environment(prod) current, waiting = %q, %q; want %s (d2), empty", e.Current, e.Waiting, h.id("d2"))
	}
}

// waitingStates are the states of Waiting(), in pipeline order.
var waitingStates = []fsm.DeploymentState{
	fsm.StatePending, fsm.StateValidating, fsm.StatePlanning, fsm.StateAwaitingApproval, fsm.StateScheduled,
}

func TestCreateSupersedesTheWaitingDeployment(t *testing.T) {
	paths := map[string][]fsm.DeploymentState{}
	for _, s := range waitingStates {
		paths[s.String()] = pathTo[s]
	}
	paths["Scheduled after approval"] = []fsm.DeploymentState{
		fsm.StateValidating, fsm.StatePlanning, fsm.StateAwaitingApproval, fsm.StateScheduled,
	}
	for name, path := range paths {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.create("d1", "prod")
			from := h.drive("d1", path...).State
			if e := h.environment("prod"); e.Waiting != h.id("d1") {
				t.Fatalf("Environment(prod).Waiting = %q; want %s (d1)", e.Waiting, h.id("d1"))
			}
			created := h.create("d2", "prod")

			d1 := h.deployment("d1")
			last := d1.Transitions[len(d1.Transitions)-1]
			if d1.State != fsm.StateSuperseded || last.From != from || last.To != fsm.StateSuperseded {
				t.Fatalf("Deployment(d1) = %s, last transition %+v; want Superseded from %s", d1.State, last, from)
			}
			if !strings.Contains(last.Message, created.ID) || !last.Time.Time().Equal(created.CreatedAt) ||
				!d1.UpdatedAt.Equal(created.CreatedAt) {
				t.Errorf("Deployment(d1) supersede transition = %+v, updated %v; want a message naming %s at %v",
					last, d1.UpdatedAt, created.ID, created.CreatedAt)
			}
			if e := h.environment("prod"); e.Waiting != created.ID || e.Current != "" {
				t.Errorf("Environment(prod) waiting, current = %q, %q; want %s, empty", e.Waiting, e.Current, created.ID)
			}
			if created.State != fsm.StatePending {
				t.Errorf("Apply(create d2) state = %s; want Pending", created.State)
			}
		})
	}
}

func TestCreateDoesNotTouchActiveOrFinishedDeployments(t *testing.T) {
	h := newHarness(t)
	h.createAt("d0", "prod", fsm.StateRejected)
	h.createAt("d1", "prod", fsm.StateApplying)
	h.create("other", "staging")
	h.create("d2", "prod")

	for name, want := range map[string]fsm.DeploymentState{
		"d0": fsm.StateRejected, "d1": fsm.StateApplying, "other": fsm.StatePending, "d2": fsm.StatePending,
	} {
		if got := h.deployment(name).State; got != want {
			t.Errorf("Deployment(%s).State = %s; want %s", name, got, want)
		}
	}
	if e := h.environment("prod"); e.Current != h.id("d1") || e.Waiting != h.id("d2") {
		t.Errorf("Environment(prod) current, waiting = %q, %q; want %s (d1), %s (d2)",
			e.Current, e.Waiting, h.id("d1"), h.id("d2"))
	}
	if e := h.environment("staging"); e.Waiting != h.id("other") {
		t.Errorf("Environment(staging).Waiting = %q; want %s (other)", e.Waiting, h.id("other"))
	}
}

// TestWaitingSlotIsKeptWhileTheDeploymentWaits: the environment's waiting
// deployment stays its waiting deployment along every waiting→waiting edge,
// so a newer deployment still supersedes it.
func TestWaitingSlotIsKeptWhileTheDeploymentWaits(t *testing.T) {
	var edges []edge
	for _, from := range fsm.AllStates {
		for _, to := range fsm.AllStates {
			if specEdges[edge{from, to}] && from.Waiting() && to.Waiting() {
				edges = append(edges, edge{from, to})
			}
		}
	}
	if len(edges) != 5 {
		t.Fatalf("found %d waiting→waiting edges %v; want 5", len(edges), edges)
	}
	for _, e := range edges {
		t.Run(fmt.Sprintf("%s to %s", e.from, e.to), func(t *testing.T) {
			h := newHarness(t)
			h.createAt("d1", "prod", e.from)
			h.drive("d1", e.to) // approves first if it leaves AwaitingApproval
			if env := h.environment("prod"); env.Waiting != h.id("d1") {
				t.Fatalf("Environment(prod).Waiting = %q after d1 went %s→%s; want %s (d1)",
					env.Waiting, e.from, e.to, h.id("d1"))
			}
			h.create("d2", "prod")
			if got := h.deployment("d1").State; got != fsm.StateSuperseded {
				t.Errorf("Deployment(d1).State = %s after d2 was created; want Superseded", got)
			}
			if env := h.environment("prod"); env.Waiting != h.id("d2") {
				t.Errorf("Environment(prod).Waiting = %q; want %s (d2)", env.Waiting, h.id("d2"))
			}
		})
	}
}

func TestWaitingSlotIsFreedWhenTheDeploymentMovesOn(t *testing.T) {
	tests := []struct {
		name string
		to   []fsm.DeploymentState
	}{
		{"starts", []fsm.DeploymentState{fsm.StateValidating, fsm.StatePlanning, fsm.StateBackingUp}},
		{"starts when scheduled", pathTo[fsm.StateScheduled]},
		{"starts after approval", []fsm.DeploymentState{fsm.StateValidating, fsm.StatePlanning,
			fsm.StateAwaitingApproval, fsm.StateBackingUp}},
		{"fails", []fsm.DeploymentState{fsm.StateValidating, fsm.StateFailed}},
		{"superseded by transition", []fsm.DeploymentState{fsm.StateSuperseded}},
		{"rejected by transition", pathTo[fsm.StateRejected]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.create("d1", "prod")
			h.drive("d1", tt.to...)
			if tt.name == "starts when scheduled" {
				h.mustTransition("d1", fsm.StateBackingUp)
			}
			if e := h.environment("prod"); e.Waiting != "" {
				t.Errorf("Environment(prod).Waiting = %q after d1 went to %s; want empty", e.Waiting,
					h.deployment("d1").State)
			}
			// A new deployment then supersedes nothing.
			before := h.deployment("d1")
			h.create("d2", "prod")
			if after := h.deployment("d1"); after.State != before.State || len(after.Transitions) != len(before.Transitions) {
				t.Errorf("Deployment(d1) = %s with %d transitions after d2 was created; want %s with %d",
					after.State, len(after.Transitions), before.State, len(before.Transitions))
			}
		})
	}
}

func TestDeployedCommitBackupAndRollback(t *testing.T) {
	h := newHarness(t)

	// d1: the environment's first deployment completes.
	d1 := h.createAt("d1", "prod", fsm.StateBackingUp)
	if d1.Backup == nil || *d1.Backup != (fsm.Backup{}) {
		t.Errorf("Deployment(d1).Backup = %+v; want an empty backup (nothing was deployed)", d1.Backup)
	}
	h.drive("d1", fsm.StateApplying, fsm.StatePostValidating, fsm.StateCompleted)
	if e := h.environment("prod"); e.DeployedCommit != "commit-d1" || e.DeployedDeployment != d1.ID {
		t.Fatalf("Environment(prod) deployed = %q/%q; want commit-d1/%s", e.DeployedCommit, e.DeployedDeployment, d1.ID)
	}

	// d2 backs up what d1 deployed, records the bundle, fails and rolls back.
	d2 := h.createAt("d2", "prod", fsm.StateBackingUp)
	if want := (fsm.Backup{DeploymentID: d1.ID, Commit: "commit-d1"}); d2.Backup == nil || *d2.Backup != want {
		t.Fatalf("Deployment(d2).Backup = %+v; want %+v", d2.Backup, want)
	}
	h.mustApply(&fsm.TransitionDeployment{ID: d2.ID, To: fsm.StateApplying, Time: h.tick(), BackupBundleID: "bundle-7"})
	d2 = h.deployment("d2")
	if want := (fsm.Backup{DeploymentID: d1.ID, Commit: "commit-d1", BundleID: "bundle-7"}); *d2.Backup != want || !d2.Applied {
		t.Fatalf("Deployment(d2) = backup %+v applied %v; want %+v applied true", *d2.Backup, d2.Applied, want)
	}
	h.mustApply(&fsm.TransitionDeployment{ID: d2.ID, To: fsm.StateFailed, Time: h.tick(), Error: "health check failed"})
	if d := h.deployment("d2"); d.Error != "health check failed" {
		t.Errorf("Deployment(d2).Error = %q; want %q", d.Error, "health check failed")
	}
	if e := h.environment("prod"); e.DeployedCommit != "commit-d1" || e.Current != "" {
		t.Errorf("Environment(prod) after d2 failed: deployed %q current %q; want commit-d1, empty",
			e.DeployedCommit, e.Current)
	}
	h.drive("d2", fsm.StateRollingBack, fsm.StateRolledBack)
	e := h.environment("prod")
	if e.DeployedCommit != "commit-d1" || e.DeployedDeployment != d1.ID || e.Current != "" {
		t.Errorf("Environment(prod) after rollback = deployed %q/%q current %q; want commit-d1/%s, empty",
			e.DeployedCommit, e.DeployedDeployment, e.Current, d1.ID)
	}

	// d3 completes: what is deployed moves on, and a failure then does not.
	d3 := h.createAt("d3", "prod", fsm.StateCompleted)
	h.createAt("d4", "prod", fsm.StateFailed)
	if e := h.environment("prod"); e.DeployedCommit != "commit-d3" || e.DeployedDeployment != d3.ID {
		t.Errorf("Environment(prod) = deployed %q/%q; want commit-d3/%s", e.DeployedCommit, e.DeployedDeployment, d3.ID)
	}
}

func TestTransitionRecordsStepResults(t *testing.T) {
	h := newHarness(t)
	id := h.create("d1", "prod").ID
	h.mustApply(&fsm.TransitionDeployment{ID: id, To: fsm.StateValidating, Time: h.tick(),
		Validation: []byte(`{"ok":true}`)})
	req := &fsm.ApprovalRequirement{Required: 2, Groups: []string{"ops"}}
	h.mustApply(&fsm.TransitionDeployment{ID: id, To: fsm.StatePlanning, Time: h.tick(),
		Plan: []byte(`{"changes":3}`), Risk: "high"})
	h.mustApply(&fsm.TransitionDeployment{ID: id, To: fsm.StateAwaitingApproval, Time: h.tick(), Approval: req})
	// A later step that carries no results leaves them alone.
	h.mustTransition("d1", fsm.StateFailed)

	d := h.deployment("d1")
	if string(d.Validation.JSON()) != `{"ok":true}` || string(d.Plan.JSON()) != `{"changes":3}` || d.Risk != "high" {
		t.Errorf("Deployment(d1) = validation %s plan %s risk %q; want {\"ok\":true}, {\"changes\":3}, high",
			d.Validation, d.Plan, d.Risk)
	}
	if d.Approval == nil || d.Approval.Required != 2 || fmt.Sprint(d.Approval.Groups) != "[ops]" {
		t.Errorf("Deployment(d1).Approval = %+v; want required 2, groups [ops]", d.Approval)
	}
}

// TestRollbackAfterANewerDeployment: a deployment that failed after applying
// may roll back only while the environment still has its backup deployed.
// Once a newer deployment completed, restoring the backup would undo it, so
// the rollback is refused and nothing changes.
func TestRollbackAfterANewerDeployment(t *testing.T) {
	h := newHarness(t)
	h.createAt("d1", "prod", fsm.StateCompleted)
	h.createAt("d2", "prod", fsm.StateFailed) // after applying: backup d1
	d3 := h.createAt("d3", "prod", fsm.StateCompleted)
	if e := h.environment("prod"); e.DeployedDeployment != d3.ID {
		t.Fatalf("Environment(prod).DeployedDeployment = %q; want %s (d3)", e.DeployedDeployment, d3.ID)
	}

	cmd := &fsm.TransitionDeployment{ID: h.id("d2"), To: fsm.StateRollingBack, Time: h.tick()}
	err := h.refused(cmd, fsm.ErrIllegalTransition)
	var te *fsm.TransitionError
	if !errors.As(err, &te) || te.ID != h.id("d2") || te.From != fsm.StateFailed || te.To != fsm.StateRollingBack {
		t.Fatalf("Apply(%s) = %v; want a *fsm.TransitionError for d2 Failed→RollingBack", describe(cmd), err)
	}
	if !strings.Contains(te.Reason, "has moved on") || !strings.Contains(err.Error(), "has moved on") ||
		!strings.Contains(err.Error(), d3.ID) {
		t.Errorf("Apply(%s) error %q (reason %q); want it to say the environment has moved on to %s",
			describe(cmd), err, te.Reason, d3.ID)
	}
	if got := wrappedSentinels(err); len(got) != 1 {
		t.Errorf("Apply(%s) error wraps %v; want exactly ErrIllegalTransition", describe(cmd), got)
	}
	if e := h.environment("prod"); e.DeployedCommit != "commit-d3" || e.DeployedDeployment != d3.ID || e.Current != "" {
		t.Errorf("Environment(prod) = deployed %q/%q current %q; want commit-d3/%s, empty",
			e.DeployedCommit, e.DeployedDeployment, e.Current, d3.ID)
	}
	if d := h.deployment("d2"); d.State != fsm.StateFailed || d.RollbackStarted {
		t.Errorf("Deployment(d2) = %s rollbackStarted %v; want Failed, false", d.State, d.RollbackStarted)
	}
}

// TestRollbackWhileTheBackupIsStillDeployed: deployments that came and went
// without completing (or that rolled back to the same backup) do not move
// the environment on; a failed deployment may then still roll back.
func TestRollbackWhileTheBackupIsStillDeployed(t *testing.T) {
	h := newHarness(t)
	d1 := h.createAt("d1", "prod", fsm.StateCompleted)
	h.createAt("d2", "prod", fsm.StateFailed) // backup d1
	h.createAt("d3", "prod", fsm.StateRejected)
	h.createAt("d4", "prod", fsm.StateRolledBack) // backup d1 too, restored it
	h.createAt("d5", "prod", fsm.StateApplying)
	h.mustTransition("d5", fsm.StateFailed) // backup d1, not rolled back

	h.drive("d2", fsm.StateRollingBack, fsm.StateRolledBack)
	if e := h.environment("prod"); e.DeployedCommit != "commit-d1" || e.DeployedDeployment != d1.ID {
		t.Errorf("Environment(prod) deployed = %q/%q; want commit-d1/%s", e.DeployedCommit, e.DeployedDeployment, d1.ID)
	}
	// d5 backed up the same deployment, which is still deployed.
	h.drive("d5", fsm.StateRollingBack)

	// A first deployment that failed after applying restores "nothing".
	h.createAt("s1", "staging", fsm.StateFailed)
	if d := h.drive("s1", fsm.StateRollingBack, fsm.StateRolledBack); *d.Backup != (fsm.Backup{}) {
		t.Errorf("Deployment(s1).Backup = %+v; want empty", *d.Backup)
	}
	if e := h.environment("staging"); e.DeployedCommit != "" || e.DeployedDeployment != "" {
		t.Errorf("Environment(staging) deployed = %q/%q; want nothing", e.DeployedCommit, e.DeployedDeployment)
	}
	// … but not once something has completed there.
	h.createAt("s2", "staging", fsm.StateFailed)
	h.createAt("s3", "staging", fsm.StateCompleted)
	h.refused(&fsm.TransitionDeployment{ID: h.id("s2"), To: fsm.StateRollingBack, Time: h.tick()},
		fsm.ErrIllegalTransition)
}

// TestRolledBackNamesAPrunedDeployment: pruning keeps the backup of every
// deployment that may still roll back (active, or failed after applying and
// not rolled back yet), so that the environment never names a deployment it
// dropped.
func TestRolledBackNamesAPrunedDeployment(t *testing.T) {
	t.Run("the backup of a failed deployment is kept while it can roll back", func(t *testing.T) {
		h := newHarness(t)
		h.mustApply(&fsm.SetSettings{HistoryRetention: 1})
		h.createAt("d1", "prod", fsm.StateCompleted)
		h.createAt("d2", "prod", fsm.StateFailed) // backup d1
		h.createAt("d4", "prod", fsm.StateRejected)
		// d1 is deployed, and d2 failed after applying, has not rolled
		// back, and names d1 as its backup: both stay, and with a
		// retention of 1 only they do.
		if got, want := h.names(h.environment("prod").History), []string{"d1", "d2"}; !slices.Equal(got, want) {
			t.Errorf("Environment(prod).History = %v; want %v", got, want)
		}
	})
	t.Run("once the environment moved on, neither is kept", func(t *testing.T) {
		h := newHarness(t)
		h.mustApply(&fsm.SetSettings{HistoryRetention: 1})
		h.createAt("d1", "prod", fsm.StateCompleted)
		h.createAt("d2", "prod", fsm.StateFailed) // backup d1
		h.createAt("d3", "prod", fsm.StateCompleted)
		h.createAt("d4", "prod", fsm.StateRejected)
		// d3 is deployed: d2's rollback would be refused, so d2 and its
		// backup d1 are history like any other, and only d3 stays.
		if got, want := h.names(h.environment("prod").History), []string{"d3"}; !slices.Equal(got, want) {
			t.Errorf("Environment(prod).History = %v; want %v", got, want)
		}
	})
	t.Run("a rollback restores a kept deployment", func(t *testing.T) {
		h := newHarness(t)
		h.mustApply(&fsm.SetSettings{HistoryRetention: 1})
		h.createAt("d1", "prod", fsm.StateCompleted)
		h.createAt("d2", "prod", fsm.StateFailed) // backup d1
		for _, name := range []string{"d3", "d4", "d5"} {
			h.createAt(name, "prod", fsm.StateRejected)
		}
		h.drive("d2", fsm.StateRollingBack, fsm.StateRolledBack)
		e := h.environment("prod")
		if d, ok := h.fsm.Deployment(e.DeployedDeployment); !ok || e.DeployedDeployment != h.id("d1") ||
			d.Commit != e.DeployedCommit {
			t.Errorf("Environment(prod) deployed = %q/%q (held: %v); want d1 %s, held",
				e.DeployedCommit, e.DeployedDeployment, ok, h.id("d1"))
		}
		// Rolled back, d2 may roll back no more: it is pruned at once,
		// and d1 stays as the deployed deployment.
		if got, want := h.names(h.environment("prod").History), []string{"d1"}; !slices.Equal(got, want) {
			t.Errorf("Environment(prod).History = %v; want %v", got, want)
		}
	})
}
