package fsm_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/fsm/fsmtest"
)

var seedFlag = flag.Uint64("fsm.seed", 0, "seed of the property tests (0: a random one)")

// propertySeed returns the seed of a property test and logs it.
func propertySeed(t *testing.T) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d (rerun with: go test -run '^%s$' ./internal/fsm -args -fsm.seed=%d)", seed, t.Name(), seed)
	return seed
}

// The size of the property tests: sequences × commands.
const (
	propertySequences = 60
	propertyCommands  = 400
)

var propEnvs = []string{"alpha", "beta", "gamma-1"}

// successors lists the domain's next states of each state, in AllStates
// order so that the generator is deterministic.
var successors = func() map[fsm.DeploymentState][]fsm.DeploymentState {
	m := map[fsm.DeploymentState][]fsm.DeploymentState{}
	for _, from := range fsm.AllStates {
		for _, to := range fsm.AllStates {
			if specEdges[edge{from, to}] {
				m[from] = append(m[from], to)
			}
		}
	}
	return m
}()

// gen generates random commands. It reads the FSM the commands are applied
// to only to choose plausible ones; most are still refused.
type gen struct {
	r   *rand.Rand
	now time.Time
	ids []string // every id of an accepted CreateDeployment, in order
	// created is each id's position in ids.
	created map[string]int
	next    int
}

func newGen(seed uint64, seq int) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, uint64(seq))), now: t0, created: map[string]int{}}
}

func (g *gen) oneOf(xs ...string) string { return xs[g.r.IntN(len(xs))] }

// pick returns an id to act on: mostly a recent one, sometimes an old
// (perhaps pruned) one, rarely an unknown one.
func (g *gen) pick() string {
	switch {
	case len(g.ids) == 0 || g.r.IntN(50) == 0:
		return "unknown-id"
	case g.r.IntN(4) > 0:
		return g.ids[max(0, len(g.ids)-1-g.r.IntN(6))]
	default:
		return g.ids[g.r.IntN(len(g.ids))]
	}
}

func (g *gen) groups() []string {
	switch g.r.IntN(4) {
	case 0:
		return nil
	case 1:
		return []string{"ops"}
	case 2:
		return []string{"dev"}
	default:
		return []string{"dev", "ops"}
	}
}

// live returns an id of a deployment that is not terminal. It returns
// g.pick() when there is none, and sometimes anyway.
func (g *gen) live(f *fsm.FSM) string {
	return g.where(f, func(d *fsm.Deployment) bool { return !d.State.Terminal() })
}

// failed is live for deployments that failed after applying and may still
// roll back. Rollbacks are tried only through it, and rarely, so that some
// come after the environment moved on.
func (g *gen) failed(f *fsm.FSM) string {
	return g.where(f, func(d *fsm.Deployment) bool {
		return d.State == fsm.StateFailed && d.Applied && !d.RollbackStarted
	})
}

// awaiting is live for deployments that are AwaitingApproval.
func (g *gen) awaiting(f *fsm.FSM) string {
	return g.where(f, func(d *fsm.Deployment) bool { return d.State == fsm.StateAwaitingApproval })
}

func (g *gen) where(f *fsm.FSM, ok func(*fsm.Deployment) bool) string {
	if g.r.IntN(5) == 0 {
		return g.pick()
	}
	var ids []string
	for _, env := range propEnvs {
		for _, d := range f.History(env) {
			if ok(d) {
				ids = append(ids, d.ID)
			}
		}
	}
	if len(ids) == 0 {
		return g.pick()
	}
	return ids[g.r.IntN(len(ids))]
}

// forward are the successors that move a deployment on towards Completed or
// RolledBack rather than ending it. (Failed deployments reach the transition
// case only through pick; rollbacks are mostly tried by the rollback case.)
var forward = map[fsm.DeploymentState][]fsm.DeploymentState{
	fsm.StatePending:          {fsm.StateValidating},
	fsm.StateValidating:       {fsm.StatePlanning},
	fsm.StatePlanning:         {fsm.StateAwaitingApproval, fsm.StateScheduled, fsm.StateBackingUp},
	fsm.StateAwaitingApproval: {fsm.StateScheduled, fsm.StateBackingUp},
	fsm.StateScheduled:        {fsm.StateBackingUp},
	fsm.StateBackingUp:        {fsm.StateApplying},
	fsm.StateApplying:         {fsm.StatePostValidating},
	fsm.StatePostValidating:   {fsm.StateCompleted},
	fsm.StateFailed:           {fsm.StateRollingBack},
	fsm.StateRollingBack:      {fsm.StateRolledBack},
}

