package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"time"

	lru "github.com/hashicorp/golang-lru"

	"github.com/honua-io/honua-gitops/internal/configrepo"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/plan"
	"github.com/honua-io/honua-gitops/internal/policy"
)

// errCommitMissing: the commit is not in the repository even after a fetch.
var errCommitMissing = errors.New("commit not found in the repository")

// commitFS returns the commit's files, fetching when the local clone lacks
// the commit.
func (r *Reconciler) commitFS(ctx context.Context, commit string) (fs.FS, error) {
	if !r.cfg.Source.Has(commit) {
		gctx, cancel := r.gitCtx(ctx)
		_, err := r.cfg.Source.Fetch(gctx)
		cancel()
		r.metrics.gitRequest("fetch", err)
		if err != nil {
			return nil, err
		}
		if !r.cfg.Source.Has(commit) {
			return nil, fmt.Errorf("%s: %w", short(commit), errCommitMissing)
		}
	}
	return r.cfg.Source.FS(commit)
}

// validateAndPlan validates the deployment's commit and, when it is valid,
// plans it against the deployed commit and moves it to Planning with both
// documents; an invalid commit fails with its problems listed (a report of
// the first hundred, an error naming the first ten, both counting all).
func (r *Reconciler) validateAndPlan(ctx context.Context, d *fsm.Deployment) (outcome, error) {
	fsys, err := r.commitFS(ctx, d.Commit)
	if errors.Is(err, errCommitMissing) {
		return r.fail(ctx, d, fmt.Sprintf("commit %s is not on the repository (was it force-pushed away?)", short(d.Commit)),
			err.Error(), nil)
	}
	if err != nil {
		r.logger.Warn("cannot read the commit to validate; retrying", "deployment", d.ID, "error", err)
		return outcome{at: r.now().Add(retryAfter)}, nil
	}
	ev := r.evaluate(fsys, d)
	if ev.plan == nil {
		texts := make([]string, len(ev.report.Problems))
		for i, p := range ev.report.Problems {
			texts[i] = p.Text
		}
		doc, _ := json.Marshal(ev.report)
		return r.fail(ctx, d, fmt.Sprintf("commit %s is not valid: %d problems", short(d.Commit), len(ev.problems)),
			problemSummary(texts, len(ev.problems)), func(c *fsm.TransitionDeployment) { c.Validation = doc })
	}
	rec := ev.plan
	planDoc, err := json.Marshal(rec)
	if err != nil {
		return outcome{}, fmt.Errorf("encode plan: %w", err)
	}
	valDoc, _ := json.Marshal(ev.report)
	msg := "planned: " + rec.Plan.Summary()
	if rec.Note != "" {
		msg += " (" + rec.Note + ")"
	}
	if d.DryRun {
		msg += "; dry run: stops here"
	}
	return r.move(ctx, d, fsm.StatePlanning, msg, func(c *fsm.TransitionDeployment) {
		c.Plan, c.Validation, c.Risk = planDoc, valDoc, rec.Plan.Risk.String()
	})
}

// evaluation is what validating and planning a commit for an environment
// found: the problems and their report, or the plan against what is
// deployed.
type evaluation struct {
	problems []configrepo.Problem
	report   configrepo.Report
	// plan is nil when the commit is not valid.
	plan *plan.Document
}

