package fsm_test

import (
	"testing"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

func TestEventsAfter(t *testing.T) {
	h := newHarness(t)
	h.create("a", "prod")                      // index 1: a Pending
	h.create("b", "prod")                      // index 2: a Superseded, b Pending
	h.create("c", "staging")                   // index 3
	h.mustTransition("b", fsm.StateValidating) // index 4
	all := h.fsm.EventsAfter(fsm.EventID{}, "")
	var got []string
	for _, e := range all {
		got = append(got, e.ID+":"+h.name(e.DeploymentID)+":"+e.To.String())
	}
	want := []string{"1.0:a:Pending", "2.0:a:Superseded", "2.1:b:Pending", "3.0:c:Pending", "4.0:b:Validating"}
	if len(got) != len(want) {
		t.Fatalf("EventsAfter(start) = %v; want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("EventsAfter(start) = %v; want %v", got, want)
		}
	}
	// Resuming after 2.0 gives what followed it; filtering by environment
	// keeps the ids.
	if rest := h.fsm.EventsAfter(fsm.EventID{Index: 2, N: 0}, ""); len(rest) != 3 || rest[0].ID != "2.1" {
		t.Errorf("EventsAfter(2.0) = %+v; want 2.1 onwards", rest)
	}
	if prod := h.fsm.EventsAfter(fsm.EventID{}, "prod"); len(prod) != 4 || prod[3].ID != "4.0" {
		t.Errorf("EventsAfter(start, prod) = %+v; want the four prod events with their ids", prod)
	}
	for _, s := range []string{"x", "1", "1.-1", "a.b"} {
		if _, err := fsm.ParseEventID(s); err == nil {
			t.Errorf("ParseEventID(%q) = nil error; want one", s)
		}
	}
	if id, err := fsm.ParseEventID("42.3"); err != nil || id != (fsm.EventID{Index: 42, N: 3}) {
		t.Errorf("ParseEventID(42.3) = %v, %v", id, err)
	}
}