// command returns the next command for f. Times never go backwards.
func (g *gen) command(f *fsm.FSM) fsm.Command {
	g.now = g.now.Add(time.Duration(g.r.IntN(3)) * time.Minute)
	if g.r.IntN(8) == 0 {
		return g.notificationCommand(f)
	}
	switch n := g.r.IntN(100); {
	case n < 8:
		g.next++
		c := &fsm.CreateDeployment{Environment: g.oneOf(propEnvs...), Commit: fmt.Sprintf("c%d", g.next),
			Kind: fsm.KindAuto, Initiator: "watcher", Time: g.now}
		if g.r.IntN(40) == 0 {
			c.Environment = g.oneOf("Bad/Env", "common")
		}
		return c
	case n < 61:
		id := g.live(f)
		to := fsm.AllStates[g.r.IntN(len(fsm.AllStates))]
		if d, ok := f.Deployment(id); ok {
			switch k := g.r.IntN(100); {
			case k < 75 && len(forward[d.State]) > 0:
				to = forward[d.State][g.r.IntN(len(forward[d.State]))]
			case k < 90 && len(successors[d.State]) > 0:
				to = successors[d.State][g.r.IntN(len(successors[d.State]))]
			}
		}
		c := &fsm.TransitionDeployment{ID: id, To: to, Time: g.now, Message: "step"}
		switch to {
		case fsm.StateAwaitingApproval:
			if g.r.IntN(10) == 0 {
				break // no requirement: the deployment cannot be approved
			}
			c.Approval = &fsm.ApprovalRequirement{Required: 1 + g.r.IntN(2)}
			if g.r.IntN(2) == 0 {
				c.Approval.Groups = []string{"ops"}
			}
			if g.r.IntN(2) == 0 {
				c.Approval.Expires = g.now.Add(time.Duration(g.r.IntN(10)) * time.Minute)
			}
		case fsm.StateApplying:
			if g.r.IntN(2) == 0 {
				c.BackupBundleID = fmt.Sprintf("bundle-%d", g.r.IntN(100))
			}
		case fsm.StateFailed:
			c.Error = "boom"
		case fsm.StatePlanning:
			c.Plan, c.Risk = []byte(`{"changes":1}`), g.oneOf("low", "high")
		}
		return c
	case n < 63:
		return &fsm.TransitionDeployment{ID: g.failed(f), To: fsm.StateRollingBack, Time: g.now, Message: "rollback"}
	case n < 75:
		c := &fsm.Approve{ID: g.awaiting(f), Identity: g.oneOf("alice", "bob", "carol", ""), Groups: g.groups(),
			Time: g.now}
		if d, ok := f.Deployment(c.ID); ok && len(d.Approvals) > 0 && g.r.IntN(3) == 0 {
			c.Identity, c.Groups = d.Approvals[0].Identity, d.Approvals[0].Groups // approve again
		}
		return c
	case n < 79:
		return &fsm.Reject{ID: g.awaiting(f), Identity: g.oneOf("alice", "bob"), Groups: g.groups(), Time: g.now,
			Reason: g.oneOf("", "too risky", "not now")}
	case n < 82:
		return &fsm.IssueFencingToken{ID: g.live(f)}
	case n < 85:
		return g.wave(f)
	case n < 88:
		// Mostly a deployment rolling out (a wave started), the only kind
		// that can be controlled; the rest tries the refusals.
		id := g.where(f, func(d *fsm.Deployment) bool { return d.State == fsm.StateApplying && len(d.Rollout) > 0 })
		c := &fsm.ControlRollout{ID: id, Action: []fsm.RolloutAction{fsm.RolloutPromote, fsm.RolloutAbort}[g.r.IntN(2)],
			Identity: g.oneOf("alice", "bob", ""), Groups: g.groups(), Time: g.now, Reason: g.oneOf("", "errors")}
		if d, ok := f.Deployment(id); ok && d.State == fsm.StateApplying && len(d.Rollout) > 0 && g.r.IntN(3) != 0 {
			// A deployment rolling out is rare in a sequence: mostly send
			// what an approver would, so that acceptance is reached.
			c.Identity, c.Groups, c.Reason = g.oneOf("alice", "bob"), []string{"ops"}, "errors"
			if d.Rollout[len(d.Rollout)-1].Phase == fsm.WaveBaking {
				c.Action = fsm.RolloutPromote
			} else {
				c.Action = fsm.RolloutAbort
			}
		}
		return c
	case n < 89:
		return g.drift(f)
	case n < 90:
		env := g.oneOf(propEnvs...)
		commit := fmt.Sprintf("c%d", g.r.IntN(g.next+1))
		if e, ok := f.Environment(env); ok && g.r.IntN(4) != 0 {
			commit = e.DeployedCommit
		}
		return &fsm.CreateDeployment{Environment: env, Commit: commit, Kind: fsm.KindSelfHeal, Initiator: "drift", Time: g.now}
	case n < 91:
		id := g.where(f, func(d *fsm.Deployment) bool { return d.State.Waiting() })
		if g.r.IntN(4) == 0 {
			id = g.live(f)
		}
		return &fsm.CancelDeployment{ID: id, Identity: g.oneOf("alice", "bob", ""), Groups: g.groups(), Time: g.now,
			Reason: g.oneOf("", "not today", "wrong commit")}
	case n < 92:
		return &fsm.SetSuspension{Environment: g.oneOf(propEnvs...), Suspend: g.r.IntN(2) == 0,
			Identity: g.oneOf("alice", "bob"), Reason: g.oneOf("", "incident 42"), Time: g.now}
	case n < 93:
		id := g.where(f, func(d *fsm.Deployment) bool { return d.State.Waiting() })
		return &fsm.OverrideWindow{ID: id, Identity: g.oneOf("alice", "bob"), Role: g.oneOf("admin", "admin", "approver"),
			Time: g.now, Reason: g.oneOf("", "hotfix")}
	case n < 94:
		return &fsm.SetSettings{HistoryRetention: g.r.IntN(6)}
	case n < 96:
		// Mostly to a Completed deployment; sometimes to anything.
		to := g.where(f, func(d *fsm.Deployment) bool { return d.State == fsm.StateCompleted })
		env := g.oneOf(propEnvs...)
		if d, ok := f.Deployment(to); ok && g.r.IntN(4) != 0 {
			env = d.Environment
		}
		return &fsm.CreateRollback{Environment: env, To: to, Initiator: g.oneOf("alice", ""), Time: g.now}
	case n < 97:
		return &fsm.ObserveCommit{Environment: g.oneOf(propEnvs...), Commit: fmt.Sprintf("c%d", g.next+1), Time: g.now}
	default:
		if g.r.IntN(2) == 0 {
			return &fsm.SetPin{Environment: g.oneOf(propEnvs...)}
		}
		return &fsm.SetPin{Environment: g.oneOf(propEnvs...), Pin: &fsm.Pin{Commit: "c1", By: "alice", Since: g.now}}
	}
}

