package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/honua-io/honua-gitops/internal/configrepo"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// policyPath is the policy file's path in the repository.
const policyPath = ".gitops/deployment-policy.yaml"

// watchedPaths are the paths whose change makes a new deployment of env.
func watchedPaths(env string) []string {
	return []string{"environments/" + env, "environments/common", policyPath}
}

// watch polls the repository at once, then every poll interval (with
// jitter), and whenever PollNow asks: at once while the polls asked for
// stay within their budget, else once they are back within it (requests
// made meanwhile are merged into that one poll). Only the polls asked for
// that find the head where it was are charged to the budget: a flood of
// webhooks no push backs, retries, forged deliveries. A poll that finds a
// new head serves a push, which only those who can push can make.
func (r *Reconciler) watch(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	budget := newPollBudget(r.cfg.PollShare, r.cfg.PollBurst)
	req := pollRequest{reason: "became leader"}
	for {
		asked := false
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case req = <-r.pollNow:
			asked = true
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			if wait := budget.wait(time.Now()); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
				// Requests made while waiting are served by this poll.
				select {
				case <-r.pollNow:
				default:
				}
			}
		}
		start := time.Now()
		moved, err := r.poll(ctx, req)
		if err != nil && ctx.Err() == nil {
			r.logger.Warn("poll failed", "reason", req.reason, "error", err)
		}
		if asked && !moved {
			// A poll that found a new head served a push: only those
			// that found nothing new are charged.
			budget.spend(start, time.Now())
		}
		req = pollRequest{reason: "interval"}
		timer.Reset(jitter(r.cfg.PollInterval))
	}
}

// pollBudget is the time the polls asked for may take: a token bucket of
// milliseconds of polling, refilled at share of the wall time, holding at
// most burst. A poll's time is spent once it ends (it cannot be known
// before), so the bucket may go into debt; the next poll asked for waits
// until it is out.
type pollBudget struct {
	lim  *rate.Limiter
	next time.Time // when the debt is paid
}

func newPollBudget(share float64, burst time.Duration) *pollBudget {
	ms := max(1, int(burst.Milliseconds()))
	return &pollBudget{lim: rate.NewLimiter(rate.Limit(share*1000), ms)}
}

// wait returns how long a poll asked for at now must wait.
func (b *pollBudget) wait(now time.Time) time.Duration {
	return b.next.Sub(now)
}

// spend takes the time of a poll from start to end out of the budget. A
// reservation is at most a burst, so a longer poll reserves several, each
// behind the last.
func (b *pollBudget) spend(start, end time.Time) {
	for ms := int(end.Sub(start).Milliseconds()); ms > 0; ms -= b.lim.Burst() {
		if r := b.lim.ReserveN(end, min(ms, b.lim.Burst())); r.OK() {
			b.next = end.Add(r.DelayFrom(end))
		}
	}
}

// pollRequest is a poll asked for: why, when, and the commit the asker
// says the branch now holds ("" when it names none). That commit is a hint
// for how to reach the head sooner, never what is deployed: the poll
// always deploys the head the remote reports.
type pollRequest struct {
	reason string
	commit string
	at     time.Time
}

// poll asks the remote for the branch head, fetches when it moved, creates
// the deployments the head calls for, and records the repository's status.
// It reports whether the head differs from the one recorded before, and
// logs (at debug) where its time went.
func (r *Reconciler) poll(ctx context.Context, req pollRequest) (moved bool, err error) {
	start := time.Now()
	prev := r.store.Source().Head
	head, git, err := r.fetchHead(ctx, req.commit)
	r.metrics.pollDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		r.recordSource(ctx, "", err, nil)
		return false, err
	}
	moved = head != prev
	r.metrics.lastGitSuccess.SetToCurrentTime()
	read := time.Now()
	fsys, err := r.cfg.Source.FS(head)
	if err != nil {
		err = fmt.Errorf("read commit %s: %w", short(head), err)
		r.recordSource(ctx, "", err, nil)
		return false, err
	}
	envs, problems := configrepo.Environments(fsys)
	// The deployments first: the repository's status, recorded with the
	// commits seen once they are created, is not on the way from a push
	// to its deployment.
	var status []fsm.Command
	if c := r.sourceStatus(head, nil, folderProblems(problems)); c != nil {
		status = append(status, c)
	}
	observe := time.Now()
	err = r.observe(ctx, head, envs, req.reason, status...)
	args := append([]any{"reason", req.reason, "head", short(head)}, git...)
	if !req.at.IsZero() {
		args = append(args, "queued", start.Sub(req.at))
	}
	r.logger.Debug("polled", append(args, "read", observe.Sub(read), "observe", time.Since(observe),
		"total", time.Since(start))...)
	return moved, err
}

