package fsm_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// TestNotificationEventsOf: the events of every move the state machine
// allows, and of a deployment's creation.
func TestNotificationEventsOf(t *testing.T) {
	type move struct{ from, to fsm.DeploymentState }
	ev := func(es ...fsm.NotificationEvent) []fsm.NotificationEvent { return es }
	want := map[move][]fsm.NotificationEvent{
		{0, fsm.StatePending}: ev(fsm.EventDeploymentCreated),

		{fsm.StatePending, fsm.StateValidating}: nil,
		{fsm.StatePending, fsm.StateFailed}:     ev(fsm.EventDeploymentFailed),
		{fsm.StatePending, fsm.StateSuperseded}: nil,
		{fsm.StatePending, fsm.StateCancelled}:  ev(fsm.EventCancelled),

		{fsm.StateValidating, fsm.StatePlanning}:   nil,
		{fsm.StateValidating, fsm.StateFailed}:     ev(fsm.EventDeploymentFailed),
		{fsm.StateValidating, fsm.StateSuperseded}: nil,
		{fsm.StateValidating, fsm.StateCancelled}:  ev(fsm.EventCancelled),

		{fsm.StatePlanning, fsm.StateAwaitingApproval}: ev(fsm.EventApprovalRequired),
		{fsm.StatePlanning, fsm.StateScheduled}:        ev(fsm.EventDeploymentScheduled),
		{fsm.StatePlanning, fsm.StateBackingUp}:        nil,
		{fsm.StatePlanning, fsm.StateFailed}:           ev(fsm.EventDeploymentFailed),
		{fsm.StatePlanning, fsm.StateSuperseded}:       nil,
		{fsm.StatePlanning, fsm.StateCancelled}:        ev(fsm.EventCancelled),

		{fsm.StateAwaitingApproval, fsm.StateScheduled}:  ev(fsm.EventApproved, fsm.EventDeploymentScheduled),
		{fsm.StateAwaitingApproval, fsm.StateBackingUp}:  ev(fsm.EventApproved),
		{fsm.StateAwaitingApproval, fsm.StateRejected}:   ev(fsm.EventRejected),
		{fsm.StateAwaitingApproval, fsm.StateFailed}:     ev(fsm.EventDeploymentFailed),
		{fsm.StateAwaitingApproval, fsm.StateSuperseded}: nil,
		{fsm.StateAwaitingApproval, fsm.StateCancelled}:  ev(fsm.EventCancelled),

		{fsm.StateScheduled, fsm.StateBackingUp}:  nil,
		{fsm.StateScheduled, fsm.StateFailed}:     ev(fsm.EventDeploymentFailed),
		{fsm.StateScheduled, fsm.StateSuperseded}: nil,
		{fsm.StateScheduled, fsm.StateCancelled}:  ev(fsm.EventCancelled),

		{fsm.StateBackingUp, fsm.StateApplying}: ev(fsm.EventDeploymentStarted),
		{fsm.StateBackingUp, fsm.StateFailed}:   ev(fsm.EventDeploymentFailed),

		{fsm.StateApplying, fsm.StatePostValidating}: nil,
		{fsm.StateApplying, fsm.StateFailed}:         ev(fsm.EventDeploymentFailed),

		{fsm.StatePostValidating, fsm.StateCompleted}: ev(fsm.EventDeploymentCompleted),
		{fsm.StatePostValidating, fsm.StateFailed}:    ev(fsm.EventDeploymentFailed),

		{fsm.StateFailed, fsm.StateRollingBack}: nil,

		{fsm.StateRollingBack, fsm.StateRolledBack}: ev(fsm.EventRolledBack),
		{fsm.StateRollingBack, fsm.StateFailed}:     ev(fsm.EventRollbackFailed),
	}
	covered := map[fsm.NotificationEvent]bool{}
	for _, from := range fsm.AllStates {
		for _, to := range fsm.AllStates {
			w, listed := want[move{from, to}]
			if fsm.CanTransition(from, to) != listed {
				t.Errorf("move %s → %s: CanTransition = %v, but the table lists it: %v", from, to, !listed, listed)
				continue
			}
			if !listed {
				continue
			}
			if got := fsm.NotificationEventsOf(from, to); !slices.Equal(got, w) {
				t.Errorf("NotificationEventsOf(%s, %s) = %v; want %v", from, to, got, w)
			}
			for _, e := range w {
				covered[e] = true
			}
		}
	}
	if got := fsm.NotificationEventsOf(0, fsm.StatePending); !slices.Equal(got, want[move{0, fsm.StatePending}]) {
		t.Errorf("NotificationEventsOf(\"\", Pending) = %v; want DeploymentCreated", got)
	}
	covered[fsm.EventDeploymentCreated] = true
	covered[fsm.EventDriftDetected] = true // raised by SetDrift, not by a move (drift_test.go)
	for _, e := range fsm.AllNotificationEvents {
		if !e.Valid() || !covered[e] {
			t.Errorf("event %s: valid %v, raised by some move %v; want both", e, e.Valid(), covered[e])
		}
	}
	if fsm.NotificationEvent("Bogus").Valid() {
		t.Errorf("NotificationEvent(Bogus).Valid() = true")
	}
}