// wave returns a RecordWave: mostly of a deployment in Applying, for its
// last wave or the next one, in any phase, with the wave's token, a higher
// one or none.
func (g *gen) wave(f *fsm.FSM) fsm.Command {
	id := g.where(f, func(d *fsm.Deployment) bool { return d.State == fsm.StateApplying })
	c := &fsm.RecordWave{ID: id, Targets: []string{g.oneOf("a", "b")}, Time: g.now,
		Phase: []fsm.WavePhase{fsm.WaveApplying, fsm.WaveBaking, fsm.WavePassed, fsm.WaveFailed}[g.r.IntN(4)]}
	if d, ok := f.Deployment(id); ok {
		c.Wave = len(d.Rollout) - g.r.IntN(2)
		c.Token = max(d.FencingToken, 1) + uint64(g.r.IntN(2))
		if n := len(d.Rollout); (n == 0 || d.Rollout[n-1].Phase == fsm.WavePassed) && g.r.IntN(4) != 0 {
			// Mostly start the next wave, as the pipeline does.
			c.Wave, c.Phase = n, fsm.WaveApplying
		}
		if c.Wave >= 0 && c.Wave < len(d.Rollout) && g.r.IntN(5) != 0 {
			c.Targets, c.Token = d.Rollout[c.Wave].Targets, d.Rollout[c.Wave].Token+uint64(g.r.IntN(2))
		}
	}
	if c.Phase == fsm.WaveBaking {
		c.BakeUntil = g.now.Add(time.Minute)
		if g.r.IntN(2) == 0 {
			c.Round = &fsm.AnalysisRound{Time: g.now, Passed: g.r.IntN(2) == 0,
				Results: []fsm.AnalysisResult{{Check: "error-rate", Target: c.Targets[0], Value: 0.5, Status: "failed"}}}
		}
	}
	return c
}

// drift returns a SetDrift: mostly of an environment's deployed
// deployment, with a few files (sometimes too many), or a clear.
func (g *gen) drift(f *fsm.FSM) fsm.Command {
	env := g.oneOf(propEnvs...)
	if g.r.IntN(3) == 0 {
		return &fsm.SetDrift{Environment: env, Time: g.now}
	}
	c := &fsm.SetDrift{Environment: env, Drifted: true, Targets: []string{g.oneOf("directory /a", "http b")}, Time: g.now}
	if e, ok := f.Environment(env); ok && g.r.IntN(5) != 0 {
		c.Deployment = e.DeployedDeployment
	} else {
		c.Deployment = g.pick()
	}
	for range g.r.IntN(3) + g.r.IntN(2)*fsm.MaxDriftFiles {
		c.Files = append(c.Files, fmt.Sprintf("f%d.json", len(c.Files)))
	}
	c.MoreFiles = g.r.IntN(3) - 1 + g.r.IntN(2)
	return c
}

// propRoutes are the routes the generator sets: one of them, both, or
// none.
var propRoutes = []fsm.NotificationRoute{
	{Events: fsm.AllNotificationEvents, Channels: []string{"hook", "team"}},
	{Events: []fsm.NotificationEvent{fsm.EventApprovalRequired, fsm.EventDeploymentFailed, fsm.EventRolledBack},
		Environments: []string{"alpha"}, Channels: []string{"team", "mail"}},
}

// notificationCommand returns a command of the outbox: mostly about a
// notification f holds, sometimes about an unknown one; now and then new
// routes.
func (g *gen) notificationCommand(f *fsm.FSM) fsm.Command {
	if g.r.IntN(10) == 0 {
		var routes []fsm.NotificationRoute
		switch g.r.IntN(5) {
		case 0:
		case 1:
			routes = propRoutes[:1]
		case 2:
			routes = propRoutes[1:]
		case 3:
			routes = []fsm.NotificationRoute{{Events: []fsm.NotificationEvent{"Bogus"}, Channels: []string{"hook"}}}
		default:
			routes = propRoutes
		}
		return &fsm.SetNotificationRoutes{Routes: routes}
	}
	filter := fsm.NotificationFilter{Limit: 20}
	if g.r.IntN(3) == 0 {
		filter.State = fsm.NotificationFailed
	}
	id := "alpha-1.Approved.nowhere"
	if ns := f.Notifications(filter); len(ns) > 0 && g.r.IntN(20) > 0 {
		id = ns[g.r.IntN(len(ns))].ID
	}
	switch n := g.r.IntN(10); {
	case n < 4:
		return &fsm.RecordNotificationAttempt{ID: id, Time: g.now, Error: "503", NextTry: g.now.Add(time.Minute),
			GiveUp: g.r.IntN(3) == 0}
	case n < 8:
		return &fsm.MarkNotificationDelivered{ID: id, Time: g.now}
	default:
		return &fsm.RetryNotification{ID: id, Time: g.now}
	}
}

// applied tells the generator how c fared: res and err are what Apply
// returned.
func (g *gen) applied(c fsm.Command, res any, err error) {
	switch c.(type) {
	case *fsm.CreateDeployment, *fsm.CreateRollback:
	default:
		return
	}
	if err == nil {
		id := res.(*fsm.Deployment).ID
		g.created[id] = len(g.ids)
		g.ids = append(g.ids, id)
	}
}

// mayRollBack: d is changing targets, or failed after applying, has not
// rolled back yet, and e still has its backup deployed.
func mayRollBack(d *fsm.Deployment, e *fsm.Environment) bool {
	if d.State.Active() {
		return true
	}
	return d.State == fsm.StateFailed && d.Applied && !d.RollbackStarted && d.Backup != nil &&
		e.DeployedDeployment == d.Backup.DeploymentID && e.DeployedCommit == d.Backup.Commit
}