// folderProblems are the problems of folders that are not environments,
// as the state records them: the first fsm.MaxFolderProblems, each cut to
// its bound.
func folderProblems(ps []configrepo.Problem) []fsm.FolderProblem {
	var out []fsm.FolderProblem
	for _, p := range ps[:min(len(ps), fsm.MaxFolderProblems)] {
		out = append(out, fsm.FolderProblem{Path: cutMiddle(p.File, fsm.MaxFolderProblemLength),
			Message: cutMiddle(p.Message, fsm.MaxFolderProblemLength)})
	}
	return out
}

// fetchHead returns the branch head, in the local clone. It runs the
// ls-remote step and fetches only when the clone lacks the head — unless
// hint names a commit the clone lacks: then it fetches at once, saving the
// ls-remote's round trip, since the fetch learns the head from the remote
// too. Either way the head is what the remote reports, never hint. It
// also returns, for the poll's log, the time of each git call.
func (r *Reconciler) fetchHead(ctx context.Context, hint string) (string, []any, error) {
	var took []any
	if !validHash(hint) || r.cfg.Source.Has(hint) {
		start := time.Now()
		gctx, cancel := r.gitCtx(ctx)
		head, err := r.cfg.Source.Head(gctx)
		cancel()
		r.metrics.gitRequest("ls-remote", err)
		took = append(took, "lsRemote", time.Since(start))
		if err != nil {
			return "", took, err
		}
		if r.cfg.Source.Has(head) {
			return head, took, nil
		}
	}
	start := time.Now()
	gctx, cancel := r.gitCtx(ctx)
	fetched, err := r.cfg.Source.Fetch(gctx)
	cancel()
	r.metrics.gitRequest("fetch", err)
	took = append(took, "fetch", time.Since(start))
	if err != nil {
		return "", took, err
	}
	return fetched, took, nil
}

// validHash reports whether s is a full hexadecimal commit hash.
func validHash(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// recordSource replicates the repository's status when it changed: a new
// head, a new error, or recovery.
func (r *Reconciler) recordSource(ctx context.Context, head string, pollErr error, problems []fsm.FolderProblem) {
	c := r.sourceStatus(head, pollErr, problems)
	if c == nil {
		return
	}
	if _, err := r.cluster.Apply(ctx, c); err != nil && !leadershipGone(err) {
		r.logger.Warn("record repository status", "error", err)
	}
}

// sourceStatus is the command that records the repository's status, or
// nil when it did not change.
func (r *Reconciler) sourceStatus(head string, pollErr error, problems []fsm.FolderProblem) *fsm.SetSourceStatus {
	cur := r.store.Source()
	c := &fsm.SetSourceStatus{Head: head, Time: r.now(), Problems: problems}
	if pollErr != nil {
		// git's error text can be long (a hook's output, a server's
		// page): bounded like a deployment's error.
		c.Error = cutMiddle(pollErr.Error(), maxError)
		if cur.Error == c.Error {
			return nil
		}
		c.Head, c.Problems = "", nil
	} else if cur.Error == "" && cur.Head == head && slices.Equal(cur.Problems, problems) {
		return nil
	}
	for _, p := range c.Problems {
		r.logger.Warn("folder is not a valid environment; it is listed with its problem, not deployed",
			"path", p.Path, "problem", p.Message)
	}
	return c
}

// observe creates a deployment for every environment envs of head that changed
// since what it has deployed (or since the commit it was rolled back from,
// while pinned), that has never been deployed, or for which a sync was
// asked. Then it records head as seen by every environment that had not
// seen it, with the commands of status (the repository's status), all at
// once: raft commits them together, in one write, beside the pipeline's
// first steps of the new deployments.
func (r *Reconciler) observe(ctx context.Context, head string, envs []string, reason string, status ...fsm.Command) error {
	var seen []fsm.Command
	for _, env := range envs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c, err := r.observeEnv(ctx, env, head, reason)
		if err != nil {
			if leadershipGone(err) {
				return err
			}
			r.logger.Error("observe environment", "env", env, "head", short(head), "error", err)
		}
		if c != nil {
			seen = append(seen, c)
		}
	}
	cmds := append(seen, status...)
	var gone error
	for i, err := range r.applyTogether(ctx, cmds) {
		switch {
		case err == nil:
		case leadershipGone(err):
			gone = err
		case i < len(seen):
			r.logger.Error("observe environment", "env", seen[i].(*fsm.ObserveCommit).Environment, "head", short(head), "error", err)
		default:
			r.logger.Warn("record repository status", "error", err)
		}
	}
	return gone
}

