package reconcile

// This file holds the leader's drift check (docs/domain.md#drift): every
// DriftInterval it compares each environment's targets with the bundle of
// its deployed deployment, records what it found with fsm.SetDrift when
// that differs from what the state holds, and, when the policy in force
// says selfHeal, creates a self-heal deployment of the deployed commit.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/target"
)

// digester is implemented by targets that can say what they hold
// (target.Digester): directory targets, and http targets whose server
// answers. Exec targets do not, and are skipped.
type digester interface {
	Digest(ctx context.Context) (*target.Digest, error)
}

// driftTimeout bounds the check of one target.
const driftTimeout = 30 * time.Second

// maxCachedDigests bounds the cache of the bundle digests of deployed
// commits: one per environment is what the checks use.
const maxCachedDigests = 64

// driftState is what the drift check keeps between rounds, on the leader.
type driftState struct {
	// now asks for a check of every environment at once.
	now chan struct{}
	// digests caches the file digests of an environment's bundle at a
	// commit, by driftKey.
	digests *lru.Cache
	// staleChecked is, per environment, the deployed deployment whose
	// stale drift was last checked on a change of state, so that a target
	// that cannot be read is not read again on every change.
	staleChecked map[string]string
	errors       *prometheus.CounterVec
}

func newDriftState(reg prometheus.Registerer) *driftState {
	c, err := lru.New(maxCachedDigests)
	if err != nil {
		panic(err) // only for a size below 1
	}
	ds := &driftState{
		now:          make(chan struct{}, 1),
		digests:      c,
		staleChecked: map[string]string{},
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "honua_drift_check_errors_total",
			Help: "Drift checks of a target that failed (the target could not be read or reached, or the deployed bundle could not be built), by environment; a failed check records no drift.",
		}, []string{"env"}),
	}
	reg.MustRegister(ds.errors)
	return ds
}

// CheckDriftNow asks the leader to check every environment for drift at
// once. It never blocks; requests made while one is pending are merged.
func (r *Reconciler) CheckDriftNow() {
	select {
	case r.drift.now <- struct{}{}:
	default:
	}
}

// driftLoop checks every environment at once, then every DriftInterval
// and when asked (CheckDriftNow). On a change of state it checks at once
// an environment whose recorded drift is of a deployment no longer
// deployed (a deployment, a self-heal say, completed since), and creates
// the self-heal deployments that became possible.
func (r *Reconciler) driftLoop(ctx context.Context) {
	if r.cfg.DriftInterval <= 0 {
		return
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		changed := r.store.Changed()
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			r.checkAllDrift(ctx)
			timer.Reset(jitter(r.cfg.DriftInterval))
		case <-r.drift.now:
			r.checkAllDrift(ctx)
		case <-changed:
			r.checkStaleDrift(ctx)
		}
	}
}

// checkAllDrift checks every environment, in name order.
func (r *Reconciler) checkAllDrift(ctx context.Context) {
	for _, b := range r.store.BriefEnvironments() { // sorted by name
		if ctx.Err() != nil {
			return
		}
		r.checkDrift(ctx, b.Environment)
	}
}

// checkStaleDrift checks the environments whose drift is of a deployment
// no longer deployed, once per deployed deployment, and heals those that
// may be healed now.
func (r *Reconciler) checkStaleDrift(ctx context.Context) {
	// Briefs, without the history ids this needs not: it runs on every
	// change of the state, and a state of 100,000 deployments has as many.
	for _, b := range r.store.BriefEnvironments() {
		e := b.Environment
		if ctx.Err() != nil {
			return
		}
		switch {
		case e.Drift == nil || e.Current != "":
		case e.Drift.Deployment != e.DeployedDeployment:
			if r.drift.staleChecked[e.Name] != e.DeployedDeployment {
				r.drift.staleChecked[e.Name] = e.DeployedDeployment
				r.checkDrift(ctx, e)
			}
		default:
			r.selfHeal(ctx, e)
		}
	}
}