// prunable is the retention rule, restated: a finished deployment that is
// not the environment's current, waiting or deployed one, cannot roll back
// any more, and is not what a deployment that may roll back would restore
// (restorable: the ids of those backups).
func prunable(d *fsm.Deployment, e *fsm.Environment, restorable map[string]bool) bool {
	if d.ID == e.Current || d.ID == e.Waiting || d.ID == e.DeployedDeployment || !d.State.Terminal() {
		return false
	}
	return !mayRollBack(d, e) && !restorable[d.ID]
}

// leavesApproval reports whether the transition from → to needs the
// deployment approved.
func leavesApproval(from, to fsm.DeploymentState) bool {
	return from == fsm.StateAwaitingApproval && (to == fsm.StateScheduled || to == fsm.StateBackingUp)
}

// checkDeployment returns what is wrong with one deployment on its own.
func checkDeployment(d *fsm.Deployment) []string {
	var bad []string
	fail := func(format string, args ...any) {
		bad = append(bad, fmt.Sprintf("deployment %s: ", d.ID)+fmt.Sprintf(format, args...))
	}
	tr := d.Transitions
	if len(tr) == 0 || tr[0].From != 0 || tr[0].To != fsm.StatePending || !tr[0].Time.Time().Equal(d.CreatedAt) {
		fail("first transition %+v; want to Pending at creation %v", tr, d.CreatedAt)
		return bad
	}
	applied, rolledBack, awaited := false, 0, false
	for i := 1; i < len(tr); i++ {
		prev, cur := tr[i-1], tr[i]
		if cur.From != prev.To {
			fail("transition %d from %s; want from %s, where %d ended", i, cur.From, prev.To, i-1)
		}
		if !specEdges[edge{cur.From, cur.To}] {
			fail("transition %d %s→%s is not an edge of the state machine", i, cur.From, cur.To)
		}
		if cur.From.Terminal() && !(cur.From == fsm.StateFailed && cur.To == fsm.StateRollingBack) {
			fail("transition %d leaves terminal state %s for %s", i, cur.From, cur.To)
		}
		if cur.Time < prev.Time {
			fail("transition %d at %v is before transition %d at %v", i, cur.Time.Time(), i-1, prev.Time.Time())
		}
		if leavesApproval(cur.From, cur.To) && !d.Approved() {
			// The generator records a requirement only on the way into
			// AwaitingApproval, so d.Approval is the one that applied.
			fail("transition %d %s→%s with approvals %+v of requirement %+v", i, cur.From, cur.To,
				d.Approvals, d.Approval)
		}
		switch cur.To {
		case fsm.StateApplying:
			applied = true
		case fsm.StateRollingBack:
			rolledBack++
			if !applied {
				fail("rolls back without having applied")
			}
		case fsm.StateAwaitingApproval:
			awaited = true
		}
	}
	last := tr[len(tr)-1]
	if last.To != d.State {
		fail("last transition to %s; state is %s", last.To, d.State)
	}
	if d.UpdatedAt.Before(last.Time.Time()) {
		fail("updated at %v, before its last transition at %v", d.UpdatedAt, last.Time)
	}
	if rolledBack > 1 {
		fail("rolled back %d times", rolledBack)
	}
	if d.Applied != applied || d.RollbackStarted != (rolledBack > 0) {
		fail("applied=%v rollbackStarted=%v; its transitions say %v, %v", d.Applied, d.RollbackStarted, applied, rolledBack > 0)
	}
	if len(d.Approvals) > 0 && !awaited {
		fail("has approvals but never awaited approval")
	}
	seen := map[string]bool{}
	for _, a := range d.Approvals {
		if seen[a.Identity] || a.Identity == "" {
			fail("approvals %+v repeat an identity or have an empty one", d.Approvals)
		}
		seen[a.Identity] = true
	}
	if d.Rejection != nil && d.State != fsm.StateRejected {
		fail("has a rejection but is %s", d.State)
	}
	if (d.Cancellation != nil) != (d.State == fsm.StateCancelled) {
		fail("is %s with cancellation %+v", d.State, d.Cancellation)
	}
	if (d.State.Active() || d.Applied) && d.Backup == nil {
		fail("is %s (applied %v) without a backup", d.State, d.Applied)
	}
	if len(d.Rollout) > 0 && !d.Applied || len(d.Rollout) > fsm.MaxRolloutWaves {
		fail("records %d waves (applied %v)", len(d.Rollout), d.Applied)
	}
	for i, w := range d.Rollout {
		if i < len(d.Rollout)-1 && w.Phase != fsm.WavePassed || w.Token == 0 || w.FailedRounds > w.Rounds {
			fail("wave %d of %d is %s with token %d, %d of %d rounds failed", i, len(d.Rollout), w.Phase, w.Token, w.FailedRounds, w.Rounds)
		}
	}
	return bad
}

// checkInvariants reads f and returns every broken invariant.
// headsOf is what Heads must return, from copies of the records.
func headsOf(f *fsm.FSM) []fsm.EnvironmentHead {
	out := []fsm.EnvironmentHead{}
	for _, e := range f.Environments() {
		h := fsm.EnvironmentHead{Name: e.Name, Current: e.Current, Waiting: e.Waiting, Suspended: e.Suspended != nil,
			PendingSync: e.PendingSync}
		if n := len(e.History); n > 0 {
			if d, ok := f.Deployment(e.History[n-1]); ok && d.State == fsm.StateFailed && d.Applied && !d.RollbackStarted {
				h.FailedUnrecovered = d.ID
			}
		}
		out = append(out, h)
	}
	return out
}