// ids returns the ids of ns, sorted.
func ids(ns []fsm.Notification) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	slices.Sort(out)
	return out
}

// notificationIDs returns the ids of every notification h's FSM holds,
// sorted, with the names of deployments the test named for their ids.
func (h *harness) notificationIDs() []string {
	h.t.Helper()
	out := ids(h.fsm.Notifications(fsm.NotificationFilter{}))
	for i, id := range out {
		dep, rest, _ := strings.Cut(id, ".")
		out[i] = h.name(dep) + "." + rest
	}
	slices.Sort(out)
	return out
}

func routes(rs ...fsm.NotificationRoute) *fsm.SetNotificationRoutes {
	return &fsm.SetNotificationRoutes{Routes: rs}
}

func route(events []fsm.NotificationEvent, envs []string, channels ...string) fsm.NotificationRoute {
	return fsm.NotificationRoute{Events: events, Environments: envs, Channels: channels}
}

func events(es ...fsm.NotificationEvent) []fsm.NotificationEvent { return es }

// TestNotificationsCreated: the moves of deployments record one pending
// notification per channel of the routes matching the event and the
// environment.
func TestNotificationsCreated(t *testing.T) {
	all := fsm.AllNotificationEvents
	tests := []struct {
		name   string
		routes *fsm.SetNotificationRoutes // nil: none set
		run    func(h *harness)
		want   []string
	}{
		{"no routes", nil, func(h *harness) { h.createAt("d", "prod", fsm.StateCompleted) }, nil},
		{"by event", routes(route(events(fsm.EventDeploymentCompleted), nil, "hook")),
			func(h *harness) { h.createAt("d", "prod", fsm.StateCompleted) },
			[]string{"d.DeploymentCompleted.hook"}},
		{"by environment", routes(route(events(fsm.EventDeploymentCreated), []string{"prod"}, "hook")),
			func(h *harness) { h.create("p", "prod"); h.create("s", "staging") },
			[]string{"p.DeploymentCreated.hook"}},
		{"two routes one channel", routes(
			route(events(fsm.EventDeploymentCreated), nil, "hook", "team"),
			route(events(fsm.EventDeploymentCreated, fsm.EventDeploymentFailed), []string{"prod"}, "team", "mail")),
			func(h *harness) { h.create("d", "prod") },
			[]string{"d.DeploymentCreated.hook", "d.DeploymentCreated.mail", "d.DeploymentCreated.team"}},
		{"whole approved pipeline", routes(route(all, nil, "hook")),
			func(h *harness) { h.create("d", "prod"); h.drive("d", approvedPath...) },
			[]string{"d.ApprovalRequired.hook", "d.Approved.hook", "d.DeploymentCompleted.hook",
				"d.DeploymentCreated.hook", "d.DeploymentScheduled.hook", "d.DeploymentStarted.hook"}},
		{"rejected", routes(route(all, nil, "hook")),
			func(h *harness) {
				h.createAt("d", "prod", fsm.StateAwaitingApproval)
				h.mustApply(&fsm.Reject{ID: h.id("d"), Identity: "bob", Time: h.tick(), Reason: "not now"})
			},
			[]string{"d.ApprovalRequired.hook", "d.DeploymentCreated.hook", "d.Rejected.hook"}},
		{"rolled back", routes(route(events(fsm.EventDeploymentFailed, fsm.EventRolledBack, fsm.EventRollbackFailed), nil, "hook")),
			func(h *harness) {
				h.createAt("d", "prod", fsm.StateFailed)
				h.drive("d", fsm.StateRollingBack, fsm.StateRolledBack)
			},
			[]string{"d.DeploymentFailed.hook", "d.RolledBack.hook"}},
		{"rollback failed", routes(route(events(fsm.EventDeploymentFailed, fsm.EventRolledBack, fsm.EventRollbackFailed), nil, "hook")),
			func(h *harness) {
				h.createAt("d", "prod", fsm.StateFailed)
				h.drive("d", fsm.StateRollingBack, fsm.StateFailed)
			},
			[]string{"d.DeploymentFailed.hook", "d.RollbackFailed.hook"}},
		{"superseded raises nothing", routes(route(all, nil, "hook")),
			func(h *harness) { h.createAt("old", "prod", fsm.StatePlanning); h.create("new", "prod") },
			[]string{"new.DeploymentCreated.hook", "old.DeploymentCreated.hook"}},
		{"rollback deployment", routes(route(events(fsm.EventDeploymentCreated), nil, "hook")),
			func(h *harness) {
				h.createAt("a", "prod", fsm.StateCompleted)
				h.createAt("b", "prod", fsm.StateCompleted)
				d := h.mustApply(&fsm.CreateRollback{Environment: "prod", To: h.id("a"), Initiator: "alice", Time: h.tick()})
				h.ids["rb"] = d.(*fsm.Deployment).ID
			},
			[]string{"a.DeploymentCreated.hook", "b.DeploymentCreated.hook", "rb.DeploymentCreated.hook"}},
		{"dry run raises nothing", routes(route(all, nil, "hook")),
			func(h *harness) {
				d := h.mustApply(&fsm.CreateDeployment{Environment: "prod", Commit: "c", Kind: fsm.KindAuto,
					Initiator: "watcher", Time: h.tick(), DryRun: true}).(*fsm.Deployment)
				h.ids["dry"] = d.ID
				h.drive("dry", fsm.StateValidating, fsm.StatePlanning, fsm.StateFailed)
			}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if tt.routes != nil {
				h.mustApply(tt.routes)
			}
			tt.run(h)
			if got := h.notificationIDs(); !slices.Equal(got, tt.want) {
				t.Errorf("notifications = %v; want %v", got, tt.want)
			}
			for _, n := range h.fsm.Notifications(fsm.NotificationFilter{}) {
				if n.State != fsm.NotificationPending || n.Attempts != 0 || !n.NextTry.Equal(n.CreatedAt) ||
					!n.Updated.Equal(n.CreatedAt) || n.CreatedAt.IsZero() || n.Index == 0 {
					t.Errorf("new notification %+v; want pending, no attempts, due at its creation", n)
				}
			}
		})
	}
}