// maxTogether bounds the commands applyTogether has in flight: raft's
// default MaxAppendEntries, the most it writes at once.
const maxTogether = 64

// applyTogether applies cmds at once, each from its own goroutine (at most
// maxTogether at a time), so that raft commits them in one write, and
// returns each one's error.
func (r *Reconciler) applyTogether(ctx context.Context, cmds []fsm.Command) []error {
	errs := make([]error, len(cmds))
	slots := make(chan struct{}, maxTogether)
	var wg sync.WaitGroup
	for i, c := range cmds {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			_, errs[i] = r.cluster.Apply(ctx, c)
		})
	}
	wg.Wait()
	return errs
}

// observeEnv does what head calls for in env, and returns the command that
// records head as seen by env once that is done (nil when it was seen
// already, or when leadership was lost meanwhile: the next leader looks
// again).
func (r *Reconciler) observeEnv(ctx context.Context, env, head, reason string) (fsm.Command, error) {
	e, known := r.store.Environment(env)
	if !known {
		e = &fsm.Environment{Name: env}
	}
	var waiting *fsm.Deployment
	if e.Waiting != "" {
		waiting, _ = r.store.Deployment(e.Waiting)
	}
	if e.LatestSeenCommit == head && e.PendingSync == nil {
		return nil, nil // this head was handled already
	}
	var err error
	if e.PendingSync != nil || !r.newestIsOf(e, head) {
		err = r.act(ctx, e, waiting, head, reason)
	}
	// Else a leader lost between creating head's deployment and recording
	// head as seen left it: it is only recorded now.
	if e.LatestSeenCommit == head || leadershipGone(err) {
		return nil, err
	}
	// The commit is recorded as seen once what it calls for is done: a
	// leader lost before leaves it to the next. (It also puts the
	// deployment a raft round trip sooner.)
	return &fsm.ObserveCommit{Environment: env, Commit: head, Time: r.now()}, err
}

// act does what head calls for in environment e, as it was before the
// poll: a deployment when a sync was asked for or its files changed, the
// end of a waiting deployment head makes stale, or nothing.
func (r *Reconciler) act(ctx context.Context, e *fsm.Environment, waiting *fsm.Deployment, head, reason string) error {
	env, sync := e.Name, e.PendingSync
	kind, initiator, msg := fsm.KindAuto, "git-watcher", fmt.Sprintf("commit %s seen (%s)", short(head), reason)
	if sync != nil {
		kind, initiator = fsm.KindManualSync, sync.By
		msg = fmt.Sprintf("sync requested by %s: deploying %s", sync.By, short(head))
	} else {
		changed, why, err := r.envChanged(e, head)
		if err != nil {
			return err
		}
		if !changed {
			if waiting != nil && waiting.Commit != head && waiting.Kind == fsm.KindAuto {
				return r.supersedeStale(ctx, waiting, head, why)
			}
			return nil
		}
		if waiting != nil && r.sameFiles(e.Name, waiting.Commit, head) {
			// The waiting deployment already carries these files: keep
			// it, and its approvals.
			return nil
		}
		msg += "; " + why
	}
	if e.Pin != nil && sync == nil {
		// A new commit touching the environment ends a rollback's pin.
		if _, err := r.cluster.Apply(ctx, &fsm.SetPin{Environment: env}); err != nil {
			return err
		}
		msg += fmt.Sprintf("; unpinned from %s", short(e.Pin.Commit))
	}
	res, err := r.cluster.Apply(ctx, &fsm.CreateDeployment{
		Environment: env, Commit: head, Branch: r.cfg.Branch, Kind: kind, Initiator: initiator,
		Time: r.now(), Message: msg, DryRun: r.dryRun(env), Subject: r.subject(head),
	})
	if err != nil {
		return err
	}
	d := res.(*fsm.Deployment)
	r.logger.Info("deployment created", "env", env, "deployment", d.ID, "commit", short(head), "kind", kind)
	return nil
}