func checkInvariants(f *fsm.FSM, g *gen) []string {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	envOf := map[string]string{}
	retention := f.HistoryRetention()
	if got, want := f.Heads(), headsOf(f); !reflect.DeepEqual(got, want) {
		fail("Heads() = %+v; the environments' records say %+v", got, want)
	}
	for _, e := range f.Environments() {
		hist := f.History(e.Name) // newest first
		ids := make([]string, len(hist))
		for i, d := range hist {
			ids[len(hist)-1-i] = d.ID
		}
		if !slices.Equal(ids, e.History) {
			fail("env %s: History() lists %v; Environment.History is %v", e.Name, ids, e.History)
		}
		var active, waiting []string
		restorable := map[string]bool{}
		for _, d := range hist {
			if mayRollBack(d, e) && d.Backup != nil && d.Backup.DeploymentID != "" {
				restorable[d.Backup.DeploymentID] = true
				if _, ok := f.Deployment(d.Backup.DeploymentID); !ok {
					fail("env %s: deployment %s is %s and may roll back to %s, which was dropped",
						e.Name, d.ID, d.State, d.Backup.DeploymentID)
				}
			}
		}
		if dr := e.Drift; dr != nil {
			if len(dr.Files) > fsm.MaxDriftFiles || len(dr.Targets) == 0 || len(dr.Targets) > fsm.MaxDriftTargets ||
				dr.MoreFiles < 0 || len(dr.Files)+dr.MoreFiles == 0 || !slices.IsSorted(dr.Files) || dr.Deployment == "" {
				fail("env %s: drift %+v is out of its bounds", e.Name, dr)
			}
			if sh, ok := f.Deployment(dr.SelfHeal); dr.SelfHeal != "" && ok && (sh.Kind != fsm.KindSelfHeal || sh.CreatedAt.Before(dr.Since)) {
				fail("env %s: drift's self-heal %s is of kind %s, created at %v before the drift (%v)",
					e.Name, sh.ID, sh.Kind, sh.CreatedAt, dr.Since)
			}
		}
		canPrune := 0
		for _, d := range slices.Backward(hist) {
			if other, ok := envOf[d.ID]; ok {
				fail("deployment %s is in environments %s and %s", d.ID, other, e.Name)
			}
			envOf[d.ID] = e.Name
			if d.Environment != e.Name {
				fail("env %s: deployment %s says environment %s", e.Name, d.ID, d.Environment)
			}
			bad = append(bad, checkDeployment(d)...)
			if su := e.Suspended; su != nil {
				for _, tr := range d.Transitions {
					if tr.Index > su.Index && ((tr.From == fsm.StatePending && tr.To == fsm.StateValidating) ||
						(tr.From.Waiting() && tr.To.Active())) {
						fail("env %s suspended at index %d: deployment %s moved %s→%s at index %d",
							e.Name, su.Index, d.ID, tr.From, tr.To, tr.Index)
					}
				}
			}
			if d.State.Active() {
				active = append(active, d.ID)
			}
			if d.State.Waiting() {
				waiting = append(waiting, d.ID)
			}
			if prunable(d, e, restorable) {
				canPrune++
			}
		}
		// Creation order.
		for i := 1; i < len(e.History); i++ {
			if g.created[e.History[i-1]] >= g.created[e.History[i]] {
				fail("env %s: history %v is not in creation order", e.Name, e.History)
				break
			}
		}
		// Current is set iff exactly one deployment is active, and names
		// it; the same for Waiting.
		if len(active) > 1 || (len(active) == 1 && e.Current != active[0]) || (len(active) == 0 && e.Current != "") {
			fail("env %s: active deployments %v, current %q", e.Name, active, e.Current)
		}
		if len(waiting) > 1 || (len(waiting) == 1 && e.Waiting != waiting[0]) || (len(waiting) == 0 && e.Waiting != "") {
			fail("env %s: waiting deployments %v, waiting slot %q", e.Name, waiting, e.Waiting)
		}
		// What the active deployment backed up is still what is deployed:
		// nothing else completes or rolls back while it runs, and it
		// starts rolling back only while its backup is deployed.
		if cur, ok := f.Deployment(e.Current); ok && cur.Backup != nil &&
			(cur.Backup.DeploymentID != e.DeployedDeployment || cur.Backup.Commit != e.DeployedCommit) {
			fail("env %s: deployed %s/%s, but the active %s (%s) backed up %s/%s", e.Name, e.DeployedDeployment,
				e.DeployedCommit, cur.ID, cur.State, cur.Backup.DeploymentID, cur.Backup.Commit)
		}
		if len(hist) > retention && canPrune > 0 {
			fail("env %s: %d deployments kept, retention %d, yet %d could be pruned", e.Name, len(hist), retention, canPrune)
		}
		if e.DeployedDeployment == "" && e.DeployedCommit != "" {
			fail("env %s: deployed commit %q without a deployment", e.Name, e.DeployedCommit)
		}
		if e.DeployedDeployment != "" {
			d, ok := f.Deployment(e.DeployedDeployment)
			switch {
			case !ok:
				fail("env %s: deployed %s/%s, a deployment that was dropped", e.Name, e.DeployedDeployment,
					e.DeployedCommit)
			case d.State != fsm.StateCompleted || d.Commit != e.DeployedCommit:
				fail("env %s: deployed %s/%s, but that deployment is %s with commit %s",
					e.Name, e.DeployedDeployment, e.DeployedCommit, d.State, d.Commit)
			}
		}
	}
	bad = append(bad, checkNotificationInvariants(f)...)
	// A deployment can be read exactly when its environment still lists it.
	for _, id := range g.ids {
		_, ok := f.Deployment(id)
		if _, listed := envOf[id]; ok != listed {
			fail("Deployment(%s) found=%v, but listed in an environment's history=%v", id, ok, listed)
		}
	}
	return bad
}

