package fsm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/fsm/fsmtest"
)

// t0 is the time of the first command of every test; commands move forward
// from it one minute at a time (harness.tick).
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// harness is one FSM fed with raft.Log entries built by hand, as raft would
// feed it: Type LogCommand, Index increasing from 1, Data from fsm.Encode.
//
// The FSM assigns deployment ids ("<environment>-<n>"). Tests give each
// deployment they create a name of their own ("d1", "active", …); the
// harness maps names to the assigned ids (id) and back (name), and its
// helpers take names.
type harness struct {
	t   testing.TB
	fsm *fsm.FSM
	a   *fsmtest.Applier  // applies to fsm, numbering the entries
	now time.Time         // time of the last command built by the harness
	ids map[string]string // test name → assigned id
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	a := fsmtest.New()
	return &harness{t: t, fsm: a.FSM, a: a, now: t0, ids: map[string]string{}}
}

// on returns a harness over f that goes on from h: same index, clock and
// names.
func (h *harness) on(f *fsm.FSM) *harness {
	return &harness{t: h.t, fsm: f, a: h.a.Continue(f), now: h.now, ids: maps.Clone(h.ids)}
}

// index is the index of the last entry handed to Apply.
func (h *harness) index() uint64 { return h.a.Index() }

// tick advances the harness clock and returns the new time.
func (h *harness) tick() time.Time {
	h.now = h.now.Add(time.Minute)
	return h.now
}

// apply encodes c, applies it at the next index and unpacks the response the
// way a caller of raft.Apply does (fsmtest.Applier): an error value is a
// refusal, anything else the result.
func (h *harness) apply(c fsm.Command) (any, error) {
	h.t.Helper()
	if _, err := fsm.Encode(c); err != nil {
		h.t.Fatalf("Encode(%s) = %v; want no error", describe(c), err)
	}
	return h.a.Apply(context.Background(), c)
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

// create creates a deployment of commit "commit-<name>" in env at the next
// tick, remembers its id under name and returns it.
func (h *harness) create(name, env string) *fsm.Deployment {
	h.t.Helper()
	if id, ok := h.ids[name]; ok {
		h.t.Fatalf("create(%s): the test already named deployment %s so", name, id)
	}
	c := &fsm.CreateDeployment{Environment: env, Commit: "commit-" + name, Kind: fsm.KindAuto,
		Initiator: "watcher", Time: h.tick()}
	res := h.mustApply(c)
	d, ok := res.(*fsm.Deployment)
	if !ok || d == nil || d.ID == "" {
		h.t.Fatalf("Apply(%s) result is %#v; want a *fsm.Deployment with an id", describe(c), res)
	}
	h.ids[name] = d.ID
	return d
}

// id returns the id of the deployment the test named name.
func (h *harness) id(name string) string {
	h.t.Helper()
	id, ok := h.ids[name]
	if !ok {
		h.t.Fatalf("the test created no deployment named %q", name)
	}
	return id
}

// name returns the test's name of deployment id, or id itself if the test
// did not create it.
func (h *harness) name(id string) string {
	for n, i := range h.ids {
		if i == id {
			return n
		}
	}
	return id
}

// names maps ids to the test's names (see name).
func (h *harness) names(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = h.name(id)
	}
	return out
}

// requireOne is the approval requirement the harness records when it moves
// a deployment into AwaitingApproval.
var requireOne = fsm.ApprovalRequirement{Required: 1}

// transition moves the deployment named name to state to at the next tick.
// Moving into AwaitingApproval records requireOne.
func (h *harness) transition(name string, to fsm.DeploymentState) (any, error) {
	h.t.Helper()
	c := &fsm.TransitionDeployment{ID: h.id(name), To: to, Time: h.tick()}
	if to == fsm.StateAwaitingApproval {
		req := requireOne
		c.Approval = &req
	}
	return h.apply(c)
}

