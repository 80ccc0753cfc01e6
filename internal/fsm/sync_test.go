package fsm_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

func TestRequestSync(t *testing.T) {
	h := newHarness(t)
	sync := func(env string) *fsm.RequestSync {
		return &fsm.RequestSync{Environment: env, By: "alice", Time: h.tick()}
	}
	if _, err := h.apply(sync("staging")); !errors.Is(err, fsm.ErrNotFound) {
		t.Errorf("Apply(sync of an unknown environment) = %v; want ErrNotFound", err)
	}
	if _, err := h.apply(&fsm.RequestSync{Environment: "staging", Time: h.tick()}); !errors.Is(err, fsm.ErrInvalid) {
		t.Errorf("Apply(sync without who) = %v; want ErrInvalid", err)
	}
	h.mustApply(&fsm.ObserveCommit{Environment: "staging", Commit: "c1", Time: h.tick()})
	first := sync("staging")
	h.mustApply(first)
	h.mustApply(sync("staging")) // a second request while one is pending is the same request
	e := h.environment("staging")
	if e.PendingSync == nil || e.PendingSync.By != "alice" || !e.PendingSync.Time.Equal(first.Time) {
		t.Fatalf("PendingSync = %+v; want alice's first request", e.PendingSync)
	}
	// An automatic deployment does not answer the request...
	h.create("auto", "staging")
	if h.environment("staging").PendingSync == nil {
		t.Error("an auto deployment cleared the pending sync")
	}
	// ...a manual-sync deployment does.
	h.mustApply(&fsm.CreateDeployment{Environment: "staging", Commit: "c1", Kind: fsm.KindManualSync,
		Initiator: "alice", Time: h.tick()})
	if p := h.environment("staging").PendingSync; p != nil {
		t.Errorf("PendingSync = %+v after a manual-sync deployment; want none", p)
	}
}

func TestSetSourceStatus(t *testing.T) {
	h := newHarness(t)
	t1 := h.tick()
	h.mustApply(&fsm.SetSourceStatus{Head: "aaa", Time: t1})
	t2 := h.tick()
	h.mustApply(&fsm.SetSourceStatus{Error: "ls-remote git://x: connection refused", Time: t2})
	h.mustApply(&fsm.SetSourceStatus{Error: "ls-remote git://x: timeout", Time: h.tick()})
	src := h.fsm.Source()
	if src.Head != "aaa" || !src.HeadSince.Equal(t1) || src.Error != "ls-remote git://x: timeout" || !src.ErrorSince.Equal(t2) {
		t.Errorf("Source() = %+v; want head aaa since t1, the latest error, failing since t2", src)
	}
	t4 := h.tick()
	h.mustApply(&fsm.SetSourceStatus{Head: "bbb", Time: t4})
	src = h.fsm.Source()
	if src.Head != "bbb" || !src.HeadSince.Equal(t4) || src.Error != "" || !src.ErrorSince.IsZero() || !src.LastSuccess.Equal(t4) {
		t.Errorf("Source() = %+v; want head bbb since t4, no error, last success t4", src)
	}
	if _, err := h.apply(&fsm.SetSourceStatus{Time: h.tick()}); !errors.Is(err, fsm.ErrInvalid) {
		t.Errorf("Apply(SetSourceStatus with neither head nor error) = %v; want ErrInvalid", err)
	}
}

func TestDeploymentsFilter(t *testing.T) {
	h := newHarness(t)
	h.create("p1", "production")
	h.create("s1", "staging")
	h.create("p2", "production") // supersedes p1
	tests := []struct {
		env   string
		state fsm.DeploymentState
		limit int
		want  []string
	}{
		{"", "", 0, []string{"p2", "s1", "p1"}},
		{"production", "", 0, []string{"p2", "p1"}},
		{"production", fsm.StateSuperseded, 0, []string{"p1"}},
		{"", fsm.StatePending, 1, []string{"p2"}},
		{"development", "", 0, nil},
	}
	for _, tt := range tests {
		var got []string
		for _, d := range h.fsm.Deployments(tt.env, tt.state, tt.limit) {
			got = append(got, h.name(d.ID))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Deployments(%q, %q, %d) = %v; want %v", tt.env, tt.state, tt.limit, got, tt.want)
		}
	}
}

func TestRollbackPinsAtCreation(t *testing.T) {
	h := newHarness(t)
	if _, err := h.apply(&fsm.CreateDeployment{Environment: "prod", Commit: "c1", Kind: fsm.KindAuto,
		Time: h.tick(), PinFrom: "c2"}); !errors.Is(err, fsm.ErrInvalid) {
		t.Errorf("Apply(auto deployment with PinFrom) = %v; want ErrInvalid", err)
	}
	at := h.tick()
	h.mustApply(&fsm.CreateDeployment{Environment: "prod", Commit: "c1", Kind: fsm.KindRollback,
		Initiator: "alice", Time: at, PinFrom: "c2"})
	p := h.environment("prod").Pin
	if p == nil || p.Commit != "c1" || p.From != "c2" || p.By != "alice" || !p.Since.Equal(at) {
		t.Errorf("Pin = %+v; want pinned to c1 from c2 by alice", p)
	}
}

func TestOldPlansAreDropped(t *testing.T) {
	h := newHarness(t)
	h.mustApply(&fsm.SetSettings{HistoryRetention: 100, PlanRetention: 2})
	var names []string
	for i := range 4 {
		name := fmt.Sprintf("d%d", i)
		h.create(name, "prod")
		h.mustApply(&fsm.TransitionDeployment{ID: h.id(name), To: fsm.StateValidating, Time: h.tick()})
		h.mustApply(&fsm.TransitionDeployment{ID: h.id(name), To: fsm.StatePlanning, Time: h.tick(),
			Plan: []byte(`{"risk":"low"}`), Validation: []byte(`{"valid":true}`)})
		names = append(names, name)
	}
	// d0..d2 were superseded (terminal) as each next one was created; d3
	// waits. The newest two keep their plans.
	for i, name := range names {
		d := h.deployment(name)
		dropped := i < 2
		if d.PlanDropped != dropped || (len(d.Plan) == 0) != dropped || (len(d.Validation) == 0) != dropped {
			t.Errorf("%s: planDropped %v, plan %q, validation %q; want dropped %v", name, d.PlanDropped, d.Plan, d.Validation, dropped)
		}
		if d.Transitions[len(d.Transitions)-1].To == "" {
			t.Errorf("%s lost its transitions", name)
		}
	}
	if _, err := h.apply(&fsm.SetSettings{HistoryRetention: 10, PlanRetention: -1}); !errors.Is(err, fsm.ErrInvalid) {
		t.Errorf("negative plan retention = %v; want ErrInvalid", err)
	}
}
