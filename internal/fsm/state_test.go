package fsm_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// history returns the test's names of the deployments FSM.History lists
// for env, newest first.
func (h *harness) history(env string) []string {
	h.t.Helper()
	var ids []string
	for _, d := range h.fsm.History(env) {
		ids = append(ids, d.ID)
	}
	return h.names(ids)
}

func TestHistoryRetention(t *testing.T) {
	h := newHarness(t)
	if got := h.fsm.HistoryRetention(); got != fsm.DefaultHistoryRetention {
		t.Fatalf("HistoryRetention() = %d on a new FSM; want %d", got, fsm.DefaultHistoryRetention)
	}
	h.mustApply(&fsm.SetSettings{HistoryRetention: 3})
	if got := h.fsm.HistoryRetention(); got != 3 {
		t.Fatalf("HistoryRetention() = %d; want 3", got)
	}

	h.createAt("d01", "prod", fsm.StateCompleted) // deployed: never pruned
	h.createAt("s01", "staging", fsm.StateFailed)
	var ids []string
	for i := 2; i <= 12; i++ {
		id := fmt.Sprintf("d%02d", i)
		ids = append(ids, id)
		h.createAt(id, "prod", fsm.StateRejected)
		if got := len(h.fsm.History("prod")); got > 3 {
			t.Fatalf("len(History(prod)) = %d after creating %s; want at most 3", got, id)
		}
	}
	if got, want := h.history("prod"), []string{"d12", "d11", "d01"}; !slices.Equal(got, want) {
		t.Errorf("History(prod) = %v; want %v", got, want)
	}
	if e := h.environment("prod"); !slices.Equal(h.names(e.History), []string{"d01", "d11", "d12"}) {
		t.Errorf("Environment(prod).History = %v; want [d01 d11 d12] (oldest first)", h.names(e.History))
	}
	for _, name := range ids[:len(ids)-2] {
		if h.held(name) {
			t.Errorf("Deployment(%s) (%s) found; want it pruned", h.id(name), name)
		}
	}
	if !h.held("d01") {
		t.Errorf("Deployment(%s) (d01) was pruned; the deployed deployment must be kept", h.id("d01"))
	}
	// Another environment's history is its own.
	if got := h.history("staging"); !slices.Equal(got, []string{"s01"}) {
		t.Errorf("History(staging) = %v; want [s01]", got)
	}
}

func TestHistoryRetentionKeepsProtectedDeployments(t *testing.T) {
	h := newHarness(t)
	h.mustApply(&fsm.SetSettings{HistoryRetention: 1})
	h.createAt("deployed", "prod", fsm.StateCompleted)
	h.createAt("may-roll-back", "prod", fsm.StateFailed) // failed after applying
	h.createAt("gone", "prod", fsm.StateFailed)          // failed after applying, then rolled back
	h.drive("gone", fsm.StateRollingBack, fsm.StateRolledBack)
	h.createAt("active", "prod", fsm.StateApplying)
	h.create("old-waiting", "prod")
	h.create("waiting", "prod") // supersedes old-waiting

	want := []string{"waiting", "active", "may-roll-back", "deployed"}
	if got := h.history("prod"); !slices.Equal(got, want) {
		t.Errorf("History(prod) = %v; want %v (retention 1, all of them protected)", got, want)
	}
	for _, name := range []string{"gone", "old-waiting"} {
		if h.held(name) {
			t.Errorf("Deployment(%s) (%s) found; want it pruned", h.id(name), name)
		}
	}
}

func TestLoweringRetentionPrunes(t *testing.T) {
	h := newHarness(t)
	for i := 1; i <= 10; i++ {
		h.createAt(fmt.Sprintf("p%02d", i), "prod", fsm.StateSuperseded)
		h.createAt(fmt.Sprintf("s%02d", i), "staging", fsm.StateFailed)
	}
	if got := len(h.fsm.History("prod")); got != 10 {
		t.Fatalf("len(History(prod)) = %d under the default retention; want 10", got)
	}
	h.mustApply(&fsm.SetSettings{HistoryRetention: 2})
	if got := h.history("prod"); !slices.Equal(got, []string{"p10", "p09"}) {
		t.Errorf("History(prod) = %v; want [p10 p09]", got)
	}
	// s01…s10 failed after applying and may still roll back: all are kept.
	if got := len(h.fsm.History("staging")); got != 10 {
		t.Errorf("len(History(staging)) = %d; want 10 (failed after applying, kept)", got)
	}
}

func TestSetSettingsRefusesRetentionBelowOne(t *testing.T) {
	for _, n := range []int{0, -1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			h := newHarness(t)
			h.mustApply(&fsm.SetSettings{HistoryRetention: 5})
			h.refused(&fsm.SetSettings{HistoryRetention: n}, fsm.ErrInvalid)
			if got := h.fsm.HistoryRetention(); got != 5 {
				t.Errorf("HistoryRetention() = %d; want 5", got)
			}
		})
	}
}

