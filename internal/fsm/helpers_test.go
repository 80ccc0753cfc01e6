package fsm_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// t0 is the time of the first command of every test; commands move forward
// from it one minute at a time (harness.tick).
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// harness is one FSM fed with raft.Log entries built by hand, as raft would
// feed it: Type LogCommand, Index increasing from 1, Data from fsm.Encode.
type harness struct {
	t     testing.TB
	fsm   *fsm.FSM
	index uint64    // index of the last entry handed to Apply
	now   time.Time // time of the last command built by the harness
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	return &harness{t: t, fsm: fsm.New(nil), now: t0}
}

// tick advances the harness clock and returns the new time.
func (h *harness) tick() time.Time {
	h.now = h.now.Add(time.Minute)
	return h.now
}

// apply encodes c, applies it at the next index and unpacks the response the
// way a caller of raft.Apply does (cluster.Node.Apply): an error value is a
// refusal, anything else the result.
func (h *harness) apply(c fsm.Command) (any, error) {
	h.t.Helper()
	b, err := fsm.Encode(c)
	if err != nil {
		h.t.Fatalf("Encode(%s) = %v; want no error", describe(c), err)
	}
	return h.applyData(b)
}

// applyData applies raw entry bytes at the next index.
func (h *harness) applyData(data []byte) (any, error) {
	h.t.Helper()
	h.index++
	return unpack(h.fsm.Apply(&raft.Log{Index: h.index, Term: 1, Type: raft.LogCommand, Data: data}))
}

// unpack splits an FSM.Apply response into result and refusal.
func unpack(resp any) (any, error) {
	if err, ok := resp.(error); ok {
		return nil, err
	}
	return resp, nil
}

// mustApply applies c and fails the test if it is refused.
func (h *harness) mustApply(c fsm.Command) any {
	h.t.Helper()
	res, err := h.apply(c)
	if err != nil {
		h.t.Fatalf("Apply(%s) = %v; want no error", describe(c), err)
	}
	return res
}

// create creates deployment id in env at the next tick and returns it.
func (h *harness) create(id, env string) *fsm.Deployment {
	h.t.Helper()
	res := h.mustApply(&fsm.CreateDeployment{
		ID: id, Environment: env, Commit: "commit-" + id, Kind: fsm.KindAuto,
		Initiator: "watcher", Time: h.tick(),
	})
	d, ok := res.(*fsm.Deployment)
	if !ok {
		h.t.Fatalf("Apply(create %s) result is %T; want *fsm.Deployment", id, res)
	}
	return d
}

// transition moves id to state to at the next tick.
func (h *harness) transition(id string, to fsm.DeploymentState) (any, error) {
	h.t.Helper()
	return h.apply(&fsm.TransitionDeployment{ID: id, To: to, Time: h.tick()})
}

// mustTransition moves id to state to and fails the test if it is refused.
func (h *harness) mustTransition(id string, to fsm.DeploymentState) *fsm.Deployment {
	h.t.Helper()
	res, err := h.transition(id, to)
	if err != nil {
		h.t.Fatalf("Apply(transition %s to %s) = %v; want no error", id, to, err)
	}
	d, ok := res.(*fsm.Deployment)
	if !ok {
		h.t.Fatalf("Apply(transition %s to %s) result is %T; want *fsm.Deployment", id, to, res)
	}
	if d.State != to {
		h.t.Fatalf("Apply(transition %s to %s) returned state %s; want %s", id, to, d.State, to)
	}
	return d
}

// pathTo is a legal path from Pending to each state. Failed goes through
// Applying, so that it may still roll back.
var pathTo = map[fsm.DeploymentState][]fsm.DeploymentState{
	fsm.StatePending:          {},
	fsm.StateValidating:       {fsm.StateValidating},
	fsm.StatePlanning:         {fsm.StateValidating, fsm.StatePlanning},
	fsm.StateAwaitingApproval: {fsm.StateValidating, fsm.StatePlanning, fsm.StateAwaitingApproval},
	fsm.StateScheduled:        {fsm.StateValidating, fsm.StatePlanning, fsm.StateScheduled},
	fsm.StateBackingUp:        {fsm.StateValidating, fsm.StatePlanning, fsm.StateBackingUp},
	fsm.StateApplying:         {fsm.StateValidating, fsm.StatePlanning, fsm.StateBackingUp, fsm.StateApplying},
	fsm.StatePostValidating: {fsm.StateValidating, fsm.StatePlanning, fsm.StateBackingUp, fsm.StateApplying,
		fsm.StatePostValidating},
	fsm.StateCompleted: {fsm.StateValidating, fsm.StatePlanning, fsm.StateBackingUp, fsm.StateApplying,
		fsm.StatePostValidating, fsm.StateCompleted},
	fsm.StateFailed: {fsm.StateValidating, fsm.StatePlanning, fsm.StateBackingUp, fsm.StateApplying,
		fsm.StateFailed},
	fsm.StateRollingBack: {fsm.StateValidating, fsm.StatePlanning, fsm.StateBackingUp, fsm.StateApplying,
		fsm.StateFailed, fsm.StateRollingBack},
	fsm.StateRolledBack: {fsm.StateValidating, fsm.StatePlanning, fsm.StateBackingUp, fsm.StateApplying,
		fsm.StateFailed, fsm.StateRollingBack, fsm.StateRolledBack},
	fsm.StateRejected:   {fsm.StateValidating, fsm.StatePlanning, fsm.StateAwaitingApproval, fsm.StateRejected},
	fsm.StateSuperseded: {fsm.StateSuperseded},
}