// TestNotificationContents: a notification says who and why, bounded, and
// the time and index of the move that raised it.
func TestNotificationContents(t *testing.T) {
	h := newHarness(t)
	h.mustApply(routes(route(fsm.AllNotificationEvents, nil, "hook")))
	h.createAt("d", "prod", fsm.StateAwaitingApproval)
	h.approve("d", "alice")
	moved := h.mustTransition("d", fsm.StateScheduled)
	at := moved.Transitions[len(moved.Transitions)-1]
	approved, ok := h.fsm.Notification(h.id("d") + ".Approved.hook")
	if !ok || approved.Actor != "alice" || !approved.CreatedAt.Equal(at.Time.Time()) || approved.Index != at.Index ||
		approved.Environment != "prod" || approved.DeploymentID != h.id("d") || approved.Channel != "hook" ||
		approved.Event != fsm.EventApproved {
		t.Errorf("Notification(Approved) = %+v, %v; want by alice at %v, index %d", approved, ok, at.Time, at.Index)
	}
	if n, _ := h.fsm.Notification(h.id("d") + ".DeploymentScheduled.hook"); n.Actor != "watcher" {
		t.Errorf("DeploymentScheduled actor = %q; want the initiator, watcher", n.Actor)
	}
	h.mustApply(&fsm.TransitionDeployment{ID: h.id("d"), To: fsm.StateFailed, Time: h.tick(),
		Message: strings.Repeat("é", fsm.MaxNotificationReason), Error: "boom"})
	failed, _ := h.fsm.Notification(h.id("d") + ".DeploymentFailed.hook")
	if len(failed.Reason) > fsm.MaxNotificationReason || !strings.HasPrefix(failed.Reason, "éé") ||
		!strings.HasSuffix(failed.Reason, "é") {
		t.Errorf("DeploymentFailed reason is %d bytes ending %q; want at most %d, cut between runes",
			len(failed.Reason), failed.Reason[len(failed.Reason)-4:], fsm.MaxNotificationReason)
	}

	h.createAt("e", "prod", fsm.StateAwaitingApproval)
	h.mustApply(&fsm.Reject{ID: h.id("e"), Identity: "bob", Time: h.tick(), Reason: "too risky"})
	if n, _ := h.fsm.Notification(h.id("e") + ".Rejected.hook"); n.Actor != "bob" || n.Reason != "too risky" {
		t.Errorf("Rejected = %+v; want by bob, reason too risky", n)
	}
	h.createAt("f", "prod", fsm.StateValidating)
	h.mustApply(&fsm.TransitionDeployment{ID: h.id("f"), To: fsm.StateFailed, Time: h.tick(),
		Message: "validation failed", Error: "bad yaml"})
	if n, _ := h.fsm.Notification(h.id("f") + ".DeploymentFailed.hook"); n.Reason != "validation failed: bad yaml" {
		t.Errorf("DeploymentFailed reason = %q; want the message and the error", n.Reason)
	}
}

