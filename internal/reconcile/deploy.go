package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/target"
)

// Target is one place an environment's bundle goes; the target package
// implements it.
type Target interface {
	String() string
	Apply(ctx context.Context, b *target.Bundle) error
}

// TargetSpec is a target with what follows an apply to it: an optional
// reload URL (POSTed) and health checks (GET, 2xx within the policy's
// healthCheckTimeout).
type TargetSpec struct {
	// Name is the target's name in honuad.yaml, the one a policy's rollout
	// waves use; empty when it has none.
	Name         string
	Target       Target
	ReloadURL    string
	HealthChecks []string
}

// outputter is implemented by targets that have output worth recording
// (exec: the last lines the command printed).
type outputter interface {
	LastOutput() string
}

// handoffToDeploy moves a cleared deployment into BackingUp when its
// environment has no active deployment; otherwise it waits for that one.
func (r *Reconciler) handoffToDeploy(ctx context.Context, d *fsm.Deployment, note string) (outcome, error) {
	e, ok := r.store.Environment(d.Environment)
	if ok && e.Current != "" && e.Current != d.ID {
		return outcome{at: r.now().Add(retryAfter)}, nil
	}
	msg := "cleared to deploy"
	if d.Kind == fsm.KindRollback {
		msg = "rollback cleared"
	}
	if note != "" {
		msg += " (" + note + ")"
	}
	return r.move(ctx, d, fsm.StateBackingUp, msg+"; backing up what is deployed", nil)
}

// startActive runs the deploy stage of a deployment that is changing
// targets (or failed and should roll back) in its own goroutine, one per
// deployment, until it reaches a state it does not drive.
func (r *Reconciler) startActive(ctx context.Context, id string) {
	r.activeMu.Lock()
	defer r.activeMu.Unlock()
	if r.active[id] {
		return
	}
	r.active[id] = true
	r.activeWG.Add(1)
	go func() {
		defer r.activeWG.Done()
		defer func() {
			r.activeMu.Lock()
			delete(r.active, id)
			r.activeMu.Unlock()
			r.Wake()
		}()
		if err := r.runActive(ctx, id); err != nil && ctx.Err() == nil && !leadershipGone(err) {
			r.logger.Error("deploy stage", "deployment", id, "error", err)
		}
	}()
}