// evaluate validates d's commit, whose files are fsys, for d's environment
// (its configuration and the policy file) and, when it is valid, plans it
// against the environment's deployed commit. It records nothing: the
// pipeline and a preview (Preview) share it.
func (r *Reconciler) evaluate(fsys fs.FS, d *fsm.Deployment) evaluation {
	bundle, problems := r.cfg.ConfigRepo.Load(fsys, d.Environment)
	rawPolicy, hasPolicy, err := r.cfg.ConfigRepo.ReadPolicy(fsys)
	var tooLarge configrepo.Problem
	switch {
	case errors.As(err, &tooLarge):
		problems = append(problems, tooLarge)
	case err != nil:
		problems = append(problems, configrepo.Problem{File: policyPath, Message: err.Error()})
	case hasPolicy:
		pol, err := policy.Parse(rawPolicy, policyPath)
		if err != nil {
			problems = append(problems, policyProblems(err)...)
		} else {
			problems = append(problems, r.rolloutProblems(pol, d.Environment)...)
		}
	}
	if len(problems) > 0 || bundle == nil {
		return evaluation{problems: problems, report: configrepo.NewReport(problems)}
	}
	head := inputOf(bundle, rawPolicy)
	rec := &plan.Document{Commit: d.Commit}
	base, baseCommit, note := r.baseInput(d)
	rec.BaseCommit, rec.Note = baseCommit, note
	rec.Plan = plan.Compute(base, head)
	if baseCommit != "" && note != "" && rec.Plan.Risk < plan.RiskHigh {
		// Without the deployed files the plan cannot see removals: never
		// rate it below high.
		rec.Plan.Risk = plan.RiskHigh
	}
	return evaluation{report: configrepo.Report{Valid: true, Problems: []configrepo.ReportProblem{}}, plan: rec}
}

// baseInput returns what the deployment is planned against: the
// environment's deployed commit, or nothing for a first deployment. When
// the deployed files cannot be read, it plans against nothing and says so.
func (r *Reconciler) baseInput(d *fsm.Deployment) (plan.Input, string, string) {
	e, ok := r.store.Environment(d.Environment)
	if !ok || e.DeployedCommit == "" {
		return plan.Input{}, "", ""
	}
	deployed := e.DeployedCommit
	if !r.cfg.Source.Has(deployed) {
		return plan.Input{}, deployed, fmt.Sprintf("the deployed commit %s is no longer in the repository; planned against nothing and rated at least high", short(deployed))
	}
	fsys, err := r.cfg.Source.FS(deployed)
	if err != nil {
		return plan.Input{}, deployed, fmt.Sprintf("the deployed commit %s cannot be read (%v); planned against nothing and rated at least high", short(deployed), err)
	}
	bundle, problems := r.cfg.ConfigRepo.Load(fsys, d.Environment)
	if bundle == nil {
		return plan.Input{}, deployed, fmt.Sprintf("the deployed commit %s does not validate (%d problems); planned against nothing and rated at least high", short(deployed), len(problems))
	}
	raw, _, _ := r.cfg.ConfigRepo.ReadPolicy(fsys)
	return inputOf(bundle, raw), deployed, ""
}

func inputOf(b *configrepo.Bundle, rawPolicy []byte) plan.Input {
	return plan.Input{
		Metadata: b.Metadata, DataSources: b.DataSources, AppSettings: b.AppSettings,
		SharedConfig: b.SharedConfig, Policy: rawPolicy,
	}
}

// decide applies the policy in force to a planned deployment: it waits for
// approval, or goes on to the window gate.
func (r *Reconciler) decide(ctx context.Context, d *fsm.Deployment) (outcome, error) {
	var rec plan.Document
	if err := json.Unmarshal(d.Plan.JSON(), &rec); err != nil || rec.Plan == nil {
		return r.fail(ctx, d, "the recorded plan cannot be read", fmt.Sprintf("decode plan: %v", err), nil)
	}
	dec, err := r.approvalDecision(ctx, d, &rec)
	if err != nil {
		return outcome{at: r.now().Add(retryAfter)}, err
	}
	if dec.req == nil {
		return r.gate(ctx, d)
	}
	req := dec.req
	msg := fmt.Sprintf("%s (policy of %s): needs %d approval(s)", dec.why, dec.from, req.Required)
	if len(req.Groups) > 0 {
		msg += fmt.Sprintf(" from %v", req.Groups)
	}
	if !req.Expires.IsZero() {
		msg += " by " + req.Expires.Format(time.RFC3339)
	}
	return r.move(ctx, d, fsm.StateAwaitingApproval, msg, func(c *fsm.TransitionDeployment) { c.Approval = req })
}

