package reconcile

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/plan"
	"github.com/honua-io/honua-gitops/internal/target"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// TestLeadershipGoneStopsQuietly: every way the cluster says this node no
// longer leads — refused as not the leader, leadership lost in flight,
// shutting down, the leader's context cancelled — stops the pipeline's
// step, poll and status report alike, and none of them is logged as a
// failure: the next leader takes over.
func TestLeadershipGoneStopsQuietly(t *testing.T) {
	for _, gone := range []error{cluster.ErrNotLeader, cluster.ErrLeadershipLost, cluster.ErrShutdown, context.Canceled} {
		t.Run(gone.Error(), func(t *testing.T) {
			p := newMemPipeline(t)
			c := p.src.add("c1", files("staging", sampleconfig.Policy))
			d := p.planned("staging", c, plan.Document{Plan: &plan.Plan{Risk: plan.RiskLow, Changes: []plan.Change{}}})
			head := p.src.add("c2", files("staging", sampleconfig.NeverApprove("staging")))
			p.a.SetLeaderError(fmt.Errorf("raft: %w", gone))

			if next := p.r.stepAll(context.Background()); !next.IsZero() {
				t.Errorf("stepAll without leadership wants looking at again at %v; want it to stop", next)
			}
			if got := p.deployment(d.ID); got.State != d.State {
				t.Errorf("deployment moved to %s without leadership", got.State)
			}
			if err := p.r.observe(context.Background(), head, []string{"staging"}, "test"); !errors.Is(err, gone) {
				t.Errorf("observe without leadership = %v; want it to stop with %v", err, gone)
			}
			p.r.recordSource(context.Background(), "", errors.New("git is down"), nil)
			if logs := p.logs.String(); logs != "" {
				t.Errorf("losing leadership (%v) was logged as a failure:\n%s", gone, logs)
			}
		})
	}
}

// failingTarget is a Target whose Apply fails with err.
type failingTarget struct {
	name string
	err  error
}

func (f failingTarget) String() string                              { return f.name }
func (f failingTarget) Apply(context.Context, *target.Bundle) error { return f.err }

// TestTargetErrorNamesItsTargetOnce: an apply error names the target it
// came from once: a *target.Error of that target already does; anything
// else, even a text that happens to start with the name, is prefixed.
func TestTargetErrorNamesItsTargetOnce(t *testing.T) {
	const name = "http https://honua.example/admin"
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"target error", &target.Error{Target: name, Op: "put", Err: errors.New("503")}, name + ": put: 503"},
		{"other error", errors.New("boom"), name + ": boom"},
		{"other error starting with the name", errors.New(name + " is not reachable"), name + ": " + name + " is not reachable"},
		{"another target's error", &target.Error{Target: "exec x", Op: "run", Err: errors.New("exit 1")}, name + ": exec x: run: exit 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newMemPipeline(t)
			c := p.src.add("c1", files("staging", sampleconfig.Policy))
			p.r.cfg.Environments = map[string]EnvironmentSettings{"staging": {Targets: []TargetSpec{{Target: failingTarget{name, tt.err}}}}}
			d := p.move(p.create("staging", c).ID, fsm.StateValidating, fsm.StatePlanning, fsm.StateBackingUp, fsm.StateApplying)
			_, err := p.r.applyWithToken(context.Background(), d, d.ID, c, d.Kind, 0)
			if err == nil || err.Error() != tt.want {
				t.Errorf("apply error = %v; want %q", err, tt.want)
			}
		})
	}
}