// TestNotificationsNeverTwice: retried or repeated commands never make a
// second notification of one event for one channel, and routes set later
// do not notify what happened before.
func TestNotificationsNeverTwice(t *testing.T) {
	h := newHarness(t)
	set := routes(route(fsm.AllNotificationEvents, nil, "hook"), route(events(fsm.EventApprovalRequired), nil, "hook"))
	h.createAt("before", "prod", fsm.StateCompleted)
	h.mustApply(set)
	if got := h.notificationIDs(); len(got) != 0 {
		t.Fatalf("notifications after setting routes = %v; want none for what happened before", got)
	}
	h.createAt("d", "prod", fsm.StateAwaitingApproval)
	before := h.notificationIDs()
	// A retried transition is refused; a retried approval is a duplicate;
	// the same routes again change nothing.
	c := &fsm.TransitionDeployment{ID: h.id("d"), To: fsm.StateAwaitingApproval, Time: h.tick(),
		Approval: &fsm.ApprovalRequirement{Required: 1}}
	h.refused(c, fsm.ErrIllegalTransition)
	h.approve("d", "alice")
	h.approve("d", "alice")
	if res := h.mustApply(set).(*fsm.SetNotificationRoutesResult); res.Changed {
		t.Errorf("the same routes again: Changed = true; want false")
	}
	if got := h.notificationIDs(); !slices.Equal(got, before) {
		t.Errorf("notifications after retries = %v; want %v", got, before)
	}
	if want := []string{"d.ApprovalRequired.hook", "d.DeploymentCreated.hook"}; !slices.Equal(before, want) {
		t.Errorf("notifications = %v; want %v", before, want)
	}
}