// decision is what the policy in force asks of a planned deployment.
type decision struct {
	// req is the approval required; nil when none is.
	req *fsm.ApprovalRequirement
	// why says why approval is, or is not, required.
	why string
	// from names where the policy in force was read.
	from string
	// pol is the policy in force for the environment.
	pol policy.Environment
}

// approvalDecision applies the policy in force to d, planned as rec: is
// approval required, by how many and whom, and why. It records nothing.
func (r *Reconciler) approvalDecision(ctx context.Context, d *fsm.Deployment, rec *plan.Document) (decision, error) {
	pol, gate, from, err := r.policyInForce(ctx, d)
	if err != nil {
		return decision{}, err
	}
	policyChanged, err := r.policyLoosenable(ctx, d, rec, gate, pol)
	if err != nil {
		return decision{}, err
	}
	need, why := pol.ApprovalNeeded(rec.Risk, rec.Breaking, policyChanged)
	if d.Kind == fsm.KindRollback {
		need, why = pol.RollbackRequiresApproval, d.Environment+"'s policy does not require approval of rollbacks"
		if need {
			why = d.Environment + "'s policy requires approval of rollbacks"
		}
	}
	dec := decision{why: why, from: from, pol: pol}
	if need {
		dec.req = &fsm.ApprovalRequirement{Required: max(pol.RequiredApprovals, 1), Groups: pol.Approvers}
		if pol.ApprovalTimeout > 0 {
			dec.req.Expires = r.now().Add(pol.ApprovalTimeout)
		}
	}
	return dec, nil
}

// policyLoosenable reports whether d's commit changes the policy that
// applies to its environment from old, the policy in force (read at the
// commit gate): such a change must be approved under old. The policy of
// d's own commit gates only an environment's very first deployment, which
// has no gate to loosen; a change to other environments' entries leaves
// this one's gate as it was (the plan still rates the change high).
func (r *Reconciler) policyLoosenable(ctx context.Context, d *fsm.Deployment, rec *plan.Document, gate string, old policy.Environment) (bool, error) {
	if gate == d.Commit || (rec.BaseCommit == gate && !rec.PolicyChanged) {
		return false, nil
	}
	pa, err := r.policyAt(ctx, d.Commit, "the new commit")
	if err != nil {
		return false, err
	}
	return !reflect.DeepEqual(pa.pol.For(d.Environment), old), nil
}

// policyAt is a parsed policy file and where it came from.
type policyAt struct {
	pol  *policy.Policy
	from string
}

// policyFile is what a commit holds as its policy: a parsed file, or why
// the defaults apply instead (absent, unparseable, commit gone).
type policyFile struct {
	pol      *policy.Policy
	defaults string
}

// policyFor returns the policy in force for d, and the commit it is read
// at: the environment's deployed commit (a commit cannot loosen its own
// gate); with nothing deployed, the commit of the environment's first
// deployment that reached the gate (fsm.Environment.FirstGate), so that a
// rejected first deployment cannot be followed by a commit that turns the
// gate off; and for that first deployment itself, d's own commit. An
// absent file means the defaults.
func (r *Reconciler) policyFor(ctx context.Context, d *fsm.Deployment) (policy.Environment, string, error) {
	pol, _, from, err := r.policyInForce(ctx, d)
	return pol, from, err
}

// policyInForce is policyFor, with the commit the policy is read at.
func (r *Reconciler) policyInForce(ctx context.Context, d *fsm.Deployment) (policy.Environment, string, string, error) {
	commit, from := d.Commit, "its own commit, the environment's first deployment"
	if e, ok := r.store.Environment(d.Environment); ok {
		switch {
		case e.DeployedCommit != "":
			commit, from = e.DeployedCommit, "the deployed commit "+short(e.DeployedCommit)
		case e.FirstGate != "" && e.FirstGate != d.Commit:
			commit, from = e.FirstGate, fmt.Sprintf("commit %s, which gated the environment's first deployment; nothing is deployed yet", short(e.FirstGate))
		}
	}
	pa, err := r.policyAt(ctx, commit, from)
	if err != nil {
		return policy.Environment{}, "", "", err
	}
	return pa.pol.For(d.Environment), commit, pa.from, nil
}