// mustTransition moves name to state to and fails the test if it is refused.
func (h *harness) mustTransition(name string, to fsm.DeploymentState) *fsm.Deployment {
	h.t.Helper()
	res, err := h.transition(name, to)
	if err != nil {
		h.t.Fatalf("Apply(transition %s to %s) = %v; want no error", name, to, err)
	}
	d, ok := res.(*fsm.Deployment)
	if !ok {
		h.t.Fatalf("Apply(transition %s to %s) result is %T; want *fsm.Deployment", name, to, res)
	}
	if d.State != to {
		h.t.Fatalf("Apply(transition %s to %s) returned state %s; want %s", name, to, d.State, to)
	}
	return d
}

// approve records an approval of name by identity at the next tick.
func (h *harness) approve(name, identity string) *fsm.ApproveResult {
	h.t.Helper()
	res, ok := h.mustApply(&fsm.Approve{ID: h.id(name), Identity: identity, Time: h.tick()}).(*fsm.ApproveResult)
	if !ok {
		h.t.Fatalf("Apply(approve %s by %s) result is not a *fsm.ApproveResult", name, identity)
	}
	return res
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

// approvedPath is the whole pipeline through an approval, to Completed.
var approvedPath = []fsm.DeploymentState{
	fsm.StateValidating, fsm.StatePlanning, fsm.StateAwaitingApproval, fsm.StateScheduled, fsm.StateBackingUp,
	fsm.StateApplying, fsm.StatePostValidating, fsm.StateCompleted,
}

// drive moves the existing deployment name along the given states. To leave
// AwaitingApproval for Scheduled or BackingUp it first has "approver"
// approve the deployment (the harness requires one approval; see
// transition).
func (h *harness) drive(name string, path ...fsm.DeploymentState) *fsm.Deployment {
	h.t.Helper()
	d := h.deployment(name)
	for _, to := range path {
		if d.State == fsm.StateAwaitingApproval && (to == fsm.StateScheduled || to == fsm.StateBackingUp) &&
			!d.Approved() {
			h.approve(name, "approver")
		}
		d = h.mustTransition(name, to)
	}
	return d
}

// createAt creates deployment name in env and drives it to state along
// pathTo.
func (h *harness) createAt(name, env string, state fsm.DeploymentState) *fsm.Deployment {
	h.t.Helper()
	if state == fsm.StateCancelled {
		h.create(name, env)
		return h.mustApply(&fsm.CancelDeployment{ID: h.id(name), Identity: "canceller", Time: h.tick(),
			Reason: "not now"}).(*fsm.CancelResult).Deployment
	}
	path, ok := pathTo[state]
	if !ok {
		h.t.Fatalf("no path to state %q", state)
	}
	h.create(name, env)
	return h.drive(name, path...)
}

// deployment returns the FSM's copy of the deployment named name; it must
// exist.
func (h *harness) deployment(name string) *fsm.Deployment {
	h.t.Helper()
	d, ok := h.fsm.Deployment(h.id(name))
	if !ok {
		h.t.Fatalf("Deployment(%s) (%s) not found; want it to exist", h.id(name), name)
	}
	return d
}

// held reports whether the FSM still holds the deployment named name.
func (h *harness) held(name string) bool {
	h.t.Helper()
	_, ok := h.fsm.Deployment(h.id(name))
	return ok
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
	// Dump is {"version":…,"appliedIndex":…,"state":{…}}; cutting at the
	// state member is much cheaper than decoding it.
	b := dumpOf(t, f)
	const key = `,"state":`
	i := bytes.Index(b, []byte(key))
	if i < 0 || !bytes.HasPrefix(b, []byte(`{"version":`)) || b[len(b)-1] != '}' {
		t.Fatalf("Dump() = %s; want {\"version\":…,\"appliedIndex\":…,\"state\":…}", b)
	}
	return b[i+len(key) : len(b)-1]
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
