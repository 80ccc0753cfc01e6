package reconcile

// This file holds the deploy stage of an environment whose policy in force
// has a rollout (docs/domain.md#rollouts): Applying goes wave by wave. Each
// wave gets a fresh fencing token, recorded (fsm.RecordWave) before any of
// its targets is written; its targets get the bundle, maxParallel at a
// time, and pass their reload and health checks; then it bakes, analysed
// every interval, until its bake ends. A failed health check or analyses
// failing beyond failureLimit record the wave failed and fail the
// deployment, which then rolls back every target (RollingBack restores the
// backup on all of them, so every target that received the bundle, in any
// wave, gets the previous one back, with a new token).
//
// A new leader resumes from the record: a wave still applying is applied
// again with a new token (the FSM refuses the recorded one), a baking wave
// is not applied again but bakes on until its recorded end, and passes only
// after this leader ran an analysis of its own, so a failover never skips
// one.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/honua-io/honua-gitops/internal/analysis"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/policy"
	"github.com/honua-io/honua-gitops/internal/target"
)

// errWaveFailed is returned internally when a wave failed and the
// deployment was moved to Failed.
var errWaveFailed = errors.New("wave failed")

// rollOut drives Applying of d wave by wave, resuming from its record,
// and moves it to PostValidating when every wave passed.
func (r *Reconciler) rollOut(ctx context.Context, d *fsm.Deployment, pol policy.Environment) error {
	ro := pol.Rollout
	byName := map[string]TargetSpec{}
	for _, s := range r.cfg.Environments[d.Environment].Targets {
		if s.Name != "" {
			byName[s.Name] = s
		}
	}
	for i, w := range ro.Waves {
		cur, ok := r.store.Deployment(d.ID)
		if !ok || cur.State != fsm.StateApplying {
			return nil
		}
		var specs []TargetSpec
		for _, n := range w.Targets {
			s, ok := byName[n]
			if !ok {
				_, err := r.fail(ctx, cur, fmt.Sprintf("rollout: wave %d names target %q, which %s does not have here", i, n, d.Environment),
					fmt.Sprintf("rollout names unknown target %q", n), nil)
				return err
			}
			specs = append(specs, s)
		}
		if ab := cur.RolloutAbort; ab != nil {
			_, err := r.fail(ctx, cur, fmt.Sprintf("rollout aborted by %s: %s", ab.Identity, ab.Reason), "rollout aborted: "+ab.Reason, nil)
			return err
		}
		var rec *fsm.WaveRecord
		if i < len(cur.Rollout) {
			rec = &cur.Rollout[i]
		}
		switch {
		case rec != nil && rec.Phase == fsm.WavePassed:
			continue
		case rec != nil && rec.Phase == fsm.WaveFailed:
			// The last leader recorded the failure but not the move.
			_, err := r.fail(ctx, cur, fmt.Sprintf("rollout: wave %d failed: %s", i, rec.Message), "wave failed: "+rec.Message, nil)
			return err
		case rec == nil || rec.Phase == fsm.WaveApplying:
			if err := r.applyWave(ctx, cur, i, w, specs, pol.HealthCheckTimeout); err != nil {
				if errors.Is(err, errWaveFailed) {
					return nil
				}
				return err
			}
		}
		if err := r.bake(ctx, d.ID, i, w, ro.Analysis); err != nil {
			if errors.Is(err, errWaveFailed) {
				return nil
			}
			return err
		}
		r.metrics.wavesApplied.WithLabelValues(d.Environment).Inc()
	}
	cur, ok := r.store.Deployment(d.ID)
	if !ok || cur.State != fsm.StateApplying {
		return nil
	}
	if len(cur.Rollout) > 0 {
		r.metrics.rolloutDuration.WithLabelValues(d.Environment).Observe(r.now().Sub(cur.Rollout[0].Started).Seconds())
	}
	_, err := r.move(ctx, cur, fsm.StatePostValidating, fmt.Sprintf("rolled out in %d waves", len(ro.Waves)), nil)
	return err
}