// runSequence applies n generated commands to a fresh harness and returns
// the log it applied, counting outcomes in tl (which may be nil). With
// check, it checks the result of each command and the invariants after it.
func runSequence(t *testing.T, seed uint64, seq, n int, check bool, tl *tally) []*raft.Log {
	t.Helper()
	h := newHarness(t)
	// accepted is fed only the entries h accepted, at the same indexes. A
	// refused command changes nothing, so both hold the same state; they
	// are compared every compareEvery steps (dumping the state around
	// every command is what would make this test slow).
	const compareEvery = 10
	accepted := fsm.New(nil)
	g := newGen(seed, seq)
	var logs []*raft.Log
	var lastToken uint64
	lastN := 0 // the number of the last deployment id
	for step := range n {
		c := g.command(h.fsm)
		var rollbackTo *fsm.Deployment // what a rollback names, before it applies (it may prune it)
		if rb, ok := c.(*fsm.CreateRollback); ok {
			rollbackTo, _ = h.fsm.Deployment(rb.To)
		}
		res, err := h.apply(c)
		data, _ := fsm.Encode(c)
		l := &raft.Log{Index: h.index(), Term: 1, Type: raft.LogCommand, Data: data}
		logs = append(logs, l)
		if !check {
			g.applied(c, res, err)
			tl.count(c, res, err)
			continue
		}
		where := fmt.Sprintf("sequence %d step %d: Apply(%s)", seq, step, describe(c))
		switch c := c.(type) {
		case *fsm.CreateDeployment:
			if err != nil {
				break
			}
			// "<environment>-<n>", n growing: never an id used before.
			d, ok := res.(*fsm.Deployment)
			if !ok {
				t.Fatalf("%s = %T; want a *fsm.Deployment", where, res)
			}
			num, perr := strconv.Atoi(strings.TrimPrefix(d.ID, c.Environment+"-"))
			if !strings.HasPrefix(d.ID, c.Environment+"-") || perr != nil || num <= lastN {
				t.Fatalf("%s = id %s; want %s-<n>, n more than the last %d", where, d.ID, c.Environment, lastN)
			}
			if _, used := g.created[d.ID]; used {
				t.Fatalf("%s = id %s, which an earlier deployment had", where, d.ID)
			}
			lastN = num
		case *fsm.CreateRollback:
			if err != nil {
				break
			}
			// A rollback restores a Completed deployment of its own
			// environment, and pins the environment to its commit.
			d, to := res.(*fsm.Deployment), rollbackTo
			if to == nil || to.State != fsm.StateCompleted || to.Environment != c.Environment ||
				d.Commit != to.Commit || d.Kind != fsm.KindRollback || d.RollbackTo != to.ID {
				t.Fatalf("%s = %+v; want a rollback to a Completed deployment of %s, got to %+v", where, d, c.Environment, to)
			}
			if e, _ := h.fsm.Environment(c.Environment); e.Pin == nil || e.Pin.Commit != to.Commit {
				t.Fatalf("%s: pin = %+v; want pinned to %s", where, e.Pin, to.Commit)
			}
		case *fsm.ObserveCommit:
			if err != nil {
				break
			}
			if e, ok := h.fsm.Environment(c.Environment); !ok || e.LatestSeenCommit != c.Commit ||
				!e.LatestSeenAt.Equal(c.Time) {
				t.Fatalf("%s: Environment(%s) = %+v; want latest seen %s at %v", where, c.Environment, e, c.Commit, c.Time)
			}
		}
		g.applied(c, res, err)
		tl.count(c, res, err)
		if err != nil {
			if s := wrappedSentinels(err); len(s) != 1 {
				t.Fatalf("%s = %v; want an error wrapping exactly one condition, it wraps %v", where, err, s)
			}
		} else if r, e := fsmtest.Unpack(accepted.Apply(l)); e != nil || resultString(r, e) != resultString(res, err) {
			t.Fatalf("%s = %v; the FSM fed only accepted entries returned %v, %v", where, res, r, e)
		}
		if step%compareEvery == compareEvery-1 || step == n-1 {
			if got, want := h.stateBytes(), stateBytesOf(t, accepted); !bytes.Equal(got, want) {
				t.Fatalf("sequence %d steps %d-%d: a refused command changed the state:\nwith refusals    %s\nwithout refusals %s",
					seq, step-step%compareEvery, step, got, want)
			}
		}
		if token, ok := res.(uint64); ok {
			if token <= lastToken {
				t.Fatalf("%s = token %d; want more than the last token %d", where, token, lastToken)
			}
		}
		if got := h.fsm.LastFencingToken(); got < lastToken {
			t.Fatalf("%s: LastFencingToken() = %d; it was %d", where, got, lastToken)
		}
		lastToken = h.fsm.LastFencingToken()
		if bad := checkInvariants(h.fsm, g); len(bad) > 0 {
			t.Fatalf("%s = %v, %v; broken invariants:\n%s", where, res, err, strings.Join(bad, "\n"))
		}
	}
	return logs
}

// TestProperties applies random command sequences and checks the
// invariants of the state after every command.
func TestProperties(t *testing.T) {
	seed := propertySeed(t)
	tl := &tally{n: map[string]int{}}
	t.Run("sequences", func(t *testing.T) {
		runParallel(t, func(t *testing.T, seq int) {
			runSequence(t, seed, seq, propertyCommands, true, tl)
		})
	})
	t.Logf("outcomes: %v", tl.n)
	// The generator must reach what the invariants are about, or the test
	// proves little.
	var want []string
	for _, s := range fsm.AllStates {
		want = append(want, "reached "+s.String())
	}
	for _, c := range everyCommand() {
		want = append(want, fmt.Sprintf("accepted %T", c))
	}
	for _, e := range sentinels {
		// No command can make the FSM hand out an id twice; only a corrupt
		// state can (TestCreateRefusesAnIDTheStateHolds).
		if e != fsm.ErrDuplicate {
			want = append(want, "refused "+e.Error())
		}
	}
	want = append(want, "approval duplicate", "left AwaitingApproval approved", "refused unapproved",
		"refused without requirement", "refused rollback, moved on", "rolled back, kept backup", "refused suspended")
	missing := func() []string {
		return slices.DeleteFunc(slices.Clone(want), func(k string) bool { return tl.n[k] > 0 })
	}
	// A rare outcome (a rollback refused because the environment moved
	// on, say) may be missing from one seed's sequences: run more, with
	// the same invariants checked, before calling the generator short.
	extra := 0
	for ; len(missing()) > 0 && extra < 10*propertySequences; extra++ {
		runSequence(t, seed, propertySequences+extra, propertyCommands, true, tl)
	}
	if extra > 0 {
		t.Logf("ran %d more sequences to cover every outcome", extra)
	}
	for _, k := range missing() {
		t.Errorf("no generated command was %s; want the generator to cover it", k)
	}
}

