package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/honua-io/honua-gitops/test/bench/benchrun"

	"github.com/honua-io/honua-gitops/internal/target"
	"github.com/honua-io/honua-gitops/test/harness"
)

// Targets of the complete part: the time from the push returning to the
// development deployment being Completed on a follower. With the webhook,
// issue #17's goal; polling, within the poll interval plus a slack.
const (
	webhookGoalP50    = 80 * time.Millisecond
	webhookGoalP90    = 200 * time.Millisecond
	completePollSlack = 150 * time.Millisecond // polling: within the poll interval plus this
	// pollJitter is the most honuad adds to a poll interval (10%); the
	// worst case of a push just after a poll waits the whole of it.
	pollJitter = 0.1
)

// How often the complete part looks: at the follower's API, and at the
// target's manifest (a file read, cheap enough to do more often).
const (
	apiEvery    = 5 * time.Millisecond
	targetEvery = 2 * time.Millisecond
)

// completeResult is one mode's figures of the complete part.
type completeResult struct {
	mode deployMode
	// listed: push returned → GET /v1/deployments?env=development&limit=1
	// on the follower shows the commit Completed.
	listed []time.Duration
	// served: push returned → the target's .honua/deployment.json names
	// the commit.
	served []time.Duration
	phases [][]phase // where each commit's time went
	// pollSteps are the steps of the leader's polls asked for by the
	// webhook, from its debug log (none at other log levels).
	pollSteps [][]phase
	missed    int      // commits that did not complete in time
	notes     []string // what went wrong beside the figures
}

// limit is the polling mode's target for the median.
func (c completeResult) limit() time.Duration {
	return c.mode.pollInterval + completePollSlack
}

// goal is the webhook mode's goal, as printed.
func (c completeResult) goal() string {
	return fmt.Sprintf("p50 ≤ %v, p90 ≤ %v", webhookGoalP50, webhookGoalP90)
}

// goalVerdict is the verdict of figures ds against the webhook mode's goal.
func (c completeResult) goalVerdict(ds []time.Duration) string {
	if len(ds) > 0 && c.missed == 0 && median(ds) <= webhookGoalP50 && percentile(ds, 90) <= webhookGoalP90 {
		return "met"
	}
	return "NOT met"
}

// webhookGoalMet reports whether Completed on the follower met the goal.
func (c completeResult) webhookGoalMet() bool { return c.goalVerdict(c.listed) == "met" }

// worstCase bounds every commit of the polling mode: a push just after a
// poll waits a whole interval with the most jitter honuad adds.
func (c completeResult) worstCase() time.Duration {
	return c.mode.pollInterval + time.Duration(pollJitter*float64(c.mode.pollInterval)) + completePollSlack
}

// phase is one stretch of a commit's way to Completed.
type phase struct {
	name string
	d    time.Duration
}