// applyWave records wave i applying with a fresh token, gives its targets
// the bundle (w.MaxParallel at a time), reloads and checks them, and
// records the wave baking. A failure records the wave failed and fails d
// (errWaveFailed). A target that accepted a higher token than this cluster
// issued (its state restored from an older backup) fences the wave once:
// the wave then takes a token above it, records it, and is applied again,
// as a whole-environment apply does (applyCommit).
func (r *Reconciler) applyWave(ctx context.Context, d *fsm.Deployment, i int, w policy.Wave, specs []TargetSpec, healthTimeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, deployTimeout)
	defer cancel()
	var token, floor uint64
	var err error
	for try := 0; ; try++ {
		res, ierr := r.cluster.Apply(ctx, &fsm.IssueFencingToken{ID: d.ID, Above: floor})
		if ierr != nil {
			return ierr
		}
		token = res.(uint64)
		if _, rerr := r.cluster.Apply(ctx, &fsm.RecordWave{ID: d.ID, Wave: i, Phase: fsm.WaveApplying, Targets: w.Targets,
			Token: token, Time: r.now()}); rerr != nil {
			return rerr
		}
		var bundle *target.Bundle
		bundle, err = r.buildBundle(ctx, d.Environment, d.Commit, target.Manifest{
			DeploymentID: d.ID, Environment: d.Environment, Commit: d.Commit, Kind: string(d.Kind),
			FencingToken: token, Time: r.now(),
		})
		if err == nil {
			err = applyParallel(ctx, r, specs, bundle, w.MaxParallel)
		}
		floor = highestFenced(err)
		if try > 0 || floor <= token || leadershipGone(err) {
			break
		}
		r.logger.Warn("a target of the wave accepted a higher fencing token than this cluster issued (state restored from a backup?); issuing one above it",
			"deployment", d.ID, "wave", i, "target_highest", floor, "token", token)
	}
	if err == nil {
		err = r.checkWave(ctx, specs, healthTimeout)
	}
	if err != nil {
		if leadershipGone(err) {
			return err
		}
		return r.failWave(ctx, d.ID, i, w, fmt.Sprintf("wave %d (%s): %v", i, strings.Join(w.Targets, ", "), err))
	}
	_, err = r.cluster.Apply(ctx, &fsm.RecordWave{ID: d.ID, Wave: i, Phase: fsm.WaveBaking, Targets: w.Targets,
		Token: token, Time: r.now(), BakeUntil: r.now().Add(w.Bake),
		Message: fmt.Sprintf("fencing token %d to %s; healthy", token, strings.Join(w.Targets, ", "))})
	return err
}

// highestFenced returns the highest token any target of err (one error, or
// several joined) says it accepted when it refused ours; 0 when none did.
func highestFenced(err error) uint64 {
	var fe *target.FencedError
	if errors.As(err, &fe) && fe.Highest > 0 {
		// errors.As finds the first; look at every joined error too.
		h := fe.Highest
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				h = max(h, highestFenced(e))
			}
		}
		return h
	}
	return 0
}

