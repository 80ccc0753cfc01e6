package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// Errors of Rollback, besides the FSM's.
var (
	// ErrNothingToRollBack: the environment has no earlier deployment to
	// go back to, or nothing deployed at all.
	ErrNothingToRollBack = errors.New("nothing to roll back to")
	// ErrUnknownTarget: the requested deployment or commit is not known.
	ErrUnknownTarget = errors.New("no such deployment or commit")
)

// Rollback starts a deployment of kind rollback that takes env back to: the
// previous Completed deployment when to is empty, or the given deployment
// id or commit (a full hash, or a prefix of the commit of one of the
// environment's deployments). The environment is pinned in the same step:
// the watcher does not deploy the commit rolled back from again, and the
// next new commit touching the environment deploys normally and unpins it.
// It runs on the leader.
func (r *Reconciler) Rollback(env, to, by string) (*fsm.Deployment, error) {
	e, ok := r.store.Environment(env)
	if !ok {
		return nil, fmt.Errorf("environment %s: %w", env, fsm.ErrNotFound)
	}
	if e.DeployedCommit == "" {
		return nil, fmt.Errorf("roll back %s: nothing is deployed: %w", env, ErrNothingToRollBack)
	}
	commit, what, err := r.rollbackTarget(e, to)
	if err != nil {
		return nil, err
	}
	if commit == e.DeployedCommit {
		return nil, fmt.Errorf("roll back %s to %s: that commit is what is deployed: %w", env, what, fsm.ErrWrongState)
	}
	// The pin keeps the watcher off the commit rolled back from. Rolling
	// back again while pinned goes further back from that same commit: the
	// first rollback's target is not what the branch holds.
	pinFrom := e.DeployedCommit
	if e.Pin != nil && e.Pin.From != "" {
		pinFrom = e.Pin.From
	}
	res, err := r.cluster.Apply(&fsm.CreateDeployment{
		Environment: env, Commit: commit, Branch: r.cfg.Branch, Kind: fsm.KindRollback, Initiator: by,
		Time: r.now(), PinFrom: pinFrom,
		Message: fmt.Sprintf("rollback of %s from %s to %s requested by %s", env, short(e.DeployedCommit), what, by),
	})
	if err != nil {
		return nil, err
	}
	d := res.(*fsm.Deployment)
	r.logger.Info("rollback requested", "env", env, "deployment", d.ID, "to", what, "by", by)
	r.Wake()
	return d, nil
}

// rollbackTarget resolves what a rollback goes to, and names it.
func (r *Reconciler) rollbackTarget(e *fsm.Environment, to string) (commit, what string, err error) {
	if to == "" {
		// The newest Completed deployment before the deployed one.
		seen := false
		for i := len(e.History) - 1; i >= 0; i-- {
			id := e.History[i]
			if id == e.DeployedDeployment {
				seen = true
				continue
			}
			d, ok := r.store.Deployment(id)
			if seen && ok && d.State == fsm.StateCompleted && d.Commit != e.DeployedCommit {
				return d.Commit, fmt.Sprintf("deployment %s (commit %s)", d.ID, short(d.Commit)), nil
			}
		}
		return "", "", fmt.Errorf("roll back %s: no Completed deployment before %s: %w", e.Name, e.DeployedDeployment, ErrNothingToRollBack)
	}
	if d, ok := r.store.Deployment(to); ok {
		if d.Environment != e.Name {
			return "", "", fmt.Errorf("roll back %s to %s: that deployment is of %s: %w", e.Name, to, d.Environment, fsm.ErrInvalid)
		}
		if d.State != fsm.StateCompleted && d.State != fsm.StateRolledBack {
			return "", "", fmt.Errorf("roll back %s to %s: that deployment is %s; only a Completed one is known good: %w",
				e.Name, to, d.State, fsm.ErrWrongState)
		}
		return d.Commit, fmt.Sprintf("deployment %s (commit %s)", d.ID, short(d.Commit)), nil
	}
	if len(to) == 40 && r.cfg.Source.Has(to) {
		return to, "commit " + short(to), nil
	}
	if len(to) >= 7 {
		var match string
		for _, id := range e.History {
			if d, ok := r.store.Deployment(id); ok && strings.HasPrefix(d.Commit, to) {
				if match != "" && match != d.Commit {
					return "", "", fmt.Errorf("roll back %s to %s: the prefix is ambiguous: %w", e.Name, to, fsm.ErrInvalid)
				}
				match = d.Commit
			}
		}
		if match != "" {
			return match, "commit " + short(match), nil
		}
	}
	return "", "", fmt.Errorf("roll back %s to %q: %w", e.Name, to, ErrUnknownTarget)
}

// Approvers returns the approver groups of the policy in force for env
// (empty: any approver). Rollbacks and syncs are allowed to the same
// groups as approvals.
func (r *Reconciler) Approvers(env string) ([]string, error) {
	e, ok := r.store.Environment(env)
	if !ok {
		return nil, fmt.Errorf("environment %s: %w", env, fsm.ErrNotFound)
	}
	commit, from := e.DeployedCommit, "the deployed commit"
	if commit == "" {
		commit, from = e.LatestSeenCommit, "the latest commit"
	}
	if commit == "" {
		return nil, nil
	}
	ctx, cancel := r.gitCtx(context.Background())
	defer cancel()
	pa, err := r.policyAt(ctx, commit, from)
	if err != nil {
		return nil, err
	}
	return pa.pol.For(env).Approvers, nil
}