// drive moves the existing deployment id along the given states.
func (h *harness) drive(id string, path ...fsm.DeploymentState) *fsm.Deployment {
	h.t.Helper()
	d := h.deployment(id)
	for _, to := range path {
		d = h.mustTransition(id, to)
	}
	return d
}

// createAt creates deployment id in env and drives it to state along pathTo.
func (h *harness) createAt(id, env string, state fsm.DeploymentState) *fsm.Deployment {
	h.t.Helper()
	path, ok := pathTo[state]
	if !ok {
		h.t.Fatalf("no path to state %q", state)
	}
	h.create(id, env)
	return h.drive(id, path...)
}

// deployment returns the FSM's copy of deployment id; it must exist.
func (h *harness) deployment(id string) *fsm.Deployment {
	h.t.Helper()
	d, ok := h.fsm.Deployment(id)
	if !ok {
		h.t.Fatalf("Deployment(%s) not found; want it to exist", id)
	}
	return d
}

// environment returns the FSM's copy of environment name; it must exist.
func (h *harness) environment(name string) *fsm.Environment {
	h.t.Helper()
	e, ok := h.fsm.Environment(name)
	if !ok {
		h.t.Fatalf("Environment(%s) not found; want it to exist", name)
	}
	return e
}

// dump returns FSM.Dump.
func (h *harness) dump() []byte {
	h.t.Helper()
	return dumpOf(h.t, h.fsm)
}

func dumpOf(t testing.TB, f *fsm.FSM) []byte {
	t.Helper()
	b, err := f.Dump()
	if err != nil {
		t.Fatalf("Dump() = %v; want no error", err)
	}
	return b
}

// stateBytes returns the "state" member of FSM.Dump: everything a command
// may change. Dump also holds the applied index, which every entry
// advances, refused or not.
func (h *harness) stateBytes() []byte {
	h.t.Helper()
	return stateBytesOf(h.t, h.fsm)
}

func stateBytesOf(t testing.TB, f *fsm.FSM) []byte {
	t.Helper()
	var snap struct {
		State json.RawMessage `json:"state"`
	}
	if err := json.Unmarshal(dumpOf(t, f), &snap); err != nil {
		t.Fatalf("Dump() is not JSON: %v", err)
	}
	if len(snap.State) == 0 || string(snap.State) == "null" {
		t.Fatalf("Dump() has no state member")
	}
	return snap.State
}

// refused applies c, which must be refused with an error wrapping want, and
// checks that the refusal changed nothing. It returns the error.
func (h *harness) refused(c fsm.Command, want error) error {
	h.t.Helper()
	before := h.stateBytes()
	res, err := h.apply(c)
	if !errors.Is(err, want) {
		h.t.Fatalf("Apply(%s) = %v, %v; want error wrapping %q", describe(c), res, err, want)
	}
	if res != nil {
		h.t.Errorf("Apply(%s) result = %v alongside the error; want nil", describe(c), res)
	}
	if after := h.stateBytes(); string(after) != string(before) {
		h.t.Fatalf("Apply(%s) was refused but changed the state:\nbefore %s\nafter  %s", describe(c), before, after)
	}
	return err
}

// describe names a command in failure messages: its Go type and payload.
func describe(c fsm.Command) string {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Sprintf("%T(unencodable: %v)", c, err)
	}
	return fmt.Sprintf("%s%s", strings.TrimPrefix(fmt.Sprintf("%T", c), "*fsm."), b)
}

// sentinels are the conditions every refusal wraps exactly one of.
var sentinels = []error{
	fsm.ErrNotFound, fsm.ErrIllegalTransition, fsm.ErrWrongState, fsm.ErrConflict,
	fsm.ErrDuplicate, fsm.ErrNotAllowed, fsm.ErrInvalid,
}

// wrappedSentinels returns the sentinels err wraps.
func wrappedSentinels(err error) []error {
	var out []error
	for _, s := range sentinels {
		if errors.Is(err, s) {
			out = append(out, s)
		}
	}
	return out
}