// checkDrift compares e's targets with its deployed bundle and records
// the difference when it is not what the state holds.
func (r *Reconciler) checkDrift(ctx context.Context, e *fsm.Environment) {
	if e.DeployedDeployment == "" || e.Current != "" {
		return // nothing deployed, or being changed right now
	}
	found, failed, err := r.compareTargets(ctx, e)
	if err != nil {
		if ctx.Err() == nil {
			r.drift.errors.WithLabelValues(e.Name).Inc()
			r.logger.Warn("drift check: cannot build the deployed bundle", "env", e.Name,
				"deployment", e.DeployedDeployment, "error", err)
		}
		return
	}
	if found == nil && failed {
		return // a target that cannot be read is not drift, nor its end
	}
	// Drop the result if the environment moved while its targets were
	// read: it is no longer about what is deployed.
	now, ok := r.store.Environment(e.Name)
	if !ok || now.DeployedDeployment != e.DeployedDeployment || now.Current != "" {
		return
	}
	if sameDrift(now.Drift, found) {
		r.selfHeal(ctx, now)
		return
	}
	if found == nil {
		found = &fsm.SetDrift{Environment: e.Name}
	}
	found.Time = r.now()
	res, err := r.cluster.Apply(ctx, found)
	if err != nil {
		if !leadershipGone(err) {
			r.logger.Error("record drift", "env", e.Name, "error", err)
		}
		return
	}
	env := res.(*fsm.DriftResult).Environment
	if found.Drifted {
		r.logger.Warn("drift: the targets no longer hold the deployed bundle", "env", e.Name,
			"deployment", e.DeployedDeployment, "targets", found.Targets, "files", found.Files, "more_files", found.MoreFiles)
		r.selfHeal(ctx, env)
	} else {
		r.logger.Info("drift cleared: the targets hold the deployed bundle again", "env", e.Name, "deployment", e.DeployedDeployment)
	}
}

// compareTargets reads what each of e's targets that can tell holds and
// returns the drift found (nil for none) and whether some target could not
// be read. Its error means the deployed bundle could not be built.
func (r *Reconciler) compareTargets(ctx context.Context, e *fsm.Environment) (*fsm.SetDrift, bool, error) {
	var want map[string]string
	failed := false
	files := map[string]bool{}
	var targets []string
	for _, s := range r.cfg.Environments[e.Name].Targets {
		dg, ok := s.Target.(digester)
		if !ok {
			continue // exec targets cannot tell
		}
		if want == nil {
			var err error
			if want, err = r.deployedDigests(ctx, e); err != nil {
				return nil, false, err
			}
		}
		tctx, cancel := context.WithTimeout(ctx, driftTimeout)
		got, err := dg.Digest(tctx)
		cancel()
		if errors.Is(err, target.ErrNoDigest) {
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				failed = true
				r.drift.errors.WithLabelValues(e.Name).Inc()
				r.logger.Warn("drift check: cannot read a target; not counted as drift", "env", e.Name,
					"target", s.Target.String(), "error", err)
			}
			continue
		}
		diff := target.DiffDigests(want, got.Files)
		if m := got.Manifest; m == nil || m.DeploymentID != e.DeployedDeployment || m.Commit != e.DeployedCommit {
			diff = append(diff, target.ManifestPath)
		}
		if len(diff) == 0 {
			continue
		}
		targets = append(targets, s.Target.String())
		for _, f := range diff {
			files[f] = true
		}
	}
	if len(targets) == 0 {
		return nil, failed, nil
	}
	return driftCommand(e, targets, files), failed, nil
}

