package reconcile

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/plan"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// TestWindowOverrideReleasesAScheduledDeployment: a deployment parked in
// Scheduled by a closed window goes on once an admin overrides the window,
// and its move to BackingUp says who overrode it and why.
func TestWindowOverrideReleasesAScheduledDeployment(t *testing.T) {
	p := newMemPipeline(t)
	c := p.src.add("c1", files("staging", windowPolicy))
	d := p.planned("staging", c, plan.Document{Plan: &plan.Plan{Risk: plan.RiskLow, Changes: []plan.Change{}}})
	p.now = time.Date(2026, 11, 25, 23, 0, 0, 0, time.UTC) // closed
	if _, err := p.r.gate(context.Background(), d); err != nil {
		t.Fatalf("gate = %v", err)
	}
	if got := p.deployment(d.ID); got.State != fsm.StateScheduled {
		t.Fatalf("closed window left the deployment %s; want Scheduled", got.State)
	}
	p.apply(&fsm.OverrideWindow{ID: d.ID, Identity: "root", Role: fsm.AdminRole, Time: p.now, Reason: "hotfix for incident 7"})
	p.r.stepAll(context.Background())
	got := p.deployment(d.ID)
	if got.State != fsm.StateBackingUp {
		t.Fatalf("after the override the deployment is %s (%q); want BackingUp", got.State, lastMessage(got))
	}
	if msg := lastMessage(got); !strings.Contains(msg, "overridden by root: hotfix for incident 7") {
		t.Errorf("move to BackingUp says %q; want it to name the override", msg)
	}
}

// TestSuspendedEnvironmentWaits: the pipeline leaves a suspended
// environment's waiting deployment where it is, and takes it on once the
// environment is resumed; other environments go on meanwhile.
func TestSuspendedEnvironmentWaits(t *testing.T) {
	p := newMemPipeline(t)
	c := p.src.add("c1", files("staging", sampleconfig.Policy))
	p.apply(&fsm.ObserveCommit{Environment: "staging", Commit: c, Time: p.now})
	p.apply(&fsm.SetSuspension{Environment: "staging", Suspend: true, Identity: "alice", Reason: "incident 42", Time: p.now})
	d := p.create("staging", c)
	p.r.stepAll(context.Background())
	if got := p.deployment(d.ID); got.State != fsm.StatePending {
		t.Fatalf("suspended environment's deployment is %s (%q); want it left Pending", got.State, lastMessage(got))
	}
	if logs := p.logs.String(); strings.Contains(logs, "pipeline step") {
		t.Errorf("the pipeline logged an error for a suspended environment:\n%s", logs)
	}
	p.apply(&fsm.SetSuspension{Environment: "staging", Identity: "alice", Time: p.now})
	p.r.stepAll(context.Background())
	if got := p.deployment(d.ID); got.State == fsm.StatePending {
		t.Fatalf("resumed environment's deployment is still Pending (%q)", lastMessage(got))
	}
}