// benchComplete starts a three-node cluster that deploys development to a
// directory target, pushes commits to development one at a time and times
// each until it is Completed on a follower and served by the target. It
// stops the cluster before returning.
func benchComplete(r *benchrun.Runner, s *setup, m deployMode, commits int) completeResult {
	res := completeResult{mode: m}
	dir := r.TempDir()
	targets := filepath.Join(dir, "targets")
	if err := os.Mkdir(targets, 0o755); err != nil {
		r.Fatalf("%s: %v", m.name, err)
	}
	path := filepath.Join(targets, deployedEnv)
	envs := fmt.Sprintf(`environments:
  %s:
    targets:
      - type: directory
        path: %s
`, deployedEnv, path)
	fmt.Fprintf(progress, "-- %s: pollInterval %v, %s; %s → directory target %s\n", m.name, m.pollInterval, m.how(), deployedEnv, path)
	started := time.Now()
	c, leader, node := startWatching(r, s, m, dir, envs)
	defer stopCluster(c)
	// The leader deploys the head when it takes office: wait for it, and
	// for staging's first deployment, so the timed commits start from a
	// quiet cluster and a target that serves a bundle.
	head := s.config.Head()
	if _, _, err := timeCompletion(node, path, head, clusterTimeout); err != nil {
		r.Fatalf("%s: first deployment: %v", m.name, err)
	}
	if err := waitSettled(node, "staging", head); err != nil {
		fmt.Fprintf(progress, "   note: %v\n", err)
	}
	// The newest deployment of any environment: the next development
	// deployment should take the next id.
	newest, err := deployments(node, "", 1)
	if err != nil || len(newest) == 0 {
		r.Fatalf("%s: first deployments: not listed (%v)", m.name, err)
	}
	prev := newest[0].ID
	fmt.Fprintf(progress, "   cluster up with leader %s and the head deployed (newest deployment %s) after %v; timing on follower %s\n",
		leader.ID(), prev, time.Since(started).Round(time.Millisecond), node.ID())

	limit := m.waitLimit()
	jumps := 0
	for i := 1; i <= commits; i++ {
		commit, pushed, answered, hook := pushDevelopment(s, m, node)
		listed, served, err := timeCompletion(node, path, commit, limit)
		if err != nil {
			res.missed++
			fmt.Fprintf(progress, "   %s %2d/%d: %s MISSED: %v%s\n", m.name, i, commits, short(commit), err, hook)
			if err := waitSettled(node, deployedEnv, commit); err != nil {
				fmt.Fprintf(progress, "   note: %v\n", err)
			}
			continue
		}
		res.listed = append(res.listed, listed.Sub(pushed))
		res.served = append(res.served, served.Sub(pushed))
		rec, recErr := deploymentRecord(node, deployedEnv, commit)
		ps := rec.phases(pushed, answered, served, listed)
		res.phases = append(res.phases, ps)
		fmt.Fprintf(progress, "   %s %2d/%d: %s → %s Completed on %s after %s, on the target after %s%s\n        %s\n",
			m.name, i, commits, short(commit), rec.ID, node.ID(), ms(listed.Sub(pushed)), ms(served.Sub(pushed)), hook,
			formatPhases(ps))
		var notes []string
		if recErr != nil {
			notes = append(notes, fmt.Sprintf("commit %d: %v", i, recErr))
		} else if jump := idGap(prev, rec.ID); jump != "" {
			notes = append(notes, jump)
			jumps++
		}
		prev = rec.ID
		if err := sameFile(filepath.Join(path, "metadata.json"), s.developmentMetadata()); err != nil {
			notes = append(notes, err.Error())
		}
		for _, n := range notes {
			fmt.Fprintf(progress, "   note: %s\n", n)
		}
		res.notes = append(res.notes, notes...)
	}
	if note := stagingNote(node); note != "" {
		res.notes = append(res.notes, note)
		fmt.Fprintf(progress, "   note: %s\n", note)
	} else {
		fmt.Fprintf(progress, "   staging: one deployment (its first), none for the development commits\n")
	}
	if jumps == 0 && len(res.listed) > 0 {
		fmt.Fprintf(progress, "   deployment ids: each development deployment took the next id (%s last)\n", prev)
	}
	res.pollSteps = pollSteps(leader.Log())
	res.printFigures(progress)
	return res
}

// timeCompletion waits until node lists commit as development's newest
// deployment, Completed, and until the directory target at path serves it;
// it returns when each was first seen. It gives up after limit, or at once
// when the deployment ends, or stops, short of Completed.
func timeCompletion(node *harness.Node, path, commit string, limit time.Duration) (listed, served time.Time, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var listErr, serveErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		listed, listErr = watch(ctx, apiEvery, func() error { return completedOn(node, commit) })
		if listErr != nil {
			cancel()
		}
	})
	wg.Go(func() {
		served, serveErr = watch(ctx, targetEvery, func() error { return targetServes(path, commit) })
		if serveErr != nil {
			cancel()
		}
	})
	wg.Wait()
	var errs []string
	if listErr != nil && !errors.Is(listErr, context.Canceled) {
		errs = append(errs, fmt.Sprintf("on %s: %v", node.ID(), listErr))
	}
	if serveErr != nil && !errors.Is(serveErr, context.Canceled) {
		errs = append(errs, fmt.Sprintf("on the target: %v", serveErr))
	}
	if len(errs) > 0 {
		return listed, served, errors.New(strings.Join(errs, "; "))
	}
	return listed, served, nil
}

// finalError is a check's error that ends its wait at once.
type finalError struct{ error }