// tally counts the outcomes of generated commands across sequences.
type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func (tl *tally) count(c fsm.Command, res any, err error) {
	if tl == nil {
		return
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if err != nil {
		for _, e := range wrappedSentinels(err) {
			tl.n["refused "+e.Error()]++
		}
		var te *fsm.TransitionError
		if errors.As(err, &te) {
			switch {
			case strings.Contains(te.Reason, "required approvals"):
				tl.n["refused unapproved"]++
			case strings.Contains(te.Reason, "no approval requirement"):
				tl.n["refused without requirement"]++
			case strings.Contains(te.Reason, "has moved on"):
				tl.n["refused rollback, moved on"]++
			case strings.Contains(te.Reason, "is suspended"):
				tl.n["refused suspended"]++
			}
		}
		return
	}
	tl.n[fmt.Sprintf("accepted %T", c)]++
	switch r := res.(type) {
	case *fsm.Deployment:
		tl.n["reached "+r.State.String()]++
		last := r.Transitions[len(r.Transitions)-1]
		if leavesApproval(last.From, last.To) {
			tl.n["left AwaitingApproval approved"]++
		}
		if r.State == fsm.StateRolledBack && r.Backup != nil && r.Backup.DeploymentID != "" {
			tl.n["rolled back, kept backup"]++
		}
	case *fsm.ApproveResult:
		if r.Duplicate {
			tl.n["approval duplicate"]++
		}
	case *fsm.CancelResult:
		tl.n["reached "+r.Deployment.State.String()]++
	}
}

// propertyShards is how many parallel subtests share the sequences.
const propertyShards = 4

// runParallel runs propertySequences sequences in propertyShards parallel
// subtests; sequence numbers, and so the commands, do not depend on the
// sharding.
func runParallel(t *testing.T, run func(t *testing.T, seq int)) {
	t.Helper()
	for shard := range propertyShards {
		t.Run(fmt.Sprintf("shard-%d", shard), func(t *testing.T) {
			t.Parallel()
			for seq := shard; seq < propertySequences; seq += propertyShards {
				run(t, seq)
			}
		})
	}
}

// TestSameLogSameState feeds the log of random sequences to fresh FSMs: they
// must return the same results and end with byte-identical Dump and
// snapshots; an FSM restored from a snapshot half way and fed the rest must
// end the same too.
func TestSameLogSameState(t *testing.T) {
	seed := propertySeed(t)
	for seq := range 20 {
		logs := runSequence(t, seed, seq, 300, false, nil)
		// An entry a newer binary wrote and marked as safe to skip.
		mid := len(logs) / 2
		skip := &raft.Log{Type: raft.LogCommand, Data: []byte{byte(fsm.IgnoreUnknownFlag) | 0x70, '{', '}'}}
		logs = slices.Insert(logs, mid, skip)
		for i, l := range logs {
			l.Index = uint64(i + 1)
		}

		a, b := fsm.New(nil), fsm.New(nil)
		var half []byte
		for i, l := range logs {
			ra, ea := fsmtest.Unpack(a.Apply(l))
			rb, eb := fsmtest.Unpack(b.Apply(l))
			if resultString(ra, ea) != resultString(rb, eb) {
				t.Fatalf("sequence %d entry %d: Apply = %v, %v on one FSM and %v, %v on the other", seq, l.Index, ra, ea, rb, eb)
			}
			if i == mid {
				half = persist(t, a)
			}
		}
		if da, db := dumpOf(t, a), dumpOf(t, b); !bytes.Equal(da, db) {
			t.Fatalf("sequence %d: Dump() differs:\n%s\n%s", seq, da, db)
		}
		if sa, sb := persist(t, a), persist(t, b); !bytes.Equal(sa, sb) {
			t.Fatalf("sequence %d: snapshots differ:\n%s\n%s", seq, sa, sb)
		}

		c := fsm.New(nil)
		if err := c.Restore(readCloserOf(half)); err != nil {
			t.Fatalf("sequence %d: Restore(half way) = %v", seq, err)
		}
		for _, l := range logs[mid+1:] {
			c.Apply(l)
		}
		if da, dc := dumpOf(t, a), dumpOf(t, c); !bytes.Equal(da, dc) {
			t.Fatalf("sequence %d: Dump() of the FSM restored half way differs:\n%s\n%s", seq, dc, da)
		}
	}
}

// resultString renders an Apply result for comparison across FSMs.
func resultString(res any, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	b, jerr := json.Marshal(res)
	if jerr != nil {
		return fmt.Sprintf("unencodable %T: %v", res, jerr)
	}
	return fmt.Sprintf("%T %s", res, b)
}

func readCloserOf(b []byte) *readCloser { return &readCloser{Reader: bytes.NewReader(b)} }

// TestInvariantCheckerCatchesBreakage makes sure the checker can fail: it is
// fed states that break an invariant, built through Restore.
func TestInvariantCheckerCatchesBreakage(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(s string) string
		wants string
	}{
		{"state without its transition", func(s string) string {
			return strings.Replace(s, `"state":"Rejected"`, `"state":"Applying"`, 1)
		}, "last transition"},
		{"current names nothing", func(s string) string {
			return strings.Replace(s, `"history":`, `"current":"x","history":`, 1)
		}, "current"},
		{"waiting names a finished deployment", func(s string) string {
			return strings.Replace(s, `"history":`, `"waiting":"alpha-1","history":`, 1)
		}, "waiting slot"},
		{"history out of order", func(s string) string {
			return strings.Replace(s, `"history":["alpha-1","alpha-2"]`, `"history":["alpha-2","alpha-1"]`, 1)
		}, "creation order"},
		{"approved by too few", func(s string) string {
			return strings.ReplaceAll(s, `"required":1`, `"required":2`)
		}, "approvals"},
		{"deployed names a dropped deployment", func(s string) string {
			return strings.Replace(s, `"deployedDeployment":"alpha-2"`, `"deployedDeployment":"alpha-0"`, 1)
		}, "dropped"},
		{"notification delivered without a delivery", func(s string) string {
			return strings.Replace(s, `"state":"pending"`, `"state":"delivered"`, 1)
		}, "is delivered"},
		{"notification of no move", func(s string) string {
			return regexp.MustCompile(`("event":"Rejected","state":"pending","createdAt":"[^"]+","index":)\d+`).
				ReplaceAllString(s, "${1}999")
		}, "raises Rejected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			g := newGen(1, 0)
			h.mustApply(&fsm.SetNotificationRoutes{Routes: propRoutes[:1]})
			h.createAt("a1", "alpha", fsm.StateRejected)
			h.create("a2", "alpha")
			h.drive("a2", approvedPath...) // Completed, approved by one
			for _, name := range []string{"a1", "a2"} {
				g.applied(&fsm.CreateDeployment{}, h.deployment(name), nil)
			}
			if got := h.environment("alpha").History; !slices.Equal(got, []string{"alpha-1", "alpha-2"}) {
				t.Fatalf("Environment(alpha).History = %v; the edits want [alpha-1 alpha-2]", got)
			}
			if bad := checkInvariants(h.fsm, g); len(bad) > 0 {
				t.Fatalf("checkInvariants of a good state = %v; want none", bad)
			}
			edited := tt.edit(string(h.dump()))
			if edited == string(h.dump()) {
				t.Fatalf("the edit changed nothing in %s", h.dump())
			}
			f := fsm.New(nil)
			if err := f.Restore(readCloserOf([]byte(edited))); err != nil {
				t.Fatalf("Restore(edited) = %v", err)
			}
			bad := checkInvariants(f, g)
			if !strings.Contains(strings.Join(bad, "\n"), tt.wants) {
				t.Errorf("checkInvariants(%s) = %v; want a complaint about %q", tt.name, bad, tt.wants)
			}
		})
	}
}

