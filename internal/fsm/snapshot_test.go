package fsm_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/fsm/fsmtest"
)

// memSink is a raft.SnapshotSink over a bytes.Buffer. writeErr and closeErr,
// when set, are returned by Write and Close.
type memSink struct {
	bytes.Buffer
	writeErr, closeErr error
	closed, cancelled  bool
}

var _ raft.SnapshotSink = (*memSink)(nil)

func (s *memSink) Write(p []byte) (int, error) {
	if s.writeErr != nil {
		return 0, s.writeErr
	}
	return s.Buffer.Write(p)
}

func (s *memSink) Close() error {
	s.closed = true
	return s.closeErr
}

func (s *memSink) ID() string { return "mem" }

func (s *memSink) Cancel() error {
	s.cancelled = true
	return nil
}

// readCloser records whether Restore closed it.
type readCloser struct {
	io.Reader
	closed bool
}

func (r *readCloser) Close() error {
	r.closed = true
	return nil
}

// persist snapshots f and persists the snapshot into a memSink.
func persist(t testing.TB, f *fsm.FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot() = %v; want no error", err)
	}
	defer snap.Release()
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatalf("Persist() = %v; want no error", err)
	}
	if !sink.closed || sink.cancelled {
		t.Fatalf("Persist() left the sink closed=%v cancelled=%v; want closed, not cancelled", sink.closed, sink.cancelled)
	}
	return sink.Bytes()
}

// snapshotReader returns f's persisted snapshot as Restore's argument.
func snapshotReader(t testing.TB, f *fsm.FSM) io.ReadCloser {
	t.Helper()
	return io.NopCloser(bytes.NewReader(persist(t, f)))
}

// workload applies a bit of everything to h.
func workload(h *harness) {
	h.t.Helper()
	h.mustApply(&fsm.SetSettings{HistoryRetention: 4})
	h.createAt("p1", "prod", fsm.StateCompleted)
	h.createAt("p2", "prod", fsm.StateFailed)
	h.drive("p2", fsm.StateRollingBack, fsm.StateRolledBack)
	h.createAt("p3", "prod", fsm.StateApplying)
	h.mustApply(&fsm.IssueFencingToken{ID: h.id("p3")})
	h.mustApply(&fsm.TransitionDeployment{ID: h.id("p3"), To: fsm.StatePostValidating, Time: h.tick(),
		Validation: json.RawMessage(`{"checks": [ "ok" ]}`)})
	h.createAt("p4", "prod", fsm.StatePlanning)
	h.mustApply(&fsm.TransitionDeployment{ID: h.id("p4"), To: fsm.StateAwaitingApproval, Time: h.tick(),
		Plan: json.RawMessage(`{"changes":1}`), Risk: "medium",
		Approval: &fsm.ApprovalRequirement{Required: 2, Groups: []string{"ops"}, Expires: h.now.Add(48 * time.Hour)}})
	h.mustApply(&fsm.Approve{ID: h.id("p4"), Identity: "alice", Groups: []string{"ops"}, Time: h.tick(), Comment: "ok"})
	h.createAt("s1", "staging", fsm.StateRejected)
	h.createAt("s2", "staging", fsm.StateScheduled)
	h.mustApply(&fsm.ObserveCommit{Environment: "staging", Commit: "c-s3", Time: h.tick()})
	h.mustApply(&fsm.SetPin{Environment: "prod", Pin: &fsm.Pin{Commit: "commit-p1", From: "commit-p2", By: "bob",
		Since: h.tick()}})
	h.mustApply(&fsm.ObserveCommit{Environment: "dev", Commit: "c-d1", Time: h.tick()})
}

