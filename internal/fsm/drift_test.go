package fsm_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// TestDriftRecordedOnceAndCleared: a drift of the deployed deployment is
// recorded with its files sorted, recording it again changes nothing (the
// leader may retry), other files update it and keep since when, and
// clearing it twice clears it once. A DriftDetected notification is raised
// for a new drift only, and forgotten with its deployment.
func TestDriftRecordedOnceAndCleared(t *testing.T) {
	h := newHarness(t)
	h.mustApply(&fsm.SetNotificationRoutes{Routes: []fsm.NotificationRoute{
		{Events: []fsm.NotificationEvent{fsm.EventDriftDetected}, Channels: []string{"hook"}}}})
	done := h.createAt("done", "prod", fsm.StateCompleted)
	set := func(files ...string) *fsm.DriftResult {
		t.Helper()
		return h.mustApply(&fsm.SetDrift{Environment: "prod", Deployment: done.ID, Drifted: true,
			Targets: []string{"directory /srv/prod"}, Files: files, Time: h.tick()}).(*fsm.DriftResult)
	}
	first := set("roads.json", "metadata.json")
	dr := first.Environment.Drift
	if first.Unchanged || dr == nil || !slices.Equal(dr.Files, []string{"metadata.json", "roads.json"}) ||
		dr.Deployment != done.ID || dr.Index != h.index() {
		t.Fatalf("record drift = %+v (drift %+v); want it recorded, files sorted, at index %d", first, dr, h.index())
	}
	noteID := fsm.NotificationID(done.ID, fsm.EventDriftDetected, "hook")
	n, ok := h.fsm.Notification(noteID)
	if !ok || n.State != fsm.NotificationPending || n.Environment != "prod" || n.Reason == "" {
		t.Fatalf("notification %s = %+v, %v; want a pending DriftDetected naming the files", noteID, n, ok)
	}

	before := h.stateBytes()
	if again := set("metadata.json", "roads.json"); !again.Unchanged {
		t.Errorf("record the same drift again = %+v; want unchanged", again)
	}
	if after := h.stateBytes(); string(after) != string(before) {
		t.Errorf("recording the same drift again changed the state")
	}

	moved := set("metadata.json")
	if moved.Unchanged || moved.Environment.Drift.Since != dr.Since || !slices.Equal(moved.Environment.Drift.Files, []string{"metadata.json"}) {
		t.Errorf("record other files = %+v; want them updated, since %v kept", moved.Environment.Drift, dr.Since)
	}
	if n2, _ := h.fsm.Notification(noteID); n2.Index != n.Index {
		t.Errorf("an update of the drift raised a new notification (index %d, was %d)", n2.Index, n.Index)
	}

	clear := &fsm.SetDrift{Environment: "prod", Time: h.tick()}
	if res := h.mustApply(clear).(*fsm.DriftResult); res.Unchanged || res.Environment.Drift != nil {
		t.Errorf("clear = %+v; want the drift cleared", res)
	}
	if res := h.mustApply(clear).(*fsm.DriftResult); !res.Unchanged {
		t.Errorf("clear again = %+v; want unchanged", res)
	}

	// A new drift of the same deployment: the notification, delivered
	// since, is raised again.
	h.mustApply(&fsm.MarkNotificationDelivered{ID: noteID, Time: h.tick()})
	set("appsettings.json")
	if n3, _ := h.fsm.Notification(noteID); n3.State != fsm.NotificationPending || n3.Index != h.index() {
		t.Errorf("notification after a new drift = %+v; want pending again, raised at %d", n3, h.index())
	}

	// Retention forgets the deployment's notifications, the drift's with
	// them.
	h.mustApply(&fsm.SetSettings{HistoryRetention: 1})
	h.createAt("newer", "prod", fsm.StateCompleted)
	if _, ok := h.fsm.Notification(noteID); ok || h.held("done") {
		t.Errorf("deployment done held %v, its drift notification held %v; want both forgotten", h.held("done"), ok)
	}
}

// TestDriftBounded: a drift lists at most MaxDriftFiles files and counts
// the others; more is refused.
func TestDriftBounded(t *testing.T) {
	h := newHarness(t)
	done := h.createAt("done", "prod", fsm.StateCompleted)
	files := make([]string, fsm.MaxDriftFiles+1)
	for i := range files {
		files[i] = string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".json"
	}
	c := &fsm.SetDrift{Environment: "prod", Deployment: done.ID, Drifted: true, Targets: []string{"directory /x"},
		Files: files, Time: h.tick()}
	h.refused(c, fsm.ErrInvalid)
	c.Files, c.MoreFiles = files[:fsm.MaxDriftFiles], 1000
	res := h.mustApply(c).(*fsm.DriftResult)
	if d := res.Environment.Drift; len(d.Files) != fsm.MaxDriftFiles || d.MoreFiles != 1000 {
		t.Errorf("drift = %d files and %d more; want %d and 1000", len(d.Files), d.MoreFiles, fsm.MaxDriftFiles)
	}
	// The result is a copy: changing it changes nothing in the state.
	res.Environment.Drift.Files[0] = "changed"
	if got := h.environment("prod").Drift.Files[0]; got == "changed" {
		t.Errorf("the state shares its drift's files with a result")
	}
}

// TestSelfHeal: a self-heal deployment redeploys the deployed commit of a
// drifted environment, once per drift, and only when nothing else is
// waiting or active; a new drift allows another.
func TestSelfHeal(t *testing.T) {
	h := newHarness(t)
	done := h.createAt("done", "prod", fsm.StateCompleted)
	heal := func() *fsm.CreateDeployment {
		return &fsm.CreateDeployment{Environment: "prod", Commit: done.Commit, Kind: fsm.KindSelfHeal,
			Initiator: "drift", Time: h.tick()}
	}
	h.refused(heal(), fsm.ErrWrongState)
	h.mustApply(&fsm.SetDrift{Environment: "prod", Deployment: done.ID, Drifted: true,
		Targets: []string{"directory /x"}, Files: []string{"metadata.json"}, Time: h.tick()})
	other := heal()
	other.Commit = "elsewhere"
	h.refused(other, fsm.ErrInvalid)
	h.create("queued", "prod")
	h.refused(heal(), fsm.ErrConflict)
	h.mustApply(&fsm.CancelDeployment{ID: h.id("queued"), Identity: "bob", Time: h.tick(), Reason: "not now"})

	d := h.mustApply(heal()).(*fsm.Deployment)
	if d.Kind != fsm.KindSelfHeal || d.Commit != done.Commit || h.environment("prod").Drift.SelfHeal != d.ID {
		t.Fatalf("self-heal = %+v, drift %+v; want a self-heal of %s recorded on the drift", d, h.environment("prod").Drift, done.Commit)
	}
	if _, err := h.apply(heal()); !errors.Is(err, fsm.ErrWrongState) && !errors.Is(err, fsm.ErrConflict) {
		t.Errorf("a second self-heal of the same drift = %v; want it refused", err)
	}
}