// maxCachedPolicies bounds the policy cache. A decision reads the policy
// of the deployed commit, of the first gate, and of the commit deciding:
// a few per environment at once. Sixty-four covers a busy repository's
// environments many times over; a commit forgotten is read again.
const maxCachedPolicies = 64

func newPolicyCache() *lru.Cache {
	c, err := lru.New(maxCachedPolicies)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return c
}

// policyAt returns the policy at commit, described as from (the file is
// read and parsed once per commit while it stays in the cache). An absent or unparseable file, or a
// commit no longer in the repository, means the defaults, and says so.
func (r *Reconciler) policyAt(ctx context.Context, commit, from string) (policyAt, error) {
	var pf policyFile
	if v, ok := r.policies.Get(commit); ok {
		pf = v.(policyFile)
	} else {
		var err error
		if pf, err = r.readPolicy(ctx, commit); err != nil {
			return policyAt{}, err
		}
		r.policies.Add(commit, pf)
	}
	if pf.defaults != "" {
		return policyAt{pol: policy.Default(), from: fmt.Sprintf("the defaults (%s %s)", from, pf.defaults)}, nil
	}
	return policyAt{pol: pf.pol, from: from}, nil
}

func (r *Reconciler) readPolicy(ctx context.Context, commit string) (policyFile, error) {
	fsys, err := r.commitFS(ctx, commit)
	if errors.Is(err, errCommitMissing) {
		// The commit was force-pushed away: the strict defaults.
		return policyFile{defaults: "is gone from the repository"}, nil
	}
	if err != nil {
		return policyFile{}, fmt.Errorf("read the policy at %s: %w", short(commit), err)
	}
	raw, ok, err := r.cfg.ConfigRepo.ReadPolicy(fsys)
	var tooLarge configrepo.Problem
	switch {
	case errors.As(err, &tooLarge):
		return policyFile{defaults: "has a policy file over the size limit"}, nil
	case err != nil:
		return policyFile{}, fmt.Errorf("read the policy at %s: %w", short(commit), err)
	case !ok:
		return policyFile{defaults: "has no policy file"}, nil
	}
	p, err := policy.Parse(raw, policyPath)
	if err != nil {
		return policyFile{defaults: "has a policy file that does not parse"}, nil
	}
	return policyFile{pol: p}, nil
}

// policyProblems turns a policy parse error into validation problems.
func policyProblems(err error) []configrepo.Problem {
	var pe *policy.ParseError
	if !errors.As(err, &pe) {
		return []configrepo.Problem{{File: policyPath, Message: err.Error()}}
	}
	out := make([]configrepo.Problem, len(pe.Problems))
	for i, p := range pe.Problems {
		out[i] = configrepo.Problem{File: p.File, Line: p.Line, Column: p.Column, Message: p.Message}
	}
	return out
}

// rolloutProblems checks the targets the policy's rollout of env names
// against the names of env's targets here: every wave target must exist
// and every target must be in a wave. An environment without targets here
// is only validated, planned and gated, so its rollout is not checked.
func (r *Reconciler) rolloutProblems(pol *policy.Policy, env string) []configrepo.Problem {
	specs := r.cfg.Environments[env].Targets
	if len(specs) == 0 {
		return nil
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	var out []configrepo.Problem
	for _, p := range pol.For(env).Rollout.CheckTargets(names) {
		out = append(out, configrepo.Problem{File: p.File, Line: p.Line, Column: p.Column, Message: env + ": " + p.Message})
	}
	return out
}
