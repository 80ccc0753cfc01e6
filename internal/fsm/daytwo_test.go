package fsm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// TestSuspendHoldsEveryStart: while an environment is suspended its
// deployments are created and superseded as usual but none starts, nor
// starts changing targets; one that is changing them finishes, and may roll
// back; resuming lets the waiting one go on.
func TestSuspendHoldsEveryStart(t *testing.T) {
	h := newHarness(t)
	h.createAt("applying", "prod", fsm.StateApplying)
	h.createAt("approved", "staging", fsm.StateAwaitingApproval)
	h.approve("approved", "alice")
	h.mustApply(&fsm.ObserveCommit{Environment: "staging", Commit: "s1", Time: h.tick()})
	for _, env := range []string{"prod", "staging"} {
		res := h.mustApply(&fsm.SetSuspension{Environment: env, Suspend: true, Identity: "alice",
			Reason: "incident 42", Time: h.tick()}).(*fsm.SuspensionResult)
		if res.Unchanged || res.Environment.Suspended == nil || res.Environment.Suspended.By != "alice" {
			t.Fatalf("suspend %s = %+v; want it suspended by alice", env, res)
		}
	}
	// Suspending again keeps the first suspension.
	again := h.mustApply(&fsm.SetSuspension{Environment: "prod", Suspend: true, Identity: "bob", Reason: "other",
		Time: h.tick()}).(*fsm.SuspensionResult)
	if !again.Unchanged || again.Environment.Suspended.By != "alice" || again.Environment.Suspended.Reason != "incident 42" {
		t.Errorf("suspend again = %+v; want unchanged, alice's suspension kept", again.Environment.Suspended)
	}

	// A new commit is created, waits as Pending, and does not start.
	h.create("queued", "prod")
	if _, err := h.transition("queued", fsm.StateValidating); !errors.Is(err, fsm.ErrIllegalTransition) ||
		!strings.Contains(err.Error(), "suspended") {
		t.Errorf("start while suspended = %v; want an illegal transition that says the environment is suspended", err)
	}
	// A newer commit supersedes it as usual.
	h.create("newer", "prod")
	if got := h.deployment("queued").State; got != fsm.StateSuperseded {
		t.Errorf("queued is %s after a newer commit; want Superseded", got)
	}
	// The approved deployment does not start changing targets.
	if _, err := h.transition("approved", fsm.StateBackingUp); !errors.Is(err, fsm.ErrIllegalTransition) {
		t.Errorf("approved → BackingUp while suspended = %v; want refused", err)
	}
	// What was changing targets finishes, and may fail and roll back.
	h.mustTransition("applying", fsm.StateFailed)
	h.mustTransition("applying", fsm.StateRollingBack)
	h.mustTransition("applying", fsm.StateRolledBack)

	res := h.mustApply(&fsm.SetSuspension{Environment: "prod", Identity: "bob", Time: h.tick()}).(*fsm.SuspensionResult)
	if res.Unchanged || res.Environment.Suspended != nil {
		t.Fatalf("resume = %+v; want resumed", res)
	}
	h.mustTransition("newer", fsm.StateValidating)
	if again := h.mustApply(&fsm.SetSuspension{Environment: "prod", Identity: "bob", Time: h.tick()}).(*fsm.SuspensionResult); !again.Unchanged {
		t.Errorf("resume again = %+v; want unchanged", again)
	}
	h.mustApply(&fsm.SetSuspension{Environment: "staging", Identity: "bob", Time: h.tick()})
	h.mustTransition("approved", fsm.StateBackingUp)
}

// TestCancelEndsAWaitingDeployment: a deployment that has not started
// changing targets is cancelled from each waiting state, says who and why,
// frees the environment's waiting slot and raises a Cancelled notification;
// a retry answers the same.
func TestCancelEndsAWaitingDeployment(t *testing.T) {
	for _, st := range []fsm.DeploymentState{fsm.StatePending, fsm.StateValidating, fsm.StatePlanning,
		fsm.StateAwaitingApproval, fsm.StateScheduled} {
		t.Run(st.String(), func(t *testing.T) {
			h := newHarness(t)
			h.mustApply(&fsm.SetNotificationRoutes{Routes: []fsm.NotificationRoute{
				{Events: []fsm.NotificationEvent{fsm.EventCancelled}, Channels: []string{"hook"}}}})
			h.createAt("d", "prod", st)
			c := &fsm.CancelDeployment{ID: h.id("d"), Identity: "bob", Groups: []string{"ops"}, Time: h.tick(),
				Reason: "wrong commit"}
			res := h.mustApply(c).(*fsm.CancelResult)
			d := res.Deployment
			if res.Duplicate || d.State != fsm.StateCancelled || d.Cancellation == nil ||
				d.Cancellation.Identity != "bob" || d.Cancellation.Reason != "wrong commit" {
				t.Fatalf("cancel = %+v (cancellation %+v); want Cancelled by bob for wrong commit", res, d.Cancellation)
			}
			last := d.Transitions[len(d.Transitions)-1]
			if last.From != st || last.To != fsm.StateCancelled || !strings.Contains(last.Message, "bob") {
				t.Errorf("last transition %+v; want %s → Cancelled naming bob", last, st)
			}
			if e := h.environment("prod"); e.Waiting != "" {
				t.Errorf("environment waiting = %q; want the slot freed", e.Waiting)
			}
			ns := h.fsm.Notifications(fsm.NotificationFilter{Limit: 10})
			if len(ns) != 1 || ns[0].Event != fsm.EventCancelled || ns[0].Actor != "bob" || ns[0].Reason != "wrong commit" {
				t.Errorf("notifications = %+v; want one Cancelled by bob", ns)
			}
			if again := h.mustApply(c).(*fsm.CancelResult); !again.Duplicate || again.Deployment.State != fsm.StateCancelled {
				t.Errorf("retried cancel = %+v; want a duplicate", again)
			}
		})
	}
}

// TestOverrideWindowIsRecorded: an admin's override is recorded on a
// waiting deployment, once.
func TestOverrideWindowIsRecorded(t *testing.T) {
	h := newHarness(t)
	h.createAt("d", "prod", fsm.StateScheduled)
	c := &fsm.OverrideWindow{ID: h.id("d"), Identity: "root", Role: fsm.AdminRole, Time: h.tick(), Reason: "hotfix"}
	d := h.mustApply(c).(*fsm.Deployment)
	if o := d.WindowOverride; o == nil || o.Identity != "root" || o.Reason != "hotfix" || d.State != fsm.StateScheduled {
		t.Fatalf("override = %+v in %s; want root's hotfix recorded, still Scheduled", d.WindowOverride, d.State)
	}
	if again := h.mustApply(c).(*fsm.Deployment); !again.WindowOverride.Time.Equal(c.Time) {
		t.Errorf("retried override = %+v; want the first one", again.WindowOverride)
	}
}