// runActive drives one deployment through BackingUp, Applying,
// PostValidating and, when it fails after applying, RollingBack. Every
// step is idempotent, so a new leader resumes a deployment from whatever
// state the old one recorded: it re-applies the same commit with a new
// fencing token, or restores the same backup.
func (r *Reconciler) runActive(ctx context.Context, id string) error {
	for ctx.Err() == nil {
		d, ok := r.store.Deployment(id)
		if !ok {
			return nil
		}
		var err error
		start := time.Now()
		switch d.State {
		case fsm.StateBackingUp:
			err = r.backUp(ctx, d)
		case fsm.StateApplying:
			err = r.apply(ctx, d)
		case fsm.StatePostValidating:
			err = r.verify(ctx, d)
		case fsm.StateRollingBack:
			err = r.restore(ctx, d)
		case fsm.StateFailed:
			if !r.shouldRollBack(ctx, d) {
				return nil
			}
			_, err = r.move(ctx, d, fsm.StateRollingBack, fmt.Sprintf("rolling back to %s (autoRollback)", backupName(d)), nil)
		default:
			return nil
		}
		r.metrics.stepDuration.WithLabelValues(d.Environment).Observe(time.Since(start).Seconds())
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// backUp records what is deployed as the deployment's backup: the commit
// and deployment a rollback restores (targets keep their last bundles;
// the backup's files can always be rebuilt from its commit).
func (r *Reconciler) backUp(ctx context.Context, d *fsm.Deployment) error {
	id := "none (nothing was deployed before)"
	if d.Backup != nil && d.Backup.Commit != "" {
		id = d.Backup.DeploymentID + "@" + short(d.Backup.Commit)
	}
	_, err := r.move(ctx, d, fsm.StateApplying, "backup recorded: "+id, func(c *fsm.TransitionDeployment) {
		c.BackupBundleID = id
	})
	return err
}

// apply writes the deployment's bundle to every target of its environment,
// with a fresh fencing token, checking before each write that this node
// still leads.
func (r *Reconciler) apply(ctx context.Context, d *fsm.Deployment) error {
	if len(r.cfg.Environments[d.Environment].Targets) > 0 {
		pol, _, err := r.policyFor(ctx, d)
		if err != nil {
			if leadershipGone(err) {
				return err
			}
			_, ferr := r.fail(ctx, d, "apply failed: cannot read the policy in force: "+err.Error(), err.Error(), nil)
			return ferr
		}
		if pol.Rollout != nil {
			return r.rollOut(ctx, d, pol)
		}
	}
	notes, err := r.applyCommit(ctx, d, d.ID, d.Commit, d.Kind)
	if err != nil {
		if leadershipGone(err) {
			return err
		}
		_, ferr := r.fail(ctx, d, "apply failed: "+err.Error(), err.Error(), nil)
		return ferr
	}
	_, err = r.move(ctx, d, fsm.StatePostValidating, "applied: "+notes, nil)
	return err
}

// applyCommit builds the bundle of commit and applies it to every target of
// d's environment; it returns what the targets said.
func (r *Reconciler) applyCommit(ctx context.Context, d *fsm.Deployment, bundleOf, commit string, kind fsm.Kind) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, deployTimeout)
	defer cancel()
	notes, err := r.applyWithToken(ctx, d, bundleOf, commit, kind, 0)
	var fe *target.FencedError
	if errors.As(err, &fe) && fe.Highest > 0 {
		// A target holds a token this cluster never issued: its state was
		// restored from a backup older than the target's last apply. Take
		// a token above it, through raft, and apply again.
		r.logger.Warn("a target accepted a higher fencing token than this cluster issued (state restored from a backup?); issuing one above it",
			"deployment", d.ID, "target_highest", fe.Highest, "token", fe.Token)
		return r.applyWithToken(ctx, d, bundleOf, commit, kind, fe.Highest)
	}
	return notes, err
}

// applyWithToken issues a fencing token (above a floor, when given), builds
// the bundle and applies it to every target in turn.
func (r *Reconciler) applyWithToken(ctx context.Context, d *fsm.Deployment, bundleOf, commit string, kind fsm.Kind, above uint64) (string, error) {
	specs := r.cfg.Environments[d.Environment].Targets
	res, err := r.cluster.Apply(ctx, &fsm.IssueFencingToken{ID: d.ID, Above: above})
	if err != nil {
		return "", err
	}
	token := res.(uint64)
	bundle, err := r.buildBundle(ctx, d.Environment, commit, target.Manifest{
		DeploymentID: bundleOf, Environment: d.Environment, Commit: commit, Kind: string(kind),
		FencingToken: token, Time: r.now(),
	})
	if err != nil {
		return "", err
	}
	if len(specs) == 0 {
		return fmt.Sprintf("no targets are configured for %s (fencing token %d)", d.Environment, token), nil
	}
	var notes []string
	for _, s := range specs {
		if err := r.cluster.VerifyLeader(); err != nil {
			return "", fmt.Errorf("before applying to %s: %w", s.Target, err)
		}
		if err := s.Target.Apply(ctx, bundle); err != nil {
			if te := (*target.Error)(nil); errors.As(err, &te) && te.Target == s.Target.String() {
				return "", err // already names the target
			}
			return "", fmt.Errorf("%s: %w", s.Target, err)
		}
		note := s.Target.String()
		if o, ok := s.Target.(outputter); ok && o.LastOutput() != "" {
			note += " (output: " + o.LastOutput() + ")"
		}
		notes = append(notes, note)
	}
	return fmt.Sprintf("fencing token %d to %s", token, strings.Join(notes, ", ")), nil
}

// verify reloads the targets that have a reload URL and waits for every
// health check to pass within the policy's healthCheckTimeout.
func (r *Reconciler) verify(ctx context.Context, d *fsm.Deployment) error {
	if err := r.reloadAndCheck(ctx, d); err != nil {
		if leadershipGone(err) {
			return err
		}
		_, ferr := r.fail(ctx, d, "verification failed: "+err.Error(), err.Error(), nil)
		return ferr
	}
	_, err := r.move(ctx, d, fsm.StateCompleted, "deployed and healthy", nil)
	return err
}

