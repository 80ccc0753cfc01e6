package fsm

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestEventLogMatchesScan: the in-memory event log answers EventsAfter
// exactly as a scan of every deployment does, from any cursor, with and
// without an environment, after a restore too.
func TestEventLogMatchesScan(t *testing.T) {
	f := New(nil)
	rng := rand.New(rand.NewPCG(1, 2))
	apply := applier(t, f)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	envs := []string{"a", "b", "c"}
	for i := range 400 {
		env := envs[rng.IntN(len(envs))]
		if rng.IntN(3) == 0 {
			apply(&CreateDeployment{Environment: env, Commit: fmt.Sprint(i), Kind: KindAuto, Time: t0})
			continue
		}
		if e, ok := f.Environment(env); ok && e.Waiting != "" {
			to := []DeploymentState{StateValidating, StatePlanning, StateFailed, StateSuperseded}[rng.IntN(4)]
			apply(&TransitionDeployment{ID: e.Waiting, To: to, Time: t0})
		}
	}
	check := func(f *FSM, label string) {
		t.Helper()
		f.mu.RLock()
		defer f.mu.RUnlock()
		all := f.scanEvents(EventID{}, "")
		if len(all) < 100 {
			t.Fatalf("%s: only %d events; the test proves little", label, len(all))
		}
		cursors := []EventID{{}}
		for _, e := range all {
			id, _ := ParseEventID(e.ID)
			cursors = append(cursors, id)
		}
		for _, c := range cursors {
			for _, env := range []string{"", "b"} {
				if got, want := f.events.since(c, env), f.scanEvents(c, env); !reflect.DeepEqual(got, want) {
					t.Fatalf("%s: after %v env %q: log gives %d events, scan %d", label, c, env, len(got), len(want))
				}
			}
		}
	}
	check(f, "applied")
	g, _ := restored(t, f)
	check(g, "restored")
}

// restored returns a new FSM restored from f's snapshot, and the snapshot.
func restored(t *testing.T, f *FSM) (*FSM, []byte) {
	t.Helper()
	b, err := f.Dump()
	if err != nil {
		t.Fatal(err)
	}
	g := New(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		t.Fatal(err)
	}
	return g, b
}

// applier returns a function that applies commands to f as raft would,
// each as the next log entry.
func applier(t *testing.T, f *FSM) func(Command) any {
	var index uint64
	return func(c Command) any {
		t.Helper()
		b, err := Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		index++
		return f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: b})
	}
}

// TestRestoredEventLogIsTheNewest: restoring a state with more transitions
// than the event log holds fills the log with exactly the newest
// eventLogSize of them, in order, ties at the first index kept included,
// and marks it incomplete.
func TestRestoredEventLogIsTheNewest(t *testing.T) {
	f := New(nil)
	apply := applier(t, f)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Each create supersedes the waiting deployment: two transitions at
	// one index, so that the cut falls among ties somewhere.
	apply(&SetSettings{HistoryRetention: 100000})
	for i := 0; i < eventLogSize/2+777; i++ {
		apply(&CreateDeployment{Environment: fmt.Sprintf("e%d", i%7), Commit: fmt.Sprint(i), Kind: KindAuto, Time: t0})
	}
	g, _ := restored(t, f)
	g.mu.RLock()
	defer g.mu.RUnlock()
	all := g.scanEvents(EventID{}, "")
	if len(all) <= eventLogSize {
		t.Fatalf("only %d events; want more than the log's %d", len(all), eventLogSize)
	}
	if want := all[len(all)-eventLogSize:]; !reflect.DeepEqual(g.events.events, want) {
		t.Errorf("restored event log holds %d events from %s; want the newest %d, from %s",
			len(g.events.events), g.events.events[0].ID, len(want), want[0].ID)
	}
	if g.events.complete {
		t.Errorf("restored event log is marked complete; want incomplete")
	}
}