// newestIsOf reports whether e's newest deployment is the watcher's of
// commit, created since the last commit recorded as seen: what a leader
// lost before recording commit leaves. (A force-push back to a commit
// deployed before another was seen is a new commit to see.)
func (r *Reconciler) newestIsOf(e *fsm.Environment, commit string) bool {
	newest := e.Newest()
	if newest == "" {
		return false
	}
	of := false
	r.store.Peek(newest, func(d *fsm.Deployment) {
		of = d != nil && d.Commit == commit && d.Kind == fsm.KindAuto && !d.CreatedAt.Before(e.LatestSeenAt)
	})
	return of
}

// subject is the first line of commit's message, cut to fsm.MaxSubject;
// "" when the clone cannot tell (a deployment does not need it).
func (r *Reconciler) subject(commit string) string {
	ci, err := r.cfg.Source.Commit(commit)
	if err != nil {
		return ""
	}
	return cutMiddle(ci.Subject, fsm.MaxSubject)
}

// envChanged reports whether env's files at head differ from what it has
// deployed — or, while pinned by a rollback, from the commit it was rolled
// back from — and says why in words.
func (r *Reconciler) envChanged(e *fsm.Environment, head string) (bool, string, error) {
	base, what := e.DeployedCommit, "the deployed commit"
	if e.Pin != nil && e.Pin.From != "" {
		base, what = e.Pin.From, "the commit it was rolled back from"
	}
	if base == "" {
		return true, "first deployment of the environment", nil
	}
	if base == head {
		return false, "same commit as " + what, nil
	}
	if !r.cfg.Source.Has(base) {
		return true, fmt.Sprintf("%s %s is no longer in the repository", what, short(base)), nil
	}
	changed, err := r.cfg.Source.Changed(base, head, watchedPaths(e.Name)...)
	if err != nil {
		return false, "", fmt.Errorf("compare %s with %s: %w", short(base), short(head), err)
	}
	if !changed {
		return false, fmt.Sprintf("no change to the environment since %s %s", what, short(base)), nil
	}
	return true, fmt.Sprintf("changed since %s %s", what, short(base)), nil
}

// sameFiles reports whether env's watched paths are identical at two
// commits.
func (r *Reconciler) sameFiles(env, a, b string) bool {
	if a == b {
		return true
	}
	if !r.cfg.Source.Has(a) {
		return false
	}
	changed, err := r.cfg.Source.Changed(a, b, watchedPaths(env)...)
	return err == nil && !changed
}

// supersedeStale ends a waiting deployment whose commit is older than a head
// that matches what is deployed: it would deploy something the branch no
// longer holds.
func (r *Reconciler) supersedeStale(ctx context.Context, d *fsm.Deployment, head, why string) error {
	_, err := r.cluster.Apply(ctx, &fsm.TransitionDeployment{
		ID: d.ID, To: fsm.StateSuperseded, Time: r.now(),
		Message: fmt.Sprintf("superseded by commit %s: %s", short(head), why),
	})
	if errors.Is(err, fsm.ErrIllegalTransition) {
		return nil // it moved on meanwhile
	}
	return err
}

// short abbreviates a commit hash for messages.
func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
