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

// Rollback starts a deployment of kind rollback that takes env back to one
// of its Completed deployments: the newest one before the deployed one when
// to is empty, or the one to names — a deployment id, or a commit (a full
// hash or a prefix of at least 7 characters) of a Completed deployment of
// env. A rollback skips the approval rules a commit goes through, so
// nothing else is a target: not a commit that waits for approval, was
// rejected, failed or rolled back, nor one that was never deployed. The
// FSM checks the same rule (fsm.CreateRollback). The environment is
// pinned in the same step; see fsm.CreateRollback. It runs on the leader.
func (r *Reconciler) Rollback(ctx context.Context, env, to, by string) (*fsm.Deployment, error) {
	e, ok := r.store.Environment(env)
	if !ok {
		return nil, fmt.Errorf("environment %s: %w", env, fsm.ErrNotFound)
	}
	if e.DeployedCommit == "" {
		return nil, fmt.Errorf("roll back %s: nothing is deployed: %w", env, ErrNothingToRollBack)
	}
	target, err := r.rollbackTarget(e, to)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("deployment %s (commit %s)", target.ID, short(target.Commit))
	res, err := r.cluster.Apply(ctx, &fsm.CreateRollback{
		Environment: env, To: target.ID, Branch: r.cfg.Branch, Initiator: by, Time: r.now(),
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

// rollbackTarget resolves what a rollback goes to: a Completed deployment
// of e.
func (r *Reconciler) rollbackTarget(e *fsm.Environment, to string) (*fsm.Deployment, error) {
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
				return d, nil
			}
		}
		return nil, fmt.Errorf("roll back %s: no Completed deployment before %s: %w", e.Name, e.DeployedDeployment, ErrNothingToRollBack)
	}
	if d, ok := r.store.Deployment(to); ok {
		if d.Environment != e.Name {
			return nil, fmt.Errorf("roll back %s to %s: that deployment is of %s; only a Completed deployment of %s can be rolled back to: %w",
				e.Name, to, d.Environment, e.Name, fsm.ErrInvalid)
		}
		return d, r.rollbackable(e, d, "deployment "+to)
	}
	if len(to) < 7 || len(to) > 64 || strings.Trim(strings.ToLower(to), "0123456789abcdef") != "" {
		return nil, fmt.Errorf("roll back %s to %q: not a deployment of %s, nor a commit hash (7 to 64 hex digits): %w",
			e.Name, to, e.Name, ErrUnknownTarget)
	}
	// The newest Completed deployment of a commit the prefix names; a
	// deployment of it in another state says why it cannot be a target.
	to = strings.ToLower(to)
	var match, other *fsm.Deployment
	for i := len(e.History) - 1; i >= 0; i-- {
		d, ok := r.store.Deployment(e.History[i])
		if !ok || !strings.HasPrefix(d.Commit, to) {
			continue
		}
		for _, seen := range []*fsm.Deployment{match, other} {
			if seen != nil && seen.Commit != d.Commit {
				return nil, fmt.Errorf("roll back %s to %s: the prefix names commits %s and %s: %w",
					e.Name, to, short(seen.Commit), short(d.Commit), fsm.ErrInvalid)
			}
		}
		switch {
		case d.State == fsm.StateCompleted && match == nil:
			match = d
		case d.State != fsm.StateCompleted && other == nil:
			other = d
		}
	}
	switch {
	case match != nil:
		return match, r.rollbackable(e, match, "commit "+short(match.Commit))
	case other != nil:
		return nil, fmt.Errorf("roll back %s to commit %s: no deployment of it Completed (%s is %s); only a Completed deployment can be rolled back to: %w",
			e.Name, short(other.Commit), other.ID, other.State, fsm.ErrWrongState)
	}
	return nil, fmt.Errorf("roll back %s to %s: no deployment of %s has that commit; only a Completed deployment can be rolled back to: %w",
		e.Name, to, e.Name, ErrUnknownTarget)
}

// rollbackable says why d cannot be what e rolls back to, if it cannot.
// The FSM checks the same; asking first gives the clearer message.
func (r *Reconciler) rollbackable(e *fsm.Environment, d *fsm.Deployment, what string) error {
	switch {
	case d.State != fsm.StateCompleted:
		return fmt.Errorf("roll back %s to %s: %s is %s; only a Completed deployment can be rolled back to: %w",
			e.Name, what, d.ID, d.State, fsm.ErrWrongState)
	case d.Commit == e.DeployedCommit:
		return fmt.Errorf("roll back %s to %s: commit %s is what is deployed: %w", e.Name, what, short(d.Commit), fsm.ErrWrongState)
	}
	return nil
}

// Approvers returns the approver groups of the policy in force for env
// (empty: any approver). Rollbacks and syncs are allowed to the same
// groups as approvals.
func (r *Reconciler) Approvers(ctx context.Context, env string) ([]string, error) {
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
	gctx, cancel := r.gitCtx(ctx)
	defer cancel()
	pa, err := r.policyAt(gctx, commit, from)
	if err != nil {
		return nil, err
	}
	return pa.pol.For(env).Approvers, nil
}