func TestIssueFencingToken(t *testing.T) {
	h := newHarness(t)
	h.createAt("p", "prod", fsm.StateBackingUp)
	h.createAt("s", "staging", fsm.StateFailed)
	h.drive("s", fsm.StateRollingBack)

	var last uint64
	for i, name := range []string{"p", "p", "s", "p", "s"} {
		if i == 3 {
			h.mustTransition("p", fsm.StateApplying)
		}
		res := h.mustApply(&fsm.IssueFencingToken{ID: h.id(name)})
		token, ok := res.(uint64)
		if !ok {
			t.Fatalf("Apply(fencing token for %s) result is %T; want uint64", name, res)
		}
		if token <= last {
			t.Errorf("Apply(fencing token for %s) = %d; want more than the previous %d", name, token, last)
		}
		if token != h.index() {
			t.Errorf("Apply(fencing token for %s) = %d; want the entry's index %d", name, token, h.index())
		}
		if got := h.deployment(name).FencingToken; got != token {
			t.Errorf("Deployment(%s).FencingToken = %d; want %d", name, got, token)
		}
		if got := h.fsm.LastFencingToken(); got != token {
			t.Errorf("LastFencingToken() = %d; want %d", got, token)
		}
		last = token
	}
}

func TestIssueFencingTokenRefused(t *testing.T) {
	for _, state := range fsm.AllStates {
		if state.Active() {
			continue
		}
		t.Run(state.String(), func(t *testing.T) {
			h := newHarness(t)
			h.createAt("other", "staging", fsm.StateApplying)
			h.mustApply(&fsm.IssueFencingToken{ID: h.id("other")})
			last := h.fsm.LastFencingToken()
			id := h.createAt("d1", "prod", state).ID
			err := h.refused(&fsm.IssueFencingToken{ID: id}, fsm.ErrWrongState)
			if !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), state.String()) {
				t.Errorf("Apply(fencing token for d1) error %q does not name %s and %s", err, id, state)
			}
			if got := h.fsm.LastFencingToken(); got != last {
				t.Errorf("LastFencingToken() = %d; want %d", got, last)
			}
		})
	}
	t.Run("unknown deployment", func(t *testing.T) {
		h := newHarness(t)
		h.refused(&fsm.IssueFencingToken{ID: "nope"}, fsm.ErrNotFound)
	})
}

func TestInvalidCommands(t *testing.T) {
	valid := func(h *harness) *fsm.CreateDeployment {
		return &fsm.CreateDeployment{Environment: "prod", Commit: "abc", Kind: fsm.KindManualSync,
			Initiator: "alice", Time: h.tick()}
	}
	tests := []struct {
		name    string
		cmd     func(h *harness) fsm.Command
		wantErr error
	}{
		{"upper-case environment", func(h *harness) fsm.Command { c := valid(h); c.Environment = "Prod"; return c }, fsm.ErrInvalid},
		{"path environment", func(h *harness) fsm.Command { c := valid(h); c.Environment = "../x"; return c }, fsm.ErrInvalid},
		{"leading dash", func(h *harness) fsm.Command { c := valid(h); c.Environment = "-a"; return c }, fsm.ErrInvalid},
		{"trailing dash", func(h *harness) fsm.Command { c := valid(h); c.Environment = "a-"; return c }, fsm.ErrInvalid},
		{"empty environment", func(h *harness) fsm.Command { c := valid(h); c.Environment = ""; return c }, fsm.ErrInvalid},
		{"environment of 64", func(h *harness) fsm.Command {
			c := valid(h)
			c.Environment = strings.Repeat("a", 64)
			return c
		}, fsm.ErrInvalid},
		{"common", func(h *harness) fsm.Command { c := valid(h); c.Environment = "common"; return c }, fsm.ErrInvalid},
		{"empty commit", func(h *harness) fsm.Command { c := valid(h); c.Commit = ""; return c }, fsm.ErrInvalid},
		{"unknown kind", func(h *harness) fsm.Command { c := valid(h); c.Kind = "deploy"; return c }, fsm.ErrInvalid},
		{"empty kind", func(h *harness) fsm.Command { c := valid(h); c.Kind = ""; return c }, fsm.ErrInvalid},
		{"zero time", func(h *harness) fsm.Command { c := valid(h); c.Time = time.Time{}; return c }, fsm.ErrInvalid},
		{"transition without time", func(h *harness) fsm.Command {
			return &fsm.TransitionDeployment{ID: h.id("existing"), To: fsm.StateValidating}
		}, fsm.ErrInvalid},
		{"transition of an unknown deployment", func(h *harness) fsm.Command {
			return &fsm.TransitionDeployment{ID: "nope", To: fsm.StateValidating, Time: h.tick()}
		}, fsm.ErrNotFound},
		{"observe a bad environment", func(h *harness) fsm.Command {
			return &fsm.ObserveCommit{Environment: "Prod", Commit: "abc", Time: h.tick()}
		}, fsm.ErrInvalid},
		{"observe an empty commit", func(h *harness) fsm.Command {
			return &fsm.ObserveCommit{Environment: "prod", Time: h.tick()}
		}, fsm.ErrInvalid},
		{"pin a bad environment", func(h *harness) fsm.Command {
			return &fsm.SetPin{Environment: "a/b", Pin: &fsm.Pin{Commit: "abc"}}
		}, fsm.ErrInvalid},
		{"pin without commit", func(h *harness) fsm.Command {
			return &fsm.SetPin{Environment: "prod", Pin: &fsm.Pin{By: "alice"}}
		}, fsm.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.create("existing", "prod")
			cmd := tt.cmd(h)
			err := h.refused(cmd, tt.wantErr)
			if got := wrappedSentinels(err); len(got) != 1 {
				t.Errorf("Apply(%s) error wraps %v; want exactly one condition", describe(cmd), got)
			}
		})
	}
}