// TestNotificationDelivery: the delivery commands move a notification
// through its states, and say what they did.
func TestNotificationDelivery(t *testing.T) {
	h := newHarness(t)
	h.mustApply(routes(route(events(fsm.EventDeploymentCreated), nil, "hook", "team")))
	h.create("d", "prod")
	id := h.id("d") + ".DeploymentCreated.hook"
	result := func(c fsm.Command) fsm.NotificationResult {
		t.Helper()
		r, ok := h.mustApply(c).(*fsm.NotificationResult)
		if !ok {
			t.Fatalf("Apply(%s) result is not a *fsm.NotificationResult", describe(c))
		}
		if got, _ := h.fsm.Notification(r.Notification.ID); got != r.Notification {
			t.Fatalf("Apply(%s) returned %+v; the FSM holds %+v", describe(c), r.Notification, got)
		}
		return *r
	}

	at := h.tick()
	r := result(&fsm.RecordNotificationAttempt{ID: id, Time: at, Error: strings.Repeat("x", 5000),
		NextTry: at.Add(time.Minute)})
	if n := r.Notification; n.State != fsm.NotificationPending || n.Attempts != 1 ||
		len(n.LastError) != fsm.MaxNotificationError || !n.NextTry.Equal(at.Add(time.Minute)) || !n.Updated.Equal(at) {
		t.Errorf("after a failed attempt: %+v; want pending, 1 attempt, error cut to %d, next try in a minute",
			n, fsm.MaxNotificationError)
	}
	at = h.tick()
	r = result(&fsm.RecordNotificationAttempt{ID: id, Time: at, Error: "refused", GiveUp: true})
	if n := r.Notification; n.State != fsm.NotificationFailed || n.Attempts != 2 || n.LastError != "refused" {
		t.Errorf("after giving up: %+v; want failed after 2 attempts", n)
	}
	if due := h.fsm.DueNotifications(at.Add(time.Hour), 0); slices.Contains(ids(due), id) {
		t.Errorf("DueNotifications lists the failed %s", id)
	}
	at = h.tick()
	r = result(&fsm.RetryNotification{ID: id, Time: at})
	if n := r.Notification; n.State != fsm.NotificationPending || n.Attempts != 0 || !n.NextTry.Equal(at) ||
		n.LastError != "refused" {
		t.Errorf("after a retry: %+v; want pending, attempts 0, due now, the last error kept", n)
	}
	at = h.tick()
	r = result(&fsm.MarkNotificationDelivered{ID: id, Time: at})
	if n := r.Notification; r.Duplicate || n.State != fsm.NotificationDelivered || n.Attempts != 1 ||
		!n.DeliveredAt.Equal(at) || !n.NextTry.IsZero() {
		t.Errorf("after delivery: %+v (duplicate %v); want delivered at %v after 1 attempt", n, r.Duplicate, at)
	}
	before := h.stateBytes()
	r = result(&fsm.MarkNotificationDelivered{ID: id, Time: h.tick()})
	if !r.Duplicate || !r.Notification.DeliveredAt.Equal(at) {
		t.Errorf("delivered again: %+v; want a duplicate, delivered at %v still", r, at)
	}
	if after := h.stateBytes(); !bytes.Equal(before, after) {
		t.Errorf("a duplicate delivery changed the state")
	}
	h.refused(&fsm.RecordNotificationAttempt{ID: id, Time: h.tick(), Error: "late", GiveUp: true}, fsm.ErrWrongState)

	// A failed notification whose delivery succeeded after all.
	team := h.id("d") + ".DeploymentCreated.team"
	result(&fsm.RecordNotificationAttempt{ID: team, Time: h.tick(), Error: "timeout", GiveUp: true})
	if n := result(&fsm.MarkNotificationDelivered{ID: team, Time: h.tick()}).Notification; n.State != fsm.NotificationDelivered {
		t.Errorf("a failed notification marked delivered is %s; want delivered", n.State)
	}
}

