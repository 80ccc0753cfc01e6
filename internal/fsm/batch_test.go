package fsm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/fsm/fsmtest"
)

// batches cuts logs into consecutive batches of 1 to maxBatch entries,
// sizes drawn from r.
func batches(r *rand.Rand, logs []*raft.Log, maxBatch int) [][]*raft.Log {
	var out [][]*raft.Log
	for len(logs) > 0 {
		n := min(1+r.IntN(maxBatch), len(logs))
		out = append(out, logs[:n])
		logs = logs[n:]
	}
	return out
}

// eventsOf renders every event an FSM holds in memory.
func eventsOf(t *testing.T, f *fsm.FSM) []byte {
	t.Helper()
	b, err := json.Marshal(f.RecentEventsAfter(fsm.EventID{}, ""))
	if err != nil {
		t.Fatalf("encode events: %v", err)
	}
	return b
}

// TestApplyBatchSameAsApply feeds the log of random command sequences (with
// an unknown command marked safe to skip, and entries that are not
// commands, which raft hands a BatchingFSM too) to one FSM entry by entry
// through Apply and to another in batches of random sizes through
// ApplyBatch: every entry must return the same result, and both must end
// with the same applied index, the same Dump and the same events.
func TestApplyBatchSameAsApply(t *testing.T) {
	seed := propertySeed(t)
	for seq := range 20 {
		logs := runSequence(t, seed, seq, 300, false, nil)
		mid := len(logs) / 2
		skip := &raft.Log{Type: raft.LogCommand, Data: []byte{byte(fsm.IgnoreUnknownFlag) | 0x70, '{', '}'}}
		config := &raft.Log{Type: raft.LogConfiguration, Data: []byte("not a command")}
		noop := &raft.Log{Type: raft.LogNoop}
		logs = slices.Insert(logs, mid, skip, config)
		logs = slices.Insert(logs, 0, noop)
		logs = append(logs, &raft.Log{Type: raft.LogConfiguration})
		for i, l := range logs {
			l.Index = uint64(i + 1)
			l.Term = 1
		}

		one, batched := fsm.New(nil), fsm.New(nil)
		r := rand.New(rand.NewPCG(seed, uint64(seq)))
		i := 0
		for _, b := range batches(r, logs, 64) {
			got := batched.ApplyBatch(b)
			if len(got) != len(b) {
				t.Fatalf("sequence %d: ApplyBatch of %d entries returned %d results", seq, len(b), len(got))
			}
			for k, l := range b {
				want := one.Apply(l)
				rw, ew := fsmtest.Unpack(want)
				rg, eg := fsmtest.Unpack(got[k])
				if resultString(rg, eg) != resultString(rw, ew) {
					t.Fatalf("sequence %d entry %d (batch of %d): ApplyBatch = %v, %v; Apply = %v, %v",
						seq, l.Index, len(b), rg, eg, rw, ew)
				}
				i++
			}
			if a, b := batched.AppliedIndex(), one.AppliedIndex(); a != b {
				t.Fatalf("sequence %d after entry %d: AppliedIndex() = %d batched, %d one by one", seq, i, a, b)
			}
		}
		if a, b := dumpOf(t, batched), dumpOf(t, one); !bytes.Equal(a, b) {
			t.Fatalf("sequence %d: Dump() differs:\nbatched    %s\none by one %s", seq, a, b)
		}
		if a, b := eventsOf(t, batched), eventsOf(t, one); !bytes.Equal(a, b) {
			t.Fatalf("sequence %d: events differ:\nbatched    %s\none by one %s", seq, a, b)
		}
	}
}

// TestGoldenLogBatched applies each golden log in one ApplyBatch (and in
// batches of three): the results and the state must be the golden ones
// Apply gives.
func TestGoldenLogBatched(t *testing.T) {
	for _, g := range goldenLogs {
		entries := readGoldenLog(t, g.log)
		logs := make([]*raft.Log, len(entries))
		for i, e := range entries {
			logs[i] = &raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: e}
		}
		for _, size := range []int{len(logs), 3} {
			t.Run(fmt.Sprintf("%s/batches of %d", g.log, size), func(t *testing.T) {
				f := fsm.New(nil)
				var results bytes.Buffer
				for b := range slices.Chunk(logs, size) {
					for k, res := range f.ApplyBatch(b) {
						fmt.Fprintln(&results, goldenResult(b[k].Index, res))
					}
				}
				checkGolden(t, g.results, results.Bytes())
				checkGolden(t, g.snapshot, dumpOf(t, f))
			})
		}
	}
}

// TestApplyBatchTellsWaitersOnce: a batch wakes Changed once, after its
// last entry, and WaitForIndex of any of its entries returns then.
func TestApplyBatchTellsWaitersOnce(t *testing.T) {
	f := fsm.New(nil)
	var logs []*raft.Log
	for _, c := range []fsm.Command{
		&fsm.ObserveCommit{Environment: "prod", Commit: "c1", Time: time.Unix(1, 0).UTC()},
		&fsm.ObserveCommit{Environment: "prod", Commit: "c2", Time: time.Unix(2, 0).UTC()},
		&fsm.ObserveCommit{Environment: "prod", Commit: "c3", Time: time.Unix(3, 0).UTC()},
	} {
		data, err := fsm.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, &raft.Log{Index: uint64(len(logs) + 1), Term: 1, Type: raft.LogCommand, Data: data})
	}
	changed := f.Changed()
	waited := make(chan error, 1)
	go func() { waited <- f.WaitForIndex(context.Background(), 2) }()
	f.ApplyBatch(logs)
	select {
	case <-changed:
	default:
		t.Fatal("Changed() not closed after ApplyBatch")
	}
	select {
	case <-f.Changed():
		t.Fatal("Changed() after ApplyBatch is already closed; want it closed only at the next change")
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("WaitForIndex(2) = %v", err)
		}
	case <-ctx.Done():
		t.Fatal("WaitForIndex(2) still waiting after ApplyBatch applied index 3")
	}
	if got := f.AppliedIndex(); got != 3 {
		t.Fatalf("AppliedIndex() = %d; want 3", got)
	}
	if e, ok := f.Environment("prod"); !ok || e.LatestSeenCommit != "c3" {
		t.Fatalf("Environment(prod) = %+v, %v; want latest seen c3", e, ok)
	}
}

// TestApplyBatchCorruptEntry: an entry that does not decode panics, as
// Apply does, after the entries before it are applied and published.
func TestApplyBatchCorruptEntry(t *testing.T) {
	data, err := fsm.Encode(&fsm.ObserveCommit{Environment: "prod", Commit: "c1", Time: time.Unix(1, 0).UTC()})
	if err != nil {
		t.Fatal(err)
	}
	f := fsm.New(nil)
	changed := f.Changed()
	logs := []*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogCommand, Data: data},
		{Index: 2, Term: 1, Type: raft.LogCommand, Data: []byte{0x6f, '{'}}, // unknown, not safe to ignore
		{Index: 3, Term: 1, Type: raft.LogCommand, Data: data},
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("ApplyBatch with a corrupt entry did not panic")
			}
		}()
		f.ApplyBatch(logs)
	}()
	if got := f.AppliedIndex(); got != 1 {
		t.Fatalf("AppliedIndex() after the panic = %d; want 1 (the entry before the corrupt one)", got)
	}
	select {
	case <-changed:
	default:
		t.Fatal("Changed() not closed for the entry applied before the corrupt one")
	}
}