func TestValidEnvironmentNames(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"a", true},
		{"prod", true},
		{"prod-eu-1", true},
		{"0", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"Prod", false},
		{"../x", false},
		{"-a", false},
		{"a-", false},
		{"a_b", false},
		{"a.b", false},
		{"a b", false},
		{"common", false},
		{"commons", true},
		{"common-1", true},
		{"Common", false},
	}
	for _, tt := range tests {
		if got := fsm.ValidEnvironmentName(tt.name); got != tt.want {
			t.Errorf("ValidEnvironmentName(%q) = %v; want %v", tt.name, got, tt.want)
		}
		h := newHarness(t)
		cmd := &fsm.CreateDeployment{Environment: tt.name, Commit: "abc", Kind: fsm.KindAuto, Time: h.tick()}
		_, err := h.apply(cmd)
		if (err == nil) != tt.want {
			t.Errorf("Apply(%s) = %v; want accepted %v", describe(cmd), err, tt.want)
		}
	}
}

// TestCommonIsNotAnEnvironment: docs/domain.md#repository says an environment is a folder
// under environments/ other than common, which holds shared configuration.
func TestCommonIsNotAnEnvironment(t *testing.T) {
	if fsm.ValidEnvironmentName("common") {
		t.Errorf(`ValidEnvironmentName("common") = true; want false`)
	}
	h := newHarness(t)
	for _, cmd := range []fsm.Command{
		&fsm.CreateDeployment{Environment: "common", Commit: "abc", Kind: fsm.KindAuto, Initiator: "watcher",
			Time: h.tick()},
		&fsm.ObserveCommit{Environment: "common", Commit: "abc", Time: h.tick()},
		&fsm.SetPin{Environment: "common", Pin: &fsm.Pin{Commit: "abc", By: "alice", Since: h.tick()}},
		&fsm.SetPin{Environment: "common"},
	} {
		err := h.refused(cmd, fsm.ErrInvalid)
		if !strings.Contains(err.Error(), `"common"`) {
			t.Errorf("Apply(%s) error %q does not name the environment", describe(cmd), err)
		}
	}
	if e, ok := h.fsm.Environment("common"); ok {
		t.Errorf("Environment(common) = %+v; want no such environment", e)
	}
}

func TestObserveCommitAndPin(t *testing.T) {
	h := newHarness(t)
	if _, ok := h.fsm.Environment("prod"); ok {
		t.Fatalf("Environment(prod) found on a new FSM")
	}
	first := h.tick()
	if res := h.mustApply(&fsm.ObserveCommit{Environment: "prod", Commit: "c1", Time: first}); res != nil {
		t.Errorf("Apply(observe) result = %v; want nil", res)
	}
	if e := h.environment("prod"); e.LatestSeenCommit != "c1" || !e.LatestSeenAt.Equal(first) {
		t.Errorf("Environment(prod) latest = %q at %v; want c1 at %v", e.LatestSeenCommit, e.LatestSeenAt, first)
	}
	second := h.tick()
	h.mustApply(&fsm.ObserveCommit{Environment: "prod", Commit: "c2", Time: second})
	e := h.environment("prod")
	if e.LatestSeenCommit != "c2" || !e.LatestSeenAt.Equal(second) || e.History == nil || len(e.History) != 0 {
		t.Errorf("Environment(prod) = latest %q at %v, history %#v; want c2 at %v, empty",
			e.LatestSeenCommit, e.LatestSeenAt, e.History, second)
	}

	pin := fsm.Pin{Commit: "c1", From: "c2", By: "alice", Since: h.tick()}
	h.mustApply(&fsm.SetPin{Environment: "prod", Pin: &pin})
	if e := h.environment("prod"); e.Pin == nil || *e.Pin != pin {
		t.Errorf("Environment(prod).Pin = %+v; want %+v", e.Pin, pin)
	}
	h.mustApply(&fsm.SetPin{Environment: "prod"})
	if e := h.environment("prod"); e.Pin != nil {
		t.Errorf("Environment(prod).Pin = %+v after unpinning; want nil", e.Pin)
	}
	// Neither pinning nor deployments touch what the watcher saw.
	h.createAt("d1", "prod", fsm.StateCompleted)
	if e := h.environment("prod"); e.LatestSeenCommit != "c2" || !e.LatestSeenAt.Equal(second) {
		t.Errorf("Environment(prod) latest = %q at %v; want c2 at %v", e.LatestSeenCommit, e.LatestSeenAt, second)
	}

	h.mustApply(&fsm.ObserveCommit{Environment: "staging", Commit: "c9", Time: h.tick()})
	var names []string
	for _, e := range h.fsm.Environments() {
		names = append(names, e.Name)
	}
	if !slices.Equal(names, []string{"prod", "staging"}) {
		t.Errorf("Environments() = %v; want [prod staging]", names)
	}
}