func TestSnapshotRestore(t *testing.T) {
	src := newHarness(t)
	workload(src)
	data := persist(t, src.fsm)
	if !bytes.HasPrefix(data, []byte(`{"version":2,`)) {
		t.Errorf("persisted snapshot starts %.40q; want the version 2 format", data)
	}

	dst := fsm.New(nil)
	rc := &readCloser{Reader: bytes.NewReader(data)}
	if err := dst.Restore(rc); err != nil {
		t.Fatalf("Restore() = %v; want no error", err)
	}
	if !rc.closed {
		t.Errorf("Restore() did not close its reader")
	}
	if got, want := dumpOf(t, dst), src.dump(); !bytes.Equal(got, want) {
		t.Fatalf("Dump() after Restore =\n%s\nwant\n%s", got, want)
	}
	if got, want := dst.AppliedIndex(), src.fsm.AppliedIndex(); got != want {
		t.Errorf("AppliedIndex() after Restore = %d; want %d", got, want)
	}
	for _, name := range []string{"p1", "p2", "p3", "p4", "s1", "s2"} {
		want, _ := src.fsm.Deployment(src.id(name))
		got, ok := dst.Deployment(src.id(name))
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("Deployment(%s) (%s) after Restore = %+v; want %+v", src.id(name), name, got, want)
		}
	}
	if got, want := dst.Environments(), src.fsm.Environments(); !reflect.DeepEqual(got, want) {
		t.Errorf("Environments() after Restore = %+v; want %+v", got, want)
	}
	if got, want := dst.History("prod"), src.fsm.History("prod"); !reflect.DeepEqual(got, want) {
		t.Errorf("History(prod) after Restore = %+v; want %+v", got, want)
	}
	if got, want := dst.LastFencingToken(), src.fsm.LastFencingToken(); got != want || got == 0 {
		t.Errorf("LastFencingToken() after Restore = %d; want %d", got, want)
	}
	if got := dst.HistoryRetention(); got != 4 {
		t.Errorf("HistoryRetention() after Restore = %d; want 4", got)
	}

	// Both go on the same way: the restored FSM is a full replacement.
	next := src.on(dst)
	for _, h := range []*harness{src, next} {
		h.mustApply(&fsm.IssueFencingToken{ID: h.id("p3")})
		h.drive("p3", fsm.StateCompleted)
		h.create("p5", "prod")
	}
	if got, want := next.dump(), src.dump(); !bytes.Equal(got, want) {
		t.Errorf("after the same commands, restored Dump() =\n%s\nwant\n%s", got, want)
	}
	// The id counter was restored: p5 got a new id, the same on both.
	if next.id("p5") != src.id("p5") {
		t.Errorf("p5 got id %s on the restored FSM, %s on the original; want the same", next.id("p5"), src.id("p5"))
	}
	for _, name := range []string{"p1", "p2", "p3", "p4", "s1", "s2"} {
		if src.id(name) == src.id("p5") {
			t.Errorf("p5 got id %s, the id of %s", src.id("p5"), name)
		}
	}
}

func TestSnapshotIsTakenWhenAsked(t *testing.T) {
	h := newHarness(t)
	h.create("d1", "prod")
	want := h.dump()
	snap, err := h.fsm.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot() = %v; want no error", err)
	}
	defer snap.Release()
	h.mustTransition("d1", fsm.StateValidating)
	h.create("d2", "staging")

	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatalf("Persist() = %v; want no error", err)
	}
	restored := fsm.New(nil)
	if err := restored.Restore(readCloserOf(sink.Bytes())); err != nil {
		t.Fatalf("Restore(persisted) = %v", err)
	}
	if got := dumpOf(t, restored); !bytes.Equal(got, want) {
		t.Errorf("Persist() wrote the state as of Persist:\n%s\nwant as of Snapshot:\n%s", got, want)
	}
}

func TestPersistFailures(t *testing.T) {
	errDisk := errors.New("disk full")
	tests := []struct {
		name       string
		sink       *memSink
		wantCancel bool
	}{
		{"write fails", &memSink{writeErr: errDisk}, true},
		{"close fails", &memSink{closeErr: errDisk}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			workload(h)
			snap, err := h.fsm.Snapshot()
			if err != nil {
				t.Fatalf("Snapshot() = %v; want no error", err)
			}
			err = snap.Persist(tt.sink)
			if !errors.Is(err, errDisk) {
				t.Errorf("Persist() = %v; want an error wrapping %q", err, errDisk)
			}
			if tt.sink.cancelled != tt.wantCancel {
				t.Errorf("Persist() cancelled the sink: %v; want %v", tt.sink.cancelled, tt.wantCancel)
			}
		})
	}
}