func (r *Reconciler) reloadAndCheck(ctx context.Context, d *fsm.Deployment) error {
	pol, _, err := r.policyFor(ctx, d)
	if err != nil {
		return err
	}
	var checks []string
	for _, s := range r.cfg.Environments[d.Environment].Targets {
		if s.ReloadURL != "" {
			if err := r.cluster.VerifyLeader(); err != nil {
				return fmt.Errorf("before reloading %s: %w", s.Target, err)
			}
			if err := target.Reload(ctx, s.ReloadURL); err != nil {
				return fmt.Errorf("reload of %s: %w", s.Target, err)
			}
		}
		checks = append(checks, s.HealthChecks...)
	}
	if len(checks) == 0 {
		return nil
	}
	return target.WaitHealthy(ctx, checks, pol.HealthCheckTimeout)
}

// shouldRollBack reports whether a failed deployment rolls back on its
// own: it applied something, has a backup that is still what the
// environment has deployed, has not rolled back yet, and the policy in
// force says autoRollback.
func (r *Reconciler) shouldRollBack(ctx context.Context, d *fsm.Deployment) bool {
	if !d.Applied || d.RollbackStarted || d.Backup == nil || d.Backup.Commit == "" {
		return false
	}
	e, ok := r.store.Environment(d.Environment)
	if !ok || e.Current != "" || e.DeployedCommit != d.Backup.Commit || e.DeployedDeployment != d.Backup.DeploymentID {
		return false
	}
	pol, _, err := r.policyFor(ctx, d)
	return err == nil && pol.AutoRollback
}

// restore puts the backup back on every target (a target that never got
// the failed bundle just gets what it had, again) and verifies it. A failed
// restore ends the deployment Failed, loudly: the environment may be
// serving the failed bundle.
func (r *Reconciler) restore(ctx context.Context, d *fsm.Deployment) error {
	if d.Backup == nil || d.Backup.Commit == "" {
		_, err := r.fail(ctx, d, "rollback impossible: nothing was deployed before", "no backup to restore", nil)
		return err
	}
	notes, err := r.applyCommit(ctx, d, d.Backup.DeploymentID, d.Backup.Commit, fsm.KindAutoRollback)
	if err == nil {
		err = r.reloadAndCheck(ctx, d)
	}
	if err != nil {
		if leadershipGone(err) {
			return err
		}
		r.logger.Error("ROLLBACK FAILED: the environment may still serve the failed bundle",
			"deployment", d.ID, "env", d.Environment, "backup", backupName(d), "error", err)
		_, ferr := r.fail(ctx, d, "ROLLBACK FAILED, the environment may still serve the failed bundle: "+err.Error(),
			"rollback failed: "+err.Error(), nil)
		return ferr
	}
	_, err = r.move(ctx, d, fsm.StateRolledBack, "restored "+backupName(d)+": "+notes, nil)
	return err
}

func backupName(d *fsm.Deployment) string {
	if d.Backup == nil || d.Backup.Commit == "" {
		return "nothing"
	}
	return fmt.Sprintf("deployment %s (commit %s)", d.Backup.DeploymentID, short(d.Backup.Commit))
}

// leadershipGone reports whether err means this node stopped leading, or
// is stopping: the step is left to the next leader, neither failed nor
// retried here, and nothing is logged. It is the one test of that, used by
// every step: the cluster refused the command as not the leader, lost
// leadership with the command in flight, or is shutting down; or the
// leader's context (Run's) was cancelled under the step.
func leadershipGone(err error) bool {
	return errors.Is(err, cluster.ErrNotLeader) || errors.Is(err, cluster.ErrLeadershipLost) ||
		errors.Is(err, cluster.ErrShutdown) || errors.Is(err, context.Canceled)
}

// deployTimeout bounds one apply to all targets.
const deployTimeout = 10 * time.Minute