// watch calls check at once and then every period until it returns nil,
// and returns the time it did. It gives up on a finalError, or when ctx
// ends, with the check's last complaint.
func watch(ctx context.Context, period time.Duration, check func() error) (time.Time, error) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return time.Now(), nil
		}
		if f, ok := errors.AsType[finalError](err); ok {
			return time.Time{}, f.error
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return time.Time{}, ctx.Err()
			}
			return time.Time{}, fmt.Errorf("not within the time allowed; last seen: %w", err)
		case <-tick.C:
		}
	}
}

// completedOn checks GET /v1/deployments?env=development&limit=1 on n for
// commit in state Completed.
func completedOn(n *harness.Node, commit string) error {
	ds, err := deployments(n, deployedEnv, 1)
	if err != nil {
		return err
	}
	if len(ds) == 0 {
		return errors.New("no deployment listed")
	}
	d := ds[0]
	if d.Commit != commit {
		return fmt.Errorf("newest is %s of %s (%s)", d.ID, short(d.Commit), d.State)
	}
	switch d.State {
	case "Completed":
		return nil
	case "Failed", "RolledBack", "Rejected", "Superseded", "AwaitingApproval", "Scheduled":
		// Ended, or waiting for a person or a window: it will not
		// complete by itself.
		return finalError{fmt.Errorf("%s is %s: %s %s", d.ID, d.State, d.Message, d.Error)}
	}
	return fmt.Errorf("%s is %s", d.ID, d.State)
}

// targetServes checks that the directory target at path serves commit:
// its .honua/deployment.json names it.
func targetServes(path, commit string) error {
	name := filepath.Join(path, filepath.FromSlash(target.ManifestPath))
	data, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	var m target.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if m.Commit != commit {
		return fmt.Errorf("the target serves %s (commit %s)", m.DeploymentID, short(m.Commit))
	}
	return nil
}

// sameFile reports how the file at name differs from want, if it does: a
// Completed directory target holds the repository's metadata.json byte for
// byte (docs/domain.md#targets).
func sameFile(name, want string) error {
	got, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	if string(got) != want {
		return fmt.Errorf("target: %s is not the committed file (%d bytes; want %d)", name, len(got), len(want))
	}
	return nil
}

// record is the part of GET /v1/deployments/{id} the complete part reads.
type record struct {
	ID          string    `json:"id"`
	Commit      string    `json:"commit"`
	State       string    `json:"state"`
	CreatedAt   time.Time `json:"createdAt"`
	Transitions []struct {
		To   string    `json:"to"`
		Time time.Time `json:"time"`
	} `json:"transitions"`
}

// deploymentRecord reads the whole record of env's newest deployment on n,
// which must be of commit.
func deploymentRecord(n *harness.Node, env, commit string) (record, error) {
	ds, err := deployments(n, env, 1)
	if err != nil {
		return record{}, err
	}
	if len(ds) == 0 || ds[0].Commit != commit {
		return record{}, fmt.Errorf("%s's newest deployment on %s is no longer of %s", env, n.ID(), short(commit))
	}
	var rec record
	err = getJSON(n, "/v1/deployments/"+ds[0].ID, &rec)
	return rec, err
}

// phases splits the time from pushed to seen, when the follower listed the
// deployment Completed, by the times in its record. Those are the leader's
// clock when it decided each step, so a state's phase is the raft commit
// of entering it plus the work that decided the next move:
//
//   - webhook: push → the follower answered the webhook (it forwarded
//     the delivery to the leader, which asked for a poll and answered);
//   - created: push (or the webhook's answer) → the leader created the
//     deployment: the wait for the next poll without a webhook, ls-remote,
//     fetch, recording the repository's status and comparing the
//     environments;
//   - in <state>: entering that state → deciding the next;
//   - Applying→switch: part of "in Applying", from entering it to the
//     target's manifest naming the commit (served, seen by a 2ms poll);
//   - follower: the leader's Completed → the follower listing it (the
//     raft commit of Completed, the follower's apply, and the 5ms poll).
func (rec record) phases(pushed, answered, served, seen time.Time) []phase {
	if len(rec.Transitions) == 0 {
		return nil
	}
	var ps []phase
	if !answered.IsZero() {
		ps = append(ps, phase{"webhook", answered.Sub(pushed)})
		pushed = answered
	}
	ps = append(ps, phase{"created", rec.CreatedAt.Sub(pushed)})
	for i := 1; i < len(rec.Transitions); i++ {
		prev, t := rec.Transitions[i-1], rec.Transitions[i]
		ps = append(ps, phase{"in " + prev.To, t.Time.Sub(prev.Time)})
		if prev.To == "Applying" {
			ps = append(ps, phase{"Applying→switch", served.Sub(prev.Time)})
		}
	}
	last := rec.Transitions[len(rec.Transitions)-1]
	return append(ps, phase{"follower", seen.Sub(last.Time)})
}

