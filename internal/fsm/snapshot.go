package fsm

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/raft"
)

// SnapshotVersion is the format of the snapshots this binary writes. Restore
// accepts this version and refuses any other with a clear error, so a node
// never silently misreads a snapshot written by a newer binary.
const SnapshotVersion = 1

// snapshotFile is the snapshot's on-disk shape.
type snapshotFile struct {
	Version      int    `json:"version"`
	AppliedIndex uint64 `json:"appliedIndex"`
	State        *state `json:"state"`
}

// Snapshot implements raft.FSM. It encodes the state under the lock, which is
// the copy; Persist only writes bytes.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	b, err := f.encode()
	if err != nil {
		return nil, err
	}
	return &fsmSnapshot{data: b}, nil
}

// encode returns the snapshot bytes of the current state.
func (f *FSM) encode() ([]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b, err := json.Marshal(snapshotFile{Version: SnapshotVersion, AppliedIndex: f.applied, State: f.st})
	if err != nil {
		return nil, fmt.Errorf("encode snapshot: %w", err)
	}
	return b, nil
}

// Dump returns the bytes a snapshot of the current state would hold. Two
// FSMs that applied the same log return identical bytes.
func (f *FSM) Dump() ([]byte, error) { return f.encode() }

// Restore implements raft.FSM: it replaces the state with the snapshot's.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	snap, err := decodeSnapshot(rc)
	if err != nil {
		return err
	}
	st := snap.State
	compact(st)
	f.mu.Lock()
	f.st = st
	f.rebuildEvents()
	f.applied = snap.AppliedIndex
	ch := f.changed
	f.changed = make(chan struct{})
	f.mu.Unlock()
	close(ch)
	// Decoding a snapshot needs several times the state's size for a
	// moment; hand that back to the OS now rather than keep it resident.
	debug.FreeOSMemory()
	return nil
}

// CheckSnapshot reads a snapshot as Restore would, without installing it:
// nil when Restore would accept it.
func CheckSnapshot(r io.Reader) error {
	_, err := decodeSnapshot(r)
	return err
}

// decodeSnapshot reads and checks a snapshot.
func decodeSnapshot(r io.Reader) (*snapshotFile, error) {
	var snap snapshotFile
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&snap); err != nil {
		return nil, fmt.Errorf("restore snapshot: decode: %w", err)
	}
	if snap.Version != SnapshotVersion {
		return nil, fmt.Errorf("restore snapshot: format version %d is not supported (this binary reads version %d)",
			snap.Version, SnapshotVersion)
	}
	if snap.State == nil {
		return nil, fmt.Errorf("restore snapshot: no state")
	}
	st := snap.State
	if st.Deployments == nil {
		st.Deployments = map[string]*Deployment{}
	}
	if st.Environments == nil {
		st.Environments = map[string]*Environment{}
	}
	if st.Notifications == nil {
		st.Notifications = map[string]*Notification{}
	}
	if st.HistoryRetention < 1 {
		st.HistoryRetention = DefaultHistoryRetention
	}
	if st.PlanRetention < 1 {
		st.PlanRetention = DefaultPlanRetention
	}
	if err := st.check(); err != nil {
		return nil, fmt.Errorf("restore snapshot: %w", err)
	}
	st.indexNotifications()
	return &snap, nil
}

type fsmSnapshot struct{ data []byte }

// Persist implements raft.FSMSnapshot; it cancels the sink on failure.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.data); err != nil {
		sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("persist snapshot: close: %w", err)
	}
	return nil
}

// Release implements raft.FSMSnapshot.
func (s *fsmSnapshot) Release() {}

// sortNewestFirst orders deployments by creation, newest first; the id
// number breaks ties, as ids are numbered in creation order.
func sortNewestFirst(ds []*Deployment) {
	slices.SortFunc(ds, func(a, b *Deployment) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(idNumber(b.ID), idNumber(a.ID))
	})
}

func idNumber(id string) uint64 {
	n, _ := strconv.ParseUint(id[strings.LastIndexByte(id, '-')+1:], 10, 64)
	return n
}

func sortEnvironments(es []*Environment) {
	slices.SortFunc(es, func(a, b *Environment) int { return strings.Compare(a.Name, b.Name) })
}
