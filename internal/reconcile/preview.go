package reconcile

// This file holds Preview: what a deployment of a branch or commit would
// get, computed on the leader without deploying (honuactl plan).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/honua-io/honua-gitops/internal/configrepo"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/gitrepo"
	"github.com/honua-io/honua-gitops/internal/plan"
)

var (
	// ErrBadRef: the ref to preview is neither a branch name nor a full
	// commit hash.
	ErrBadRef = errors.New("not a branch name or a full commit hash")
	// ErrRefNotFound: the repository has no such branch or commit.
	ErrRefNotFound = errors.New("no such branch or commit")
)

// Preview is the validation and plan a deployment of Commit to an
// environment would get against what is deployed now, and what the policy
// in force would ask of it.
type Preview struct {
	Environment string
	Ref         string
	Commit      string
	// Report is the validation report; Plan is nil when it is not valid.
	Report configrepo.Report
	Plan   *plan.Document
	// Approval is the approval a deployment would wait for; nil when none.
	Approval *fsm.ApprovalRequirement
	// Why says why approval is, or is not, required, under the policy of
	// PolicyFrom.
	Why, PolicyFrom string
	// Gate says whether the policy's windows and blackouts would let it
	// go now, and if not why and when they open.
	GateOpen   bool
	GateReason string
	GateOpens  time.Time
	// Suspended is set when the environment is suspended.
	Suspended *fsm.Suspension
}

// Preview fetches ref (a branch or a full commit hash) and computes what a
// deployment of it to env would get, recording nothing.
func (r *Reconciler) Preview(ctx context.Context, env, ref string) (*Preview, error) {
	if !fsm.ValidEnvironmentName(env) {
		return nil, fmt.Errorf("%q is not a valid environment name: %w", env, fsm.ErrInvalid)
	}
	gctx, cancel := r.gitCtx(ctx)
	commit, err := r.cfg.Source.Resolve(gctx, ref)
	cancel()
	r.metrics.gitRequest("fetch", err)
	switch {
	case errors.Is(err, gitrepo.ErrInvalidRef):
		return nil, fmt.Errorf("ref %q: %w", ref, ErrBadRef)
	case errors.Is(err, gitrepo.ErrBranchNotFound), errors.Is(err, gitrepo.ErrCommitNotFound):
		return nil, fmt.Errorf("%w: %w", ErrRefNotFound, err)
	case err != nil:
		return nil, err
	}
	fsys, err := r.cfg.Source.FS(commit)
	if err != nil {
		return nil, err
	}
	d := &fsm.Deployment{Environment: env, Commit: commit, Kind: fsm.KindAuto}
	p := &Preview{Environment: env, Ref: ref, Commit: commit}
	if e, ok := r.store.Environment(env); ok && e.Suspended != nil {
		s := *e.Suspended
		p.Suspended = &s
	}
	ev := r.evaluate(fsys, d)
	p.Report, p.Plan = ev.report, ev.plan
	if ev.plan == nil {
		return p, nil
	}
	dec, err := r.approvalDecision(ctx, d, ev.plan)
	if err != nil {
		return nil, err
	}
	p.Approval, p.Why, p.PolicyFrom = dec.req, dec.why, dec.from
	p.GateOpen, p.GateReason, p.GateOpens = dec.pol.Gate(r.now())
	return p, nil
}