// checkNotificationInvariants returns the broken invariants of f's outbox:
// each notification has the id derived from its deployment, event and
// channel, and only one; its deployment is held, in its environment, and
// made a move that raises its event; its state says what it holds.
func checkNotificationInvariants(f *fsm.FSM) []string {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	all := f.Notifications(fsm.NotificationFilter{})
	ids := map[string]bool{}
	for _, n := range all {
		if ids[n.ID] {
			fail("notification %s is listed twice", n.ID)
		}
		ids[n.ID] = true
		if want := fsm.NotificationID(n.DeploymentID, n.Event, n.Channel); n.ID != want {
			fail("notification %s: id is not %s", n.ID, want)
		}
		if got, ok := f.Notification(n.ID); !ok || got != n {
			fail("Notification(%s) = %+v, %v; Notifications listed %+v", n.ID, got, ok, n)
		}
		d, ok := f.Deployment(n.DeploymentID)
		if !ok {
			fail("notification %s: deployment %s is not held", n.ID, n.DeploymentID)
			continue
		}
		if d.Environment != n.Environment || d.DryRun {
			fail("notification %s of %s: deployment is of %s (dry run %v)", n.ID, n.Environment, d.Environment, d.DryRun)
		}
		raised := false
		for _, t := range d.Transitions {
			if t.Index == n.Index && slices.Contains(fsm.NotificationEventsOf(t.From, t.To), n.Event) {
				raised = true
			}
			// A drift is raised by SetDrift, of a deployment once it
			// was deployed.
			if n.Event == fsm.EventDriftDetected && (t.To == fsm.StateCompleted || t.To == fsm.StateRolledBack) && t.Index < n.Index {
				raised = true
			}
		}
		if !raised {
			fail("notification %s: no move of %s at index %d raises %s", n.ID, d.ID, n.Index, n.Event)
		}
		switch n.State {
		case fsm.NotificationDelivered:
			if n.DeliveredAt.IsZero() || n.Attempts < 1 {
				fail("notification %s is delivered, at %v after %d attempts", n.ID, n.DeliveredAt, n.Attempts)
			}
		case fsm.NotificationFailed:
			if n.LastError == "" || !n.DeliveredAt.IsZero() {
				fail("notification %s failed with error %q, delivered at %v", n.ID, n.LastError, n.DeliveredAt)
			}
		case fsm.NotificationPending:
			if n.NextTry.IsZero() || !n.DeliveredAt.IsZero() {
				fail("notification %s is pending, next try %v, delivered at %v", n.ID, n.NextTry, n.DeliveredAt)
			}
		default:
			fail("notification %s is in state %q", n.ID, n.State)
		}
		if mine := f.Notifications(fsm.NotificationFilter{DeploymentID: n.DeploymentID}); !slices.Contains(mine, n) {
			fail("notification %s is not among its deployment's", n.ID)
		}
	}
	for _, n := range f.DueNotifications(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 0) {
		if n.State != fsm.NotificationPending || !ids[n.ID] {
			fail("DueNotifications lists %s, %s", n.ID, n.State)
		}
	}
	return bad
}