// TestNotificationQueries: the reads filter, order and copy.
func TestNotificationQueries(t *testing.T) {
	h := newHarness(t)
	h.mustApply(routes(route(events(fsm.EventDeploymentCreated, fsm.EventDeploymentFailed), nil, "hook")))
	h.create("a", "prod")
	h.create("b", "staging")
	h.mustTransition("b", fsm.StateFailed)
	h.create("c", "qa")
	a, b, c := h.id("a"), h.id("b"), h.id("c")
	all := []string{c + ".DeploymentCreated.hook", b + ".DeploymentFailed.hook", b + ".DeploymentCreated.hook",
		a + ".DeploymentCreated.hook"}
	listed := func(ns []fsm.Notification) []string {
		out := make([]string, len(ns))
		for i, n := range ns {
			out[i] = n.ID
		}
		return out
	}
	h.mustApply(&fsm.MarkNotificationDelivered{ID: b + ".DeploymentCreated.hook", Time: h.tick()})
	tests := []struct {
		filter fsm.NotificationFilter
		want   []string
	}{
		{fsm.NotificationFilter{}, all},
		{fsm.NotificationFilter{Limit: 2}, all[:2]},
		{fsm.NotificationFilter{DeploymentID: b}, all[1:3]},
		{fsm.NotificationFilter{State: fsm.NotificationDelivered}, all[2:3]},
		{fsm.NotificationFilter{State: fsm.NotificationPending, Limit: 1}, all[:1]},
		{fsm.NotificationFilter{DeploymentID: "prod-99"}, []string{}},
	}
	for _, tt := range tests {
		if got := listed(h.fsm.Notifications(tt.filter)); !slices.Equal(got, tt.want) {
			t.Errorf("Notifications(%+v) = %v; want %v", tt.filter, got, tt.want)
		}
	}
	// Due: pending, next try not after now, oldest first.
	first, _ := h.fsm.Notification(a + ".DeploymentCreated.hook")
	if got := listed(h.fsm.DueNotifications(first.CreatedAt.Add(-time.Second), 0)); len(got) != 0 {
		t.Errorf("DueNotifications(before anything) = %v; want none", got)
	}
	if got, want := listed(h.fsm.DueNotifications(first.CreatedAt, 0)), []string{a + ".DeploymentCreated.hook"}; !slices.Equal(got, want) {
		t.Errorf("DueNotifications(at the first's creation) = %v; want %v", got, want)
	}
	later := h.tick()
	h.mustApply(&fsm.RecordNotificationAttempt{ID: a + ".DeploymentCreated.hook", Time: later, Error: "503",
		NextTry: later.Add(time.Hour)})
	want := []string{b + ".DeploymentFailed.hook", c + ".DeploymentCreated.hook"}
	if got := listed(h.fsm.DueNotifications(later, 0)); !slices.Equal(got, want) {
		t.Errorf("DueNotifications(now) = %v; want %v", got, want)
	}
	if got := listed(h.fsm.DueNotifications(later, 1)); !slices.Equal(got, want[:1]) {
		t.Errorf("DueNotifications(now, 1) = %v; want %v", got, want[:1])
	}
	if got := listed(h.fsm.DueNotifications(later.Add(time.Hour), 0)); len(got) != 3 || got[0] != a+".DeploymentCreated.hook" {
		t.Errorf("DueNotifications(in an hour) = %v; want the retried one first, then %v", got, want)
	}
	if _, ok := h.fsm.Notification("prod-99.DeploymentCreated.hook"); ok {
		t.Errorf("Notification(unknown) found")
	}
	// Copies: changing what a read returned changes nothing held.
	rs := h.fsm.NotificationRoutes()
	rs[0].Channels[0] = "changed"
	rs[0].Events[0] = "Changed"
	if got := h.fsm.NotificationRoutes(); got[0].Channels[0] != "hook" || got[0].Events[0] != fsm.EventDeploymentCreated {
		t.Errorf("NotificationRoutes() = %+v after changing a copy; want it unchanged", got)
	}
}