// TestDeploymentIDs: the FSM names deployments "<environment>-<n>", n
// counting the deployments of the whole cluster from 1. A refused
// CreateDeployment changes nothing, so it uses up no number.
func TestDeploymentIDs(t *testing.T) {
	h := newHarness(t)
	steps := []struct {
		env, wantID string // wantID "" means refused
	}{
		{"prod", "prod-1"},
		{"staging", "staging-2"},
		{"prod", "prod-3"}, // supersedes prod-1
		{"Bad", ""},
		{"prod-1", "prod-1-4"},
		{"staging", "staging-5"},
	}
	for _, s := range steps {
		cmd := &fsm.CreateDeployment{Environment: s.env, Commit: "abc", Kind: fsm.KindAuto, Initiator: "watcher",
			Time: h.tick()}
		if s.wantID == "" {
			h.refused(cmd, fsm.ErrInvalid)
			continue
		}
		d, ok := h.mustApply(cmd).(*fsm.Deployment)
		if !ok || d.ID != s.wantID || d.Environment != s.env {
			t.Fatalf("Apply(%s) = %+v; want deployment %s of %s", describe(cmd), d, s.wantID, s.env)
		}
		if got, ok := h.fsm.Deployment(s.wantID); !ok || got.Environment != s.env {
			t.Errorf("Deployment(%s) = %+v, %v; want the deployment of %s", s.wantID, got, ok, s.env)
		}
		if e := h.environment(s.env); e.Waiting != s.wantID || e.History[len(e.History)-1] != s.wantID {
			t.Errorf("Environment(%s) = waiting %q history %v; want %s waiting and last", s.env, e.Waiting,
				e.History, s.wantID)
		}
	}
}

// TestPrunedIDIsNotReused: docs/domain.md#states says a deployment id is never
// reused. The FSM numbers deployments with a counter that only grows, and
// is part of the snapshot, so not even a pruned id comes back.
func TestPrunedIDIsNotReused(t *testing.T) {
	h := newHarness(t)
	h.mustApply(&fsm.SetSettings{HistoryRetention: 1})
	// "prod-1" is an environment whose ids look like prod's at first sight.
	envs := []string{"prod", "prod-1", "staging"}
	used := map[string]string{} // id → test name
	create := func(h *harness, name, env string) {
		t.Helper()
		d := h.createAt(name, env, fsm.StateRejected)
		if other, ok := used[d.ID]; ok {
			t.Fatalf("deployment %s got id %s, already the id of %s", name, d.ID, other)
		}
		if !strings.HasPrefix(d.ID, env+"-") {
			t.Errorf("deployment %s of %s got id %s; want %s-<n>", name, env, d.ID, env)
		}
		used[d.ID] = name
	}
	for i := range 30 {
		create(h, fmt.Sprintf("d%02d", i), envs[i%len(envs)])
	}
	pruned := 0
	for id := range used {
		if _, ok := h.fsm.Deployment(id); !ok {
			pruned++
		}
	}
	if pruned != 27 {
		t.Fatalf("%d of 30 deployments pruned; the test needs 27 (retention 1 in 3 environments)", pruned)
	}
	for i := range 30 {
		create(h, fmt.Sprintf("e%02d", i), envs[i%len(envs)])
	}

	// A node restored from a snapshot goes on counting.
	restored := h.on(fsm.New(nil))
	if err := restored.fsm.Restore(snapshotReader(t, h.fsm)); err != nil {
		t.Fatalf("Restore() = %v; want no error", err)
	}
	for i := range 6 {
		create(restored, fmt.Sprintf("r%02d", i), envs[i%len(envs)])
	}
}