// driftCommand returns the SetDrift of e's targets and files, within the
// FSM's bounds: at most fsm.MaxDriftFiles file names, in order, the others
// (and any name too long to record) counted; target names cut to their
// bound.
func driftCommand(e *fsm.Environment, targets []string, files map[string]bool) *fsm.SetDrift {
	c := &fsm.SetDrift{Environment: e.Name, Deployment: e.DeployedDeployment, Drifted: true}
	for _, t := range targets[:min(len(targets), fsm.MaxDriftTargets)] {
		if len(t) > fsm.MaxDriftTargetName {
			t = strings.ToValidUTF8(t[:fsm.MaxDriftTargetName], "")
		}
		if !slices.Contains(c.Targets, t) {
			c.Targets = append(c.Targets, t)
		}
	}
	for _, f := range slices.Sorted(func(yield func(string) bool) {
		for f := range files {
			if !yield(f) {
				return
			}
		}
	}) {
		if len(c.Files) < fsm.MaxDriftFiles && len(f) <= fsm.MaxDriftFileName {
			c.Files = append(c.Files, f)
		} else {
			c.MoreFiles++
		}
	}
	slices.Sort(c.Targets)
	return c
}

// sameDrift reports whether the state's drift d already says what c
// (nil: no drift) says, so that nothing needs recording.
func sameDrift(d *fsm.Drift, c *fsm.SetDrift) bool {
	if d == nil || c == nil {
		return d == nil && c == nil
	}
	return d.Deployment == c.Deployment && slices.Equal(d.Targets, c.Targets) && slices.Equal(d.Files, c.Files) &&
		d.MoreFiles == c.MoreFiles
}

// deployedDigests returns the digests of the files of e's deployed bundle,
// built from its commit once and cached.
func (r *Reconciler) deployedDigests(ctx context.Context, e *fsm.Environment) (map[string]string, error) {
	key := e.Name + "\x00" + e.DeployedCommit
	if v, ok := r.drift.digests.Get(key); ok {
		return v.(map[string]string), nil
	}
	b, err := r.buildBundle(ctx, e.Name, e.DeployedCommit, target.Manifest{
		DeploymentID: e.DeployedDeployment, Environment: e.Name, Commit: e.DeployedCommit, Time: r.now(),
	})
	if err != nil {
		return nil, err
	}
	sums := target.FileDigests(b.Files)
	r.drift.digests.Add(key, sums)
	return sums, nil
}

// selfHeal creates a self-heal deployment of e's deployed commit when e
// has a drift of it not healed yet, nothing else is waiting or active, it
// is not suspended nor dry-run, and the policy in force says selfHeal.
func (r *Reconciler) selfHeal(ctx context.Context, e *fsm.Environment) {
	d := e.Drift
	if d == nil || d.SelfHeal != "" || d.Deployment != e.DeployedDeployment || e.Waiting != "" || e.Current != "" ||
		e.Suspended != nil || r.dryRun(e.Name) {
		return
	}
	pa, err := r.policyAt(ctx, e.DeployedCommit, "the deployed commit "+short(e.DeployedCommit))
	if err != nil {
		if !leadershipGone(err) {
			r.logger.Warn("self-heal: cannot read the policy", "env", e.Name, "error", err)
		}
		return
	}
	if !pa.pol.For(e.Name).SelfHeal {
		return
	}
	what := strings.Join(d.Files, ", ")
	if d.MoreFiles > 0 {
		what += fmt.Sprintf(" and %d more", d.MoreFiles)
	}
	res, err := r.cluster.Apply(ctx, &fsm.CreateDeployment{
		Environment: e.Name, Commit: e.DeployedCommit, Branch: r.cfg.Branch, Kind: fsm.KindSelfHeal, Initiator: "drift",
		Subject: r.subject(e.DeployedCommit),
		Time:    r.now(), Message: fmt.Sprintf("self-heal: redeploying %s, drifted on %s (%s)", short(e.DeployedCommit),
			strings.Join(d.Targets, ", "), what),
	})
	switch {
	case errors.Is(err, fsm.ErrConflict) || errors.Is(err, fsm.ErrWrongState):
		r.logger.Debug("self-heal not created: the environment moved", "env", e.Name, "error", err)
	case err != nil:
		if !leadershipGone(err) {
			r.logger.Error("create self-heal deployment", "env", e.Name, "error", err)
		}
	default:
		r.logger.Info("self-heal deployment created", "env", e.Name, "deployment", res.(*fsm.Deployment).ID,
			"commit", short(e.DeployedCommit))
	}
}
