package reconcile

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// TestPreview: a preview validates, plans against the deployed commit and
// applies the policy in force as the pipeline would — and records nothing.
func TestPreview(t *testing.T) {
	p := newMemPipeline(t)
	deployed := p.src.add("c1", files("staging", windowPolicy))
	p.deployed("staging", deployed)
	next := p.src.add("c2", merge(sampleconfig.Env("staging", sampleconfig.Points, sampleconfig.Roads),
		map[string]string{sampleconfig.PolicyPath: windowPolicy}))
	broken := p.src.add("c3", map[string]string{"environments/staging/metadata.json": "{", sampleconfig.PolicyPath: windowPolicy})
	p.apply(&fsm.SetSuspension{Environment: "staging", Suspend: true, Identity: "alice", Reason: "incident", Time: p.now})
	p.now = time.Date(2026, 11, 25, 23, 0, 0, 0, time.UTC) // the window is closed
	before, err := p.a.FSM.Dump()
	if err != nil {
		t.Fatal(err)
	}

	pv, err := p.r.Preview(context.Background(), "staging", next)
	if err != nil {
		t.Fatalf("Preview(%s) = %v", next, err)
	}
	if pv.Commit != next || pv.Plan == nil || pv.Plan.BaseCommit != deployed || pv.Plan.Plan.Added != 1 || !pv.Report.Valid {
		t.Errorf("preview of %s = %+v; want a valid plan adding one layer against %s", next, pv, deployed)
	}
	if pv.Approval != nil {
		t.Errorf("preview asks for approval %+v; staging's window policy asks for none", pv.Approval)
	}
	if pv.GateOpen || pv.GateOpens.IsZero() || pv.Suspended == nil || pv.Suspended.By != "alice" {
		t.Errorf("preview gate open=%v opens=%v suspended=%+v; want closed, opening later, suspended by alice",
			pv.GateOpen, pv.GateOpens, pv.Suspended)
	}

	bad, err := p.r.Preview(context.Background(), "staging", broken)
	if err != nil || bad.Plan != nil || bad.Report.Valid || len(bad.Report.Problems) == 0 {
		t.Errorf("preview of an invalid commit = %+v, %v; want its problems and no plan", bad, err)
	}
	if _, err := p.r.Preview(context.Background(), "staging", "nowhere"); !errors.Is(err, ErrRefNotFound) {
		t.Errorf("preview of a missing ref = %v; want ErrRefNotFound", err)
	}
	if _, err := p.r.Preview(context.Background(), "Bad Env", next); !errors.Is(err, fsm.ErrInvalid) {
		t.Errorf("preview of a bad environment name = %v; want ErrInvalid", err)
	}
	after, err := p.a.FSM.Dump()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("a preview changed the replicated state")
	}
}