// TestNotificationsPrunedWithDeployment: retention forgets a deployment's
// notifications with it, and only its.
func TestNotificationsPrunedWithDeployment(t *testing.T) {
	h := newHarness(t)
	h.mustApply(routes(route(events(fsm.EventDeploymentCreated, fsm.EventDeploymentCompleted), nil, "hook", "team")))
	h.mustApply(&fsm.SetSettings{HistoryRetention: 2})
	h.createAt("d1", "prod", fsm.StateCompleted)
	h.createAt("d2", "prod", fsm.StateCompleted)
	h.createAt("s1", "staging", fsm.StateCompleted)
	h.create("d3", "prod")
	if h.held("d1") {
		t.Fatalf("d1 is still held; the test wants it pruned")
	}
	want := []string{"d2.DeploymentCompleted.hook", "d2.DeploymentCompleted.team", "d2.DeploymentCreated.hook",
		"d2.DeploymentCreated.team", "d3.DeploymentCreated.hook", "d3.DeploymentCreated.team",
		"s1.DeploymentCompleted.hook", "s1.DeploymentCompleted.team", "s1.DeploymentCreated.hook", "s1.DeploymentCreated.team"}
	if got := h.notificationIDs(); !slices.Equal(got, want) {
		t.Errorf("notifications = %v; want %v", got, want)
	}
	if got := h.fsm.Notifications(fsm.NotificationFilter{DeploymentID: h.id("d1")}); len(got) != 0 {
		t.Errorf("Notifications(of pruned d1) = %v; want none", ids(got))
	}
	h.refused(&fsm.MarkNotificationDelivered{ID: h.id("d1") + ".DeploymentCreated.hook", Time: h.tick()}, fsm.ErrNotFound)
	// Pruning after a restore uses the rebuilt index.
	dst := fsm.New(nil)
	if err := dst.Restore(readCloserOf(h.dump())); err != nil {
		t.Fatal(err)
	}
	next := h.on(dst)
	for _, x := range []*harness{h, next} {
		x.drive("d3", pathTo[fsm.StateCompleted]...)
		x.create("d4", "prod")
	}
	if got, want := next.notificationIDs(), h.notificationIDs(); !slices.Equal(got, want) || slices.ContainsFunc(got,
		func(id string) bool { return strings.HasPrefix(id, "d2.") }) {
		t.Errorf("after pruning d2: restored %v, original %v; want the same, without d2's", got, want)
	}
}

// TestNotificationsSurviveSnapshot: notifications and routes are in the
// snapshot; their ids and contents are the same after a restore, and both
// FSMs go on the same way.
func TestNotificationsSurviveSnapshot(t *testing.T) {
	src := newHarness(t)
	src.mustApply(routes(route(fsm.AllNotificationEvents, nil, "hook"), route(events(fsm.EventApprovalRequired), []string{"prod"}, "mail")))
	workload(src)
	if len(src.fsm.Notifications(fsm.NotificationFilter{})) == 0 {
		t.Fatal("the workload raised no notification")
	}
	dst := fsm.New(nil)
	if err := dst.Restore(readCloserOf(persist(t, src.fsm))); err != nil {
		t.Fatalf("Restore() = %v", err)
	}
	filter := fsm.NotificationFilter{}
	if got, want := dst.Notifications(filter), src.fsm.Notifications(filter); !reflect.DeepEqual(got, want) {
		t.Errorf("Notifications() after Restore =\n%+v\nwant\n%+v", got, want)
	}
	if got, want := dst.NotificationRoutes(), src.fsm.NotificationRoutes(); !reflect.DeepEqual(got, want) {
		t.Errorf("NotificationRoutes() after Restore = %+v; want %+v", got, want)
	}
	next := src.on(dst)
	for _, h := range []*harness{src, next} {
		h.drive("p4", fsm.StateFailed)
		h.mustApply(&fsm.MarkNotificationDelivered{ID: h.id("p4") + ".DeploymentFailed.hook", Time: h.tick()})
	}
	if got, want := next.dump(), src.dump(); !bytes.Equal(got, want) {
		t.Errorf("after the same commands, restored Dump() =\n%s\nwant\n%s", got, want)
	}
}