func TestRestoreRefusesBadSnapshots(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantMsg string
	}{
		{"newer version", `{"version":3,"appliedIndex":3,"state":{"deployments":{},"environments":{},"lastFencingToken":0,"historyRetention":5}}`,
			"version 3"},
		{"version 1 shape under version 2", `{"version":2,"appliedIndex":3,"state":{"deployments":{},"environments":{}}}`,
			"version 2"},
		{"no version", `{"appliedIndex":3,"state":{"deployments":{},"environments":{}}}`, "version 0"},
		{"garbage", `this is not a snapshot`, "decode"},
		{"truncated", `{"version":1,"appliedIndex":3,"state":{"deployments":{`, "decode"},
		{"empty", ``, "decode"},
		{"unknown field", `{"version":1,"appliedIndex":3,"state":{},"extra":true}`, "extra"},
		{"no state", `{"version":1,"appliedIndex":3}`, "no state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			workload(h)
			before := h.dump()
			rc := &readCloser{Reader: strings.NewReader(tt.in)}
			err := h.fsm.Restore(rc)
			if err == nil {
				t.Fatalf("Restore(%s) = nil; want an error", tt.in)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Restore(%s) = %q; want it to mention %q", tt.in, err, tt.wantMsg)
			}
			if !rc.closed {
				t.Errorf("Restore(%s) did not close its reader", tt.in)
			}
			if after := h.dump(); !bytes.Equal(after, before) {
				t.Errorf("Restore(%s) failed but changed the FSM:\nbefore %s\nafter  %s", tt.in, before, after)
			}
		})
	}
}

func TestRestoreFillsDefaults(t *testing.T) {
	f := fsm.New(nil)
	err := f.Restore(io.NopCloser(strings.NewReader(`{"version":1,"appliedIndex":7,"state":{}}`)))
	if err != nil {
		t.Fatalf("Restore(empty state) = %v; want no error", err)
	}
	if got := f.HistoryRetention(); got != fsm.DefaultHistoryRetention {
		t.Errorf("HistoryRetention() = %d; want %d", got, fsm.DefaultHistoryRetention)
	}
	h := newHarness(t)
	h.fsm, h.a = f, fsmtest.Over(f)
	if d := h.create("d1", "prod"); d.ID != "prod-1" { // the maps are usable
		t.Errorf("Apply(create) on a restored empty state = id %s; want prod-1", d.ID)
	}
	if got := h.fsm.AppliedIndex(); got != 8 {
		t.Errorf("AppliedIndex() = %d; want 8", got)
	}
}

// TestCreateRefusesAnIDTheStateHolds: the id counter cannot produce an id
// twice, so ErrDuplicate needs a state whose counter is behind its ids, such
// as a corrupt snapshot. The create is then refused and changes nothing.
func TestRestoreRefusesIDsPastTheCounter(t *testing.T) {
	src := newHarness(t)
	src.create("d1", "prod") // prod-1
	good := string(src.dump())
	bad := strings.Replace(good, `"deploymentSeq":1`, `"deploymentSeq":0`, 1)
	if bad == good {
		t.Fatalf("Dump() = %s; want a deploymentSeq of 1 to edit", good)
	}
	h := src.on(fsm.New(nil))
	before := h.dump()
	err := h.fsm.Restore(readCloserOf([]byte(bad)))
	if err == nil || !strings.Contains(err.Error(), "prod-1") {
		t.Fatalf("Restore(counter behind ids) = %v; want an error naming prod-1", err)
	}
	if after := h.dump(); !bytes.Equal(before, after) {
		t.Errorf("a refused Restore changed the state:\n%s\n%s", before, after)
	}
}

// TestRestoreRefusesUnknownStates: a snapshot naming a state this version
// does not know (as a deployment's state or in a transition) is refused,
// in either format, and changes nothing: such a state could be neither
// served nor written again.
func TestRestoreRefusesUnknownStates(t *testing.T) {
	src := newHarness(t)
	src.create("d1", "prod")
	var v2 bytes.Buffer
	if _, err := src.fsm.WriteSnapshot(&v2); err != nil {
		t.Fatal(err)
	}
	for format, good := range map[string]string{"version 1": string(src.dump()), "version 2": v2.String()} {
		for _, edit := range [][2]string{{`"state":"Pending"`, `"state":"Sideways"`}, {`"to":"Pending"`, `"to":"Sideways"`}} {
			bad := strings.Replace(good, edit[0], edit[1], 1)
			if bad == good {
				t.Fatalf("%s snapshot %s; want %s to edit", format, good, edit[0])
			}
			h := src.on(fsm.New(nil))
			before := h.dump()
			err := h.fsm.Restore(readCloserOf([]byte(bad)))
			if err == nil || !strings.Contains(err.Error(), "prod-1") || !strings.Contains(err.Error(), "known states") {
				t.Errorf("Restore(%s with %s) = %v; want an error naming prod-1 and its unknown state", format, edit[1], err)
			}
			if after := h.dump(); !bytes.Equal(before, after) {
				t.Errorf("a refused Restore changed the state:\n%s\n%s", before, after)
			}
		}
	}
}
