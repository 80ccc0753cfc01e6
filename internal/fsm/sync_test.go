package fsm_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
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
		{"", 0, 0, []string{"p2", "s1", "p1"}},
		{"production", 0, 0, []string{"p2", "p1"}},
		{"production", fsm.StateSuperseded, 0, []string{"p1"}},
		{"", fsm.StatePending, 1, []string{"p2"}},
		{"development", 0, 0, nil},
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

// TestCreateRollback: a rollback goes only to a Completed deployment of its
// own environment, takes that deployment's commit, and pins the
// environment from the commit the watcher saw last.
func TestCreateRollback(t *testing.T) {
	h := newHarness(t)
	h.createAt("done", "prod", fsm.StateCompleted)
	h.createAt("other-env", "dev", fsm.StateCompleted)
	h.createAt("rolled-back", "prod", fsm.StateRolledBack)
	h.createAt("rejected", "prod", fsm.StateRejected)
	h.createAt("failed", "prod", fsm.StateFailed)
	h.createAt("deployed", "prod", fsm.StateCompleted)
	h.createAt("superseded", "prod", fsm.StatePlanning)
	h.createAt("waiting", "prod", fsm.StateAwaitingApproval) // supersedes the one in Planning
	h.mustApply(&fsm.ObserveCommit{Environment: "prod", Commit: "commit-head", Time: h.tick()})

	rollback := func(env, to string) *fsm.CreateRollback {
		return &fsm.CreateRollback{Environment: env, To: to, Initiator: "alice", Time: h.tick(), Message: "back"}
	}
	for _, tt := range []struct {
		name    string
		cmd     *fsm.CreateRollback
		want    error
		wantMsg string
	}{
		{"to a deployment that rolled back", rollback("prod", h.id("rolled-back")), fsm.ErrWrongState, "is RolledBack"},
		{"to a rejected deployment", rollback("prod", h.id("rejected")), fsm.ErrWrongState, "is Rejected"},
		{"to a failed deployment", rollback("prod", h.id("failed")), fsm.ErrWrongState, "is Failed"},
		{"to a superseded deployment", rollback("prod", h.id("superseded")), fsm.ErrWrongState, "is Superseded"},
		{"to a waiting deployment", rollback("prod", h.id("waiting")), fsm.ErrWrongState, "is AwaitingApproval"},
		{"to what is deployed", rollback("prod", h.id("deployed")), fsm.ErrWrongState, "is what is deployed"},
		{"to a deployment of another environment", rollback("prod", h.id("other-env")), fsm.ErrInvalid, "is of dev"},
		{"to an unknown deployment", rollback("prod", "prod-99"), fsm.ErrNotFound, "no such deployment"},
		{"of an unknown environment", rollback("staging", h.id("done")), fsm.ErrNotFound, "environment staging"},
		{"naming nothing", rollback("prod", ""), fsm.ErrInvalid, "not named"},
		{"by nobody", &fsm.CreateRollback{Environment: "prod", To: h.id("done"), Time: h.tick()}, fsm.ErrInvalid, "initiator"},
		{"without a time", &fsm.CreateRollback{Environment: "prod", To: h.id("done"), Initiator: "alice"}, fsm.ErrInvalid, "time"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := h.refused(tt.cmd, tt.want)
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Apply(%s) error = %q; want it to say %q", describe(tt.cmd), err, tt.wantMsg)
			}
		})
	}
	if _, err := h.apply(&fsm.CreateDeployment{Environment: "prod", Commit: "commit-x", Kind: fsm.KindRollback,
		Initiator: "alice", Time: h.tick()}); !errors.Is(err, fsm.ErrInvalid) {
		t.Errorf("Apply(CreateDeployment of kind rollback) = %v; want ErrInvalid", err)
	}

	c := rollback("prod", h.id("done"))
	d := h.mustApply(c).(*fsm.Deployment)
	if d.Kind != fsm.KindRollback || d.Commit != "commit-done" || d.RollbackTo != h.id("done") ||
		d.Initiator != "alice" || d.State != fsm.StatePending {
		t.Errorf("rollback = %+v; want a Pending rollback to %s at commit-done by alice", d, h.id("done"))
	}
	e := h.environment("prod")
	want := fsm.Pin{Commit: "commit-done", From: "commit-head", By: "alice", Since: c.Time}
	if e.Pin == nil || *e.Pin != want {
		t.Errorf("pin = %+v; want %+v", e.Pin, want)
	}
	if e.Waiting != d.ID || h.deployment("waiting").State != fsm.StateSuperseded {
		t.Errorf("waiting = %s, the deployment that waited is %s; want the rollback waiting and the other superseded",
			e.Waiting, h.deployment("waiting").State)
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
		if d.PlanDropped != dropped || (len(d.Plan.JSON()) == 0) != dropped || (len(d.Validation.JSON()) == 0) != dropped {
			t.Errorf("%s: planDropped %v, plan %q, validation %q; want dropped %v", name, d.PlanDropped, d.Plan, d.Validation, dropped)
		}
		if d.Transitions[len(d.Transitions)-1].To == 0 {
			t.Errorf("%s lost its transitions", name)
		}
	}
	if _, err := h.apply(&fsm.SetSettings{HistoryRetention: 10, PlanRetention: -1}); !errors.Is(err, fsm.ErrInvalid) {
		t.Errorf("negative plan retention = %v; want ErrInvalid", err)
	}
}