// TestOldSnapshotHasNoNotifications: a snapshot written before the outbox
// restores with no routes and no notifications, and the outbox works on it.
func TestOldSnapshotHasNoNotifications(t *testing.T) {
	old, err := os.ReadFile(filepath.Join(goldenDir, "snapshot.json"))
	if err != nil {
		t.Fatal(err)
	}
	f := fsm.New(nil)
	if err := f.Restore(readCloserOf(old)); err != nil {
		t.Fatalf("Restore(golden snapshot) = %v", err)
	}
	if ns, rs := f.Notifications(fsm.NotificationFilter{}), f.NotificationRoutes(); len(ns) != 0 || len(rs) != 0 {
		t.Fatalf("after restoring a snapshot from before notifications: %d notifications, routes %v; want none", len(ns), rs)
	}
	h := newHarness(t).on(f)
	h.mustApply(routes(route(events(fsm.EventDeploymentCreated), nil, "hook")))
	d := h.mustApply(&fsm.CreateDeployment{Environment: "prod", Commit: "c9", Kind: fsm.KindAuto, Initiator: "w",
		Time: h.tick()}).(*fsm.Deployment)
	if _, ok := f.Notification(d.ID + ".DeploymentCreated.hook"); !ok {
		t.Errorf("no notification of %s created on the restored state", d.ID)
	}
}

// TestRestoreRefusesBadNotifications: a snapshot whose outbox is not one
// the commands could have made is refused, naming what is wrong.
func TestRestoreRefusesBadNotifications(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(goldenDir, "notifications-snapshot.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := fsm.CheckSnapshot(bytes.NewReader(good)); err != nil {
		t.Fatalf("CheckSnapshot(notifications golden snapshot) = %v", err)
	}
	// The golden snapshot has no routes left; put some in.
	withRoutes := bytes.Replace(good, []byte(`"notifications":{`),
		[]byte(`"notificationRoutes":[{"events":["Approved"],"channels":["team"]}],"notifications":{`), 1)
	if err := fsm.CheckSnapshot(bytes.NewReader(withRoutes)); err != nil {
		t.Fatalf("CheckSnapshot(with routes) = %v", err)
	}
	tests := []struct{ name, from, to, want string }{
		{"unknown state", `"state":"delivered"`, `"state":"sent"`, "unknown state"},
		{"unknown event", `"event":"ApprovalRequired"`, `"event":"Paged"`, "unknown event"},
		{"id not derived", `"id":"prod-1.Approved.team"`, `"id":"prod-1.Approved.ops-hook"`, "does not match its key"},
		{"key not derived", `"prod-1.Approved.team":{"id":"prod-1.Approved.team"`,
			`"prod-1.Approved.x":{"id":"prod-1.Approved.x"`, "id is not"},
		{"orphan", `"deploymentId":"prod-1","environment":"prod","channel":"team","event":"Approved"`,
			`"deploymentId":"prod-7","environment":"prod","channel":"team","event":"Approved"`, "id is not"},
		{"other environment", `"deploymentId":"prod-1","environment":"prod"`, `"deploymentId":"prod-1","environment":"qa"`,
			"environment"},
		{"negative attempts", `"attempts":0`, `"attempts":-1`, "negative"},
		{"long error", `"lastError":"POST http://hook: connection refused"`,
			`"lastError":"` + strings.Repeat("x", fsm.MaxNotificationError+1) + `"`, "longer"},
		{"null notification", `"prod-1.Approved.team":{`, `"prod-1.Approved.team":null,"x":{`, "does not match"},
		{"bad route", `"events":["Approved"]`, `"events":["Paged"]`, "notification routes"},
		{"route without channels", `"channels":["team"]`, `"channels":[]`, "no channels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(withRoutes, []byte(tt.from)) {
				t.Fatalf("the snapshot holds no %s", tt.from)
			}
			bad := bytes.Replace(withRoutes, []byte(tt.from), []byte(tt.to), 1)
			f := fsm.New(nil)
			err := f.Restore(readCloserOf(bad))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Restore(%s) = %v; want an error saying %q", tt.name, err, tt.want)
			}
			if len(f.Notifications(fsm.NotificationFilter{})) != 0 {
				t.Errorf("a refused restore left notifications behind")
			}
		})
	}
}