// applyParallel applies bundle to specs, at most n at once, checking
// before each write that this node still leads. It returns the first
// error.
func applyParallel(ctx context.Context, r *Reconciler, specs []TargetSpec, bundle *target.Bundle, n int) error {
	if n < 1 {
		n = 1
	}
	sem := make(chan struct{}, n)
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for j, s := range specs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := r.cluster.VerifyLeader(); err != nil {
				errs[j] = fmt.Errorf("before applying to %s: %w", s.Target, err)
				return
			}
			if err := s.Target.Apply(ctx, bundle); err != nil {
				errs[j] = fmt.Errorf("%s (%s): %w", s.Name, s.Target, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// checkWave reloads the wave's targets that have a reload URL and waits for
// their health checks.
func (r *Reconciler) checkWave(ctx context.Context, specs []TargetSpec, timeout time.Duration) error {
	var checks []string
	for _, s := range specs {
		if s.ReloadURL != "" {
			if err := r.cluster.VerifyLeader(); err != nil {
				return fmt.Errorf("before reloading %s: %w", s.Target, err)
			}
			if err := target.Reload(ctx, s.ReloadURL); err != nil {
				return fmt.Errorf("reload of %s: %w", s.Name, err)
			}
		}
		checks = append(checks, s.HealthChecks...)
	}
	if len(checks) == 0 {
		return nil
	}
	return target.WaitHealthy(ctx, checks, timeout)
}

// failWave records wave i failed and fails the deployment; it returns
// errWaveFailed, or the error that stopped it.
func (r *Reconciler) failWave(ctx context.Context, id string, i int, w policy.Wave, why string) error {
	why = truncateText(why, fsm.MaxAnalysisText)
	if _, err := r.cluster.Apply(ctx, &fsm.RecordWave{ID: id, Wave: i, Phase: fsm.WaveFailed, Targets: w.Targets,
		Time: r.now(), Message: why}); err != nil {
		return err
	}
	d, ok := r.store.Deployment(id)
	if !ok {
		return errWaveFailed
	}
	r.metrics.rolloutsAborted.WithLabelValues(d.Environment).Inc()
	if _, err := r.fail(ctx, d, "rollout stopped: "+why, why, nil); err != nil {
		return err
	}
	return errWaveFailed
}

// bake watches wave i until its bake ends (or an approver promotes it),
// running the analysis every interval, and records it passed; analyses
// failing beyond failureLimit, or an operator's abort, fail it. It returns
// nil when the wave passed, errWaveFailed when it failed.
func (r *Reconciler) bake(ctx context.Context, id string, i int, w policy.Wave, a *policy.Analysis) error {
	client := &analysis.Client{}
	ran := 0
	nextAnalysis := r.now()
	for {
		changed := r.store.Changed()
		d, ok := r.store.Deployment(id)
		if !ok || d.State != fsm.StateApplying || i >= len(d.Rollout) {
			return errWaveFailed
		}
		rec := d.Rollout[i]
		if rec.Phase != fsm.WaveBaking {
			return fmt.Errorf("wave %d is %s, not baking", i, rec.Phase)
		}
		if ab := d.RolloutAbort; ab != nil {
			return r.failWave(ctx, id, i, w, fmt.Sprintf("rollout aborted by %s: %s", ab.Identity, ab.Reason))
		}
		now := r.now()
		if p := rec.Promoted; p != nil {
			_, err := r.cluster.Apply(ctx, &fsm.RecordWave{ID: id, Wave: i, Phase: fsm.WavePassed, Targets: w.Targets, Time: now,
				Message: fmt.Sprintf("promoted by %s; %d analyses, %d failed", p.Identity, rec.Rounds, rec.FailedRounds)})
			return err
		}
		if !now.Before(rec.BakeUntil) && (a == nil || ran > 0) {
			_, err := r.cluster.Apply(ctx, &fsm.RecordWave{ID: id, Wave: i, Phase: fsm.WavePassed, Targets: w.Targets,
				Time: now, Message: fmt.Sprintf("baked; %d analyses, %d failed", rec.Rounds, rec.FailedRounds)})
			return err
		}
		if a != nil && !now.Before(nextAnalysis) {
			round := r.analyse(ctx, client, a, w.Targets)
			ran++
			nextAnalysis = r.now().Add(a.Interval)
			r.metrics.analyses.WithLabelValues(d.Environment).Inc()
			if !round.Passed {
				r.metrics.analysesFailed.WithLabelValues(d.Environment).Inc()
			}
			if _, err := r.cluster.Apply(ctx, &fsm.RecordWave{ID: id, Wave: i, Phase: fsm.WaveBaking, Targets: w.Targets,
				Token: rec.Token, Time: round.Time, Round: round}); err != nil {
				return err
			}
			if failed := rec.FailedRounds + boolInt(!round.Passed); failed > a.FailureLimit {
				return r.failWave(ctx, id, i, w, fmt.Sprintf("wave %d (%s) failed its analysis %d time(s), above failureLimit %d: %s",
					i, strings.Join(w.Targets, ", "), failed, a.FailureLimit, describeRound(round)))
			}
			continue
		}
		next := rec.BakeUntil
		if a != nil && nextAnalysis.Before(next) {
			next = nextAnalysis
		}
		if err := r.waitUntil(ctx, next, changed); err != nil {
			return err
		}
	}
}

// analyse runs every check for every target of the wave.
func (r *Reconciler) analyse(ctx context.Context, c *analysis.Client, a *policy.Analysis, targets []string) *fsm.AnalysisRound {
	round := &fsm.AnalysisRound{Passed: true}
	for _, t := range targets {
		res, ok := c.Evaluate(ctx, a, t)
		round.Passed = round.Passed && ok
		for _, x := range res {
			round.Results = append(round.Results, fsm.AnalysisResult{Check: x.Check, Target: x.Target, Value: x.Value,
				Status: string(x.Status), Error: truncateText(x.Error, fsm.MaxAnalysisText)})
		}
	}
	round.Time = r.now()
	return round
}

// waitUntil waits until the reconciler's clock reads t, the replicated
// state changes (changed is closed), or ctx ends.
func (r *Reconciler) waitUntil(ctx context.Context, t time.Time, changed <-chan struct{}) error {
	d := t.Sub(r.now())
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	case <-changed:
		return nil
	}
}

// describeRound names the checks that did not pass, with their values.
func describeRound(round *fsm.AnalysisRound) string {
	var parts []string
	for _, x := range round.Results {
		switch {
		case x.Status == string(analysis.Passed):
		case x.Error != "":
			parts = append(parts, fmt.Sprintf("%s of %s: %s (%s)", x.Check, x.Target, x.Status, x.Error))
		default:
			parts = append(parts, fmt.Sprintf("%s of %s = %g (%s)", x.Check, x.Target, x.Value, x.Status))
		}
	}
	return strings.Join(parts, "; ")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// truncateText cuts s to at most n bytes.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
