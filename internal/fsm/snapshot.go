package fsm

import (
	"bufio"
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

// SnapshotVersion is the format of the snapshots this binary writes
// (snapstream.go). Restore reads it and version 1, the format of the
// binaries before it (one JSON object holding the whole state, as Dump
// still writes it), and refuses any other with a clear error, so a node
// never silently misreads a snapshot written by a newer binary.
const SnapshotVersion = 2

// snapshotFile is the shape of a version 1 snapshot, and of Dump.
type snapshotFile struct {
	Version      int    `json:"version"`
	AppliedIndex uint64 `json:"appliedIndex"`
	State        *state `json:"state"`
}

// Snapshot implements raft.FSM. Under the lock it takes a point-in-time
// copy of the records (stateView: their structs, not their documents);
// Persist encodes that copy into the sink one record at a time while
// Apply goes on.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &fsmSnapshot{view: f.view()}, nil
}

// WriteSnapshot writes a snapshot of the current state to w, as Persist
// would, without holding the lock while it writes. It returns the
// snapshot's index.
func (f *FSM) WriteSnapshot(w io.Writer) (uint64, error) {
	f.mu.RLock()
	v := f.view()
	f.mu.RUnlock()
	return v.header.AppliedIndex, v.encode(w)
}

// SnapshotView is a point-in-time copy of the state that can be written
// as a snapshot any number of times, always to the same bytes.
type SnapshotView struct{ v *stateView }

// View returns a point-in-time copy of the state (see Snapshot).
func (f *FSM) View() *SnapshotView {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &SnapshotView{v: f.view()}
}

// Index returns the raft index of the last entry the view holds.
func (v *SnapshotView) Index() uint64 { return v.v.header.AppliedIndex }

// WriteTo writes the view as a snapshot to w.
func (v *SnapshotView) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	err := v.v.encode(cw)
	return cw.n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Dump returns the state as one canonical JSON document (the version 1
// snapshot format, which Restore reads). Two FSMs that applied the same
// log return identical bytes. It holds the encoded state in memory: for
// tests, debugging and checksums, not for snapshots.
func (f *FSM) Dump() ([]byte, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b, err := json.Marshal(snapshotFile{Version: 1, AppliedIndex: f.applied, State: f.st})
	if err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	return b, nil
}

// Restore implements raft.FSM: it replaces the state with the snapshot's.
// A snapshot it refuses changes nothing.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var r io.Reader = rc
	if p := f.takePrepared(); p != nil {
		same, rest, err := p.readsSame(rc)
		if err != nil {
			return err
		}
		if same {
			st := p.st
			p.st = nil // installed once: it is the live state now
			f.install(st, p.applied)
			return nil
		}
		r = rest
	}
	st, applied, err := decodeSnapshot(r)
	if err != nil {
		return err
	}
	f.install(st, applied)
	return nil
}

// install replaces the state with st, decoded from a snapshot of index
// applied.
func (f *FSM) install(st *state, applied uint64) {
	f.mu.Lock()
	f.st = st
	f.rebuildEvents()
	f.applied = applied
	ch := f.changed
	f.changed = make(chan struct{})
	f.mu.Unlock()
	close(ch)
	// Decoding leaves garbage (a version 1 snapshot, several times the
	// state's size): hand it back to the OS now rather than keep it
	// resident.
	debug.FreeOSMemory()
}

// CheckSnapshot reads a snapshot as Restore would, without installing it:
// nil when Restore would accept it.
func CheckSnapshot(r io.Reader) error {
	_, _, err := decodeSnapshot(r)
	return err
}

// decodeSnapshot reads and checks a snapshot of either version, and
// returns its state, made compact, and its index.
func decodeSnapshot(r io.Reader) (*state, uint64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		st      *state
		applied uint64
		err     error
	)
	p, _ := br.Peek(len(v2Prefix))
	isV2 := string(p) == v2Prefix
	if isV2 {
		st, applied, err = decodeV2(br)
		if err != nil {
			return nil, 0, fmt.Errorf("restore snapshot: version 2: %w", err)
		}
	} else {
		st, applied, err = decodeV1(br)
		if err != nil {
			return nil, 0, err
		}
	}
	if st.HistoryRetention < 1 {
		st.HistoryRetention = DefaultHistoryRetention
	}
	if st.PlanRetention < 1 {
		st.PlanRetention = DefaultPlanRetention
	}
	if err := st.check(); err != nil {
		return nil, 0, fmt.Errorf("restore snapshot: %w", err)
	}
	if !isV2 {
		compact(st) // after the check, which refuses null records; version 2 compacts as it reads
	}
	st.indexNotifications()
	st.indexHistory()
	return st, applied, nil
}

// decodeV1 reads a version 1 snapshot: one JSON object, decoded whole.
func decodeV1(r io.Reader) (*state, uint64, error) {
	var snap snapshotFile
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&snap); err != nil {
		return nil, 0, fmt.Errorf("restore snapshot: decode: %w", err)
	}
	if snap.Version != 1 {
		return nil, 0, fmt.Errorf("restore snapshot: format version %d is not supported (this binary reads versions 1 and %d)",
			snap.Version, SnapshotVersion)
	}
	if snap.State == nil {
		return nil, 0, fmt.Errorf("restore snapshot: no state")
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
	return st, snap.AppliedIndex, nil
}

type fsmSnapshot struct{ view *stateView }

// Persist implements raft.FSMSnapshot: it encodes the view into the sink
// as it goes, and cancels the sink on failure.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.view.encode(sink); err != nil {
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
