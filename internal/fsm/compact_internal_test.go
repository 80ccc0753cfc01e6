package fsm

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
	"unsafe"
)

// TestCompactKeepsState: a restored state, compacted, holds exactly what the
// snapshot held (its Dump is the same bytes), shares one copy of repeated
// strings, and keeps no spare capacity in its lists.
func TestCompactKeepsState(t *testing.T) {
	f := New(nil)
	rng := rand.New(rand.NewPCG(3, 4))
	apply := applier(t, f)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	envs := []string{"prod", "staging", "dev"}
	for i := range 600 {
		env := envs[rng.IntN(len(envs))]
		e, _ := f.Environment(env)
		switch {
		case e == nil || e.Waiting == "" && e.Current == "":
			apply(&CreateDeployment{Environment: env, Commit: fmt.Sprintf("c%03d", i%7), Kind: KindAuto, Time: t0})
		case e.Waiting != "":
			to := []DeploymentState{StateValidating, StatePlanning, StateFailed, StateSuperseded}[rng.IntN(4)]
			apply(&TransitionDeployment{ID: e.Waiting, To: to, Time: t0, Message: "step " + to.String()})
		case e.Current != "":
			d, _ := f.Deployment(e.Current)
			next := map[DeploymentState]DeploymentState{
				StateValidating: StatePlanning, StatePlanning: StateBackingUp, StateBackingUp: StateApplying,
				StateApplying: StatePostValidating, StatePostValidating: StateCompleted,
			}[d.State]
			if next == 0 {
				next = StateFailed
			}
			apply(&TransitionDeployment{ID: d.ID, To: next, Time: t0, Message: "step " + next.String()})
		}
	}
	g, b := restored(t, f)
	again, err := g.Dump()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, b) {
		t.Fatalf("the restored state dumps %d bytes that differ from the snapshot's %d", len(again), len(b))
	}

	g.mu.RLock()
	defer g.mu.RUnlock()
	if len(g.st.Deployments) < 50 {
		t.Fatalf("only %d deployments; the test proves little", len(g.st.Deployments))
	}
	same := func(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }
	first := map[string]*Deployment{}
	for key, d := range g.st.Deployments {
		if !same(key, d.ID) {
			t.Errorf("deployment %s: its map key is a copy of its id", d.ID)
		}
		if o := first[d.Environment]; o == nil {
			first[d.Environment] = d
		} else if !same(o.Environment, d.Environment) {
			t.Errorf("deployments %s and %s hold two copies of %q", o.ID, d.ID, d.Environment)
		}
		if cap(d.Transitions) != len(d.Transitions) {
			t.Errorf("deployment %s: transitions hold %d, capacity %d", d.ID, len(d.Transitions), cap(d.Transitions))
		}
	}
	for _, e := range g.st.Environments {
		for _, id := range e.History {
			if d := g.st.Deployments[id]; d != nil && !same(id, d.ID) {
				t.Errorf("environment %s: history id %s is a copy of the deployment's", e.Name, id)
			}
		}
	}
}

// TestRecentEventsAfterReadsOnlyTheLog: RecentEventsAfter answers from the
// in-memory log, as EventsAfter does when the log reaches back far enough,
// and gives nothing older than the log.
func TestRecentEventsAfterReadsOnlyTheLog(t *testing.T) {
	f := New(nil)
	apply := applier(t, f)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		apply(&CreateDeployment{Environment: "prod", Commit: fmt.Sprint(i), Kind: KindAuto, Time: t0})
	}
	all := f.EventsAfter(EventID{}, "")
	if got := f.RecentEventsAfter(EventID{}, ""); !reflect.DeepEqual(got, all) || len(all) == 0 {
		t.Fatalf("RecentEventsAfter(start) = %d events; EventsAfter gives %d", len(got), len(all))
	}
	// Trim the log to its last two events: EventsAfter still scans the
	// deployments for the older ones, RecentEventsAfter does not.
	f.mu.Lock()
	f.events = eventLog{ids: f.events.ids[len(f.events.ids)-2:], events: f.events.events[len(f.events.events)-2:]}
	f.mu.Unlock()
	if got := f.EventsAfter(EventID{}, ""); len(got) != len(all) {
		t.Errorf("EventsAfter(start) after trimming = %d events; want %d", len(got), len(all))
	}
	if got := f.RecentEventsAfter(EventID{}, ""); !reflect.DeepEqual(got, all[len(all)-2:]) {
		t.Errorf("RecentEventsAfter(start) after trimming = %+v; want the log's two", got)
	}
}