func formatPhases(ps []phase) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.name + " " + ms(p.d)
	}
	return strings.Join(parts, ", ")
}

// medianPhases is the median of each phase over every commit, in the order
// they first appear.
func medianPhases(all [][]phase) []phase {
	var names []string
	by := map[string][]time.Duration{}
	for _, ps := range all {
		for _, p := range ps {
			if _, ok := by[p.name]; !ok {
				names = append(names, p.name)
			}
			by[p.name] = append(by[p.name], p.d)
		}
	}
	out := make([]phase, len(names))
	for i, n := range names {
		out[i] = phase{n, median(by[n])}
	}
	return out
}

// idGap says when a deployment id is not the one after prev: ids come from
// one counter for every environment, so a gap means another environment
// got a deployment in between.
func idGap(prev, id string) string {
	p, okp := idNumber(prev)
	n, okn := idNumber(id)
	if !okp || !okn || n == p+1 {
		return ""
	}
	return fmt.Sprintf("deployment ids jumped from %s to %s: another environment got a deployment in between", prev, id)
}

// idNumber is the counter at the end of a deployment id (<env>-<n>).
func idNumber(id string) (int, bool) {
	i := strings.LastIndexByte(id, '-')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(id[i+1:])
	return n, err == nil
}

// stagingNote checks that staging, which no commit changes after the
// first, has exactly one deployment, and says what it has otherwise.
func stagingNote(n *harness.Node) string {
	ds, err := deployments(n, "staging", 100)
	if err != nil {
		return fmt.Sprintf("staging: %v", err)
	}
	if len(ds) == 1 {
		return ""
	}
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID + " " + d.State
	}
	return fmt.Sprintf("staging has %d deployments, want 1 (its first): %s", len(ds), strings.Join(ids, ", "))
}

// printFigures writes the mode's closing lines: each measure's median, p90
// and max against the target.
func (c completeResult) printFigures(w io.Writer) {
	if len(c.listed) == 0 {
		fmt.Fprintf(w, "   %s: no figures (%d missed)\n", c.mode.name, c.missed)
		return
	}
	for _, f := range []struct {
		what string
		ds   []time.Duration
	}{{"Completed on the follower", c.listed}, {"on the target", c.served}} {
		goal, verdict := "p50 < "+ms(c.limit()), within(median(f.ds), c.limit())
		if c.mode.webhook {
			goal, verdict = c.goal(), c.goalVerdict(f.ds)
		}
		fmt.Fprintf(w, "   %s, %s: %s over %d commits (%d missed); target %s: %s\n", c.mode.name, f.what,
			spread(f.ds), len(f.ds), c.missed, goal, verdict)
	}
	fmt.Fprintf(w, "   %s, medians of each phase: %s\n", c.mode.name, formatPhases(medianPhases(c.phases)))
	if len(c.pollSteps) > 0 {
		fmt.Fprintf(w, "   %s, the leader's poll steps (medians of %d polls, its debug log): %s\n", c.mode.name,
			len(c.pollSteps), formatPhases(medianPhases(c.pollSteps)))
	}
}

// spread is a set of figures' median, p90 and max.
func spread(ds []time.Duration) string {
	return fmt.Sprintf("p50 %s, p90 %s, max %s", ms(median(ds)), ms(percentile(ds, 90)), ms(slices.Max(ds)))
}

// within is the verdict of a figure against a limit it must stay under.
func within(d, limit time.Duration) string {
	if d < limit {
		return "met"
	}
	return "NOT met"
}
