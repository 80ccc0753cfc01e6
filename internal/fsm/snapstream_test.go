package fsm_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// goldenEntries returns the entries of every golden log as raft logs, each
// log started on an empty FSM: for tests that need every command type.
func goldenEntries(t *testing.T) [][]*raft.Log {
	t.Helper()
	var out [][]*raft.Log
	for _, g := range goldenLogs {
		var logs []*raft.Log
		for i, e := range readGoldenLog(t, g.log) {
			logs = append(logs, &raft.Log{Index: uint64(i + 1), Term: 1, Type: raft.LogCommand, Data: e})
		}
		out = append(out, logs)
	}
	return out
}

// TestSnapshotIsPointInTime: a snapshot persisted while Apply goes on holds
// exactly the state at the index it was taken at, the state a replay of
// the log up to that index has. It is taken after every entry of every
// golden log (between them they hold every command type, and so every
// change Apply makes to a record), and the rest of the log is applied while
// it persists; -race also catches Apply writing what Persist reads.
func TestSnapshotIsPointInTime(t *testing.T) {
	for li, logs := range goldenEntries(t) {
		for k := 1; k <= len(logs); k++ {
			want := dumpOf(t, replay(logs[:k]))
			f := replay(logs[:k])
			snap, err := f.Snapshot()
			if err != nil {
				t.Fatalf("Snapshot() = %v", err)
			}
			var wg sync.WaitGroup
			wg.Go(func() {
				for _, l := range logs[k:] {
					f.Apply(l)
				}
			})
			sink := &memSink{}
			if err := snap.Persist(sink); err != nil {
				t.Fatalf("Persist() = %v", err)
			}
			wg.Wait()
			// Persist again after everything applied: still the same.
			again := &memSink{}
			if err := snap.Persist(again); err != nil {
				t.Fatalf("Persist() = %v", err)
			}
			if !bytes.Equal(sink.Bytes(), again.Bytes()) {
				t.Fatalf("%s at index %d: persisting the same snapshot after the rest of the log was applied wrote other bytes",
					goldenLogs[li].log, k)
			}
			g := fsm.New(nil)
			if err := g.Restore(readCloserOf(sink.Bytes())); err != nil {
				t.Fatalf("%s at index %d: Restore(persisted) = %v", goldenLogs[li].log, k, err)
			}
			if got := dumpOf(t, g); !bytes.Equal(got, want) {
				t.Fatalf("%s: the snapshot taken at index %d restores to\n%s\nwant the replay's\n%s", goldenLogs[li].log, k, got, want)
			}
		}
	}
}

// TestSnapshotsAreDeterministic: two FSMs fed the same log persist the
// same bytes, and a restored FSM persists what it was restored from.
func TestSnapshotsAreDeterministic(t *testing.T) {
	for li, logs := range goldenEntries(t) {
		a, b := persist(t, replay(logs)), persist(t, replay(logs))
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: two replays persist different snapshots", goldenLogs[li].log)
		}
		g := fsm.New(nil)
		if err := g.Restore(readCloserOf(a)); err != nil {
			t.Fatalf("Restore() = %v", err)
		}
		if c := persist(t, g); !bytes.Equal(a, c) {
			t.Fatalf("%s: a restored FSM persists\n%s\nwant what it was restored from\n%s", goldenLogs[li].log, c, a)
		}
	}
}

// TestGoldenSnapshotV2 pins the version 2 format: each golden log's state,
// persisted, is the golden .v2 file (written with -golden.write when
// missing), and the golden .v2 file restores to the golden version 1 dump.
func TestGoldenSnapshotV2(t *testing.T) {
	for li, logs := range goldenEntries(t) {
		name := strings.TrimSuffix(goldenLogs[li].snapshot, ".json") + ".v2"
		checkGolden(t, name, persist(t, replay(logs)))
		v2, err := os.ReadFile(filepath.Join(goldenDir, name))
		if err != nil {
			t.Fatal(err)
		}
		v1, err := os.ReadFile(filepath.Join(goldenDir, goldenLogs[li].snapshot))
		if err != nil {
			t.Fatal(err)
		}
		f := fsm.New(nil)
		if err := f.Restore(readCloserOf(v2)); err != nil {
			t.Fatalf("Restore(%s) = %v", name, err)
		}
		if got := dumpOf(t, f); !bytes.Equal(got, v1) {
			t.Errorf("Restore(%s) dumps to\n%s\nwant %s\n%s", name, got, goldenLogs[li].snapshot, v1)
		}
	}
}

// TestRestoreRefusesBadV2Snapshots: a version 2 snapshot that is cut
// short, holds a record twice, miscounts, or carries data after its
// records is refused, and changes nothing.
func TestRestoreRefusesBadV2Snapshots(t *testing.T) {
	logs := goldenEntries(t)[0]
	good := persist(t, replay(logs))
	header, records, _ := bytes.Cut(good, []byte("\n"))
	lines := bytes.SplitAfter(records, []byte("\n"))
	tests := []struct {
		name    string
		in      []byte
		wantMsg string
	}{
		{"truncated", good[:len(good)-len(lines[len(lines)-2])], "truncated"},
		{"cut mid-record", good[:len(good)-10], "deployment"},
		{"header only", append(bytes.Clone(header), '\n'), "truncated"},
		{"record twice", append(append(bytes.Clone(header), '\n'), bytes.Join(append([][]byte{lines[0]}, lines[:len(lines)-2]...), nil)...),
			"twice"},
		{"data after the records", append(bytes.Clone(good), []byte(`{"name":"extra"}`+"\n")...), "after"},
		{"unknown header field", bytes.Replace(good, []byte(`"version":2,`), []byte(`"version":2,"extra":1,`), 1), "extra"},
		{"unknown record field", bytes.Replace(good, []byte(`{"id":`), []byte(`{"extra":1,"id":`), 1), "extra"},
		{"negative count", bytes.Replace(good, []byte(`"notifications":0`), []byte(`"notifications":-1`), 1), "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			workload(h)
			before := h.dump()
			err := h.fsm.Restore(readCloserOf(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), "version 2") {
				t.Fatalf("Restore(%s) = %v; want an error of version 2 mentioning %q", tt.name, err, tt.wantMsg)
			}
			if err := fsm.CheckSnapshot(bytes.NewReader(tt.in)); err == nil {
				t.Errorf("CheckSnapshot(%s) = nil; want the error Restore returned", tt.name)
			}
			if after := h.dump(); !bytes.Equal(after, before) {
				t.Errorf("Restore(%s) failed but changed the FSM", tt.name)
			}
		})
	}
}
