package view_test

import (
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/ui/view"
)

func tr(from, to api.DeploymentState, at time.Duration, index uint64, msg string) api.Transition {
	return api.Transition{From: from, To: to, Time: t0.Add(at), Index: index, Message: msg}
}

// TestTimelineDurations: each state lasted until the next transition; the
// last one, until now when it is not terminal, and has no duration when it
// is.
func TestTimelineDurations(t *testing.T) {
	ts := []api.Transition{
		tr("", api.StatePending, 0, 10, "commit seen"),
		tr(api.StatePending, api.StateValidating, 850*time.Millisecond, 11, ""),
		tr(api.StateValidating, api.StateAwaitingApproval, 13*time.Second, 12, "needs 2 approvals"),
		tr(api.StateAwaitingApproval, api.StateApplying, 13*time.Second+3*time.Minute+4*time.Second, 20, ""),
	}
	now := t0.Add(2*time.Hour + 13*time.Second + 3*time.Minute + 4*time.Second + 5*time.Minute)
	nodes := checkSafe(t, view.Timeline(ts, now))
	ol := one(t, nodes, "ol#timeline")
	items := find(in(ol), "li.transition")
	if len(items) != 4 {
		t.Fatalf("%d transitions; want 4", len(items))
	}
	wantSpent := []string{"850ms in Pending", "12s in Validating", "3m04s in AwaitingApproval", "in Applying for 2h05m so far"}
	for i, li := range items {
		if got := text(one(t, in(li), "span.spent")); got != wantSpent[i] {
			t.Errorf("transition %d spent = %q; want %q", i, got, wantSpent[i])
		}
		tm := one(t, in(li), "time")
		if got, want := attr(tm, "datetime"), ts[i].Time.Format(time.RFC3339Nano); got != want {
			t.Errorf("transition %d datetime = %q; want %q", i, got, want)
		}
		if _, err := time.Parse(time.RFC3339, attr(tm, "datetime")); err != nil {
			t.Errorf("transition %d datetime is not RFC 3339: %v", i, err)
		}
		if got, want := text(one(t, in(li), "span.raft-index")), "raft index "+[]string{"10", "11", "12", "20"}[i]; got != want {
			t.Errorf("transition %d index = %q; want %q", i, got, want)
		}
	}
	if got := find(in(items[0]), "span.state-from"); len(got) != 0 {
		t.Errorf("the first transition shows a from state: %s", render(got))
	}
	if got := text(one(t, in(items[1]), "span.states")); got != "Pending → Validating" {
		t.Errorf("states = %q", got)
	}
	if got := text(one(t, in(items[2]), "span.message")); got != "needs 2 approvals" {
		t.Errorf("message = %q", got)
	}
	if !hasClass(items[3], "current") {
		t.Errorf("last transition classes = %q; want current", attr(items[3], "class"))
	}

	ts = append(ts, tr(api.StateApplying, api.StateCompleted, 3*time.Hour, 30, ""))
	nodes = checkSafe(t, view.Timeline(ts, now))
	last := find(nodes, "li.transition")[4]
	if !hasClass(last, "terminal") || len(find(in(last), "span.spent")) != 0 {
		t.Errorf("terminal last transition = %s; want class terminal and no duration", render(in(last)))
	}
	if got := text(one(t, in(find(nodes, "li.transition")[3]), "span.spent")); !strings.HasPrefix(got, "2h") {
		t.Errorf("Applying, before Completed, spent %q", got)
	}
}

// TestTimelineEdges: no transitions; a transition without a time or
// followed by an earlier one shows no duration.
func TestTimelineEdges(t *testing.T) {
	nodes := checkSafe(t, view.Timeline(nil, t0))
	if got := text(one(t, nodes, "ol#timeline li.empty")); got != "No transitions yet." {
		t.Errorf("empty timeline says %q", got)
	}
	ts := []api.Transition{
		tr("", api.StatePending, time.Minute, 1, ""),
		tr(api.StatePending, api.StateValidating, 0, 2, ""), // a leader with a slower clock
		{From: api.StateValidating, To: api.StatePlanning, Index: 3},
	}
	nodes = checkSafe(t, view.Timeline(ts, t0.Add(time.Hour)))
	if got := texts(find(nodes, "span.spent")); len(got) != 0 {
		t.Errorf("durations %q shown; want none", got)
	}
	if got := len(find(nodes, "time")); got != 2 {
		t.Errorf("%d <time> elements; want 2 (none for the transition without a time)", got)
	}
}
