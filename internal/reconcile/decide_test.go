package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/plan"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// The decision tests run the reconciler's steps on a memPipeline: a real
// FSM and real policies, no raft, no git. Each case takes milliseconds.

// blackoutPolicy holds staging in a blackout over memStart.
const blackoutPolicy = `apiVersion: honua.io/v1
kind: DeploymentPolicy
environments:
  staging:
    requireApproval: never
    blackoutPeriods:
      - {name: freeze, start: 2026-11-25T00:00:00Z, end: 2026-11-26T00:00:00Z}
`

// windowPolicy opens staging on weekdays 09:00–17:00 in New York: open at
// memStart (10:00 there), closed at 23:00 UTC (18:00 there) until 14:00
// UTC the next day.
const windowPolicy = `apiVersion: honua.io/v1
kind: DeploymentPolicy
environments:
  staging:
    requireApproval: never
    deploymentWindows:
      - {days: [Mon, Tue, Wed, Thu, Fri], start: "09:00", end: "17:00", timezone: America/New_York}
`

// loosePolicy lets production deploy without approval.
var loosePolicy = sampleconfig.NeverApprove("production")

// files is a commit holding env's sample files and, unless empty, policy.
func files(env, policy string) map[string]string {
	fs := sampleconfig.Env(env, sampleconfig.Points)
	if policy != "" {
		fs[sampleconfig.PolicyPath] = policy
	}
	return fs
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name     string
		env      string
		policy   string // at the deployment's commit; "" is none
		risk     plan.Risk
		breaking bool
		want     fsm.DeploymentState
		// When want is AwaitingApproval: the requirement.
		required int
		groups   []string
		expires  time.Duration
		msg      string // in the deployment's last message
	}{
		{name: "staging never needs approval", env: "staging", policy: sampleconfig.Policy, risk: plan.RiskCritical,
			want: fsm.StateBackingUp, msg: "cleared to deploy"},
		{name: "production below its minimum risk", env: "production", policy: sampleconfig.Policy, risk: plan.RiskLow,
			want: fsm.StateBackingUp},
		{name: "production at its minimum risk", env: "production", policy: sampleconfig.Policy, risk: plan.RiskMedium,
			want: fsm.StateAwaitingApproval, required: 2, groups: []string{"devops-team"}, expires: time.Hour,
			msg: "risk medium is at or above the minimum medium"},
		{name: "production breaking at low risk", env: "production", policy: sampleconfig.Policy, risk: plan.RiskLow, breaking: true,
			want: fsm.StateAwaitingApproval, required: 2, groups: []string{"devops-team"}, expires: time.Hour,
			msg: "the change is breaking"},
		{name: "defaults: production always", env: "production", risk: plan.RiskNone,
			want: fsm.StateAwaitingApproval, required: 1, expires: 24 * time.Hour, msg: "has no policy file"},
		{name: "defaults: staging at high risk", env: "staging", risk: plan.RiskHigh,
			want: fsm.StateAwaitingApproval, required: 1, expires: 24 * time.Hour, msg: "risk high is at or above the minimum high"},
		{name: "defaults: staging below high risk", env: "staging", risk: plan.RiskMedium, want: fsm.StateBackingUp},
		{name: "cleared into a blackout", env: "staging", policy: blackoutPolicy, risk: plan.RiskLow,
			want: fsm.StateScheduled, msg: `cleared, but blackout "freeze" until 2026-11-26T00:00:00Z; proceeds at 2026-11-26T00:00:00Z`},
		{name: "cleared inside its window", env: "staging", policy: windowPolicy, risk: plan.RiskLow, want: fsm.StateBackingUp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newMemPipeline(t)
			c := p.src.add("c1", files(tt.env, tt.policy))
			d := p.planned(tt.env, c, plan.Document{Plan: &plan.Plan{Risk: tt.risk, Breaking: tt.breaking, Changes: []plan.Change{}}})
			if _, err := p.r.decide(context.Background(), d); err != nil {
				t.Fatalf("decide = %v; want no error", err)
			}
			got := p.deployment(d.ID)
			if got.State != tt.want {
				t.Fatalf("decide moved %s to %s (%q); want %s", tt.name, got.State, lastMessage(got), tt.want)
			}
			if !strings.Contains(lastMessage(got), tt.msg) {
				t.Errorf("message %q; want it to contain %q", lastMessage(got), tt.msg)
			}
			if tt.want != fsm.StateAwaitingApproval {
				return
			}
			a := got.Approval
			if a == nil || a.Required != tt.required || strings.Join(a.Groups, ",") != strings.Join(tt.groups, ",") ||
				!a.Expires.Equal(p.now.Add(tt.expires)) {
				t.Errorf("approval = %+v; want %d from %v, expiring at %v", a, tt.required, tt.groups, p.now.Add(tt.expires))
			}
		})
	}
}

// TestDecideUnreadablePlan: a plan that does not decode fails the
// deployment rather than deciding on nothing.
func TestDecideUnreadablePlan(t *testing.T) {
	p := newMemPipeline(t)
	c := p.src.add("c1", files("staging", sampleconfig.Policy))
	d := p.create("staging", c)
	p.move(d.ID, fsm.StateValidating)
	d = p.apply(&fsm.TransitionDeployment{ID: d.ID, To: fsm.StatePlanning, Time: p.now, Plan: []byte(`{"commit":"c1"}`)}).(*fsm.Deployment)
	if _, err := p.r.decide(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if got := p.deployment(d.ID); got.State != fsm.StateFailed || !strings.Contains(got.Error, "decode plan") {
		t.Errorf("deployment with an unreadable plan is %s (error %q); want Failed, decode plan", got.State, got.Error)
	}
}

func TestGate(t *testing.T) {
	closedAt := time.Date(2026, 11, 25, 23, 0, 0, 0, time.UTC)
	opens := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		policy    string
		at        time.Time
		scheduled bool // the deployment waits in Scheduled already
		busy      bool // another deployment of the environment is active
		want      fsm.DeploymentState
		wantAt    time.Time // when the step wants looking at again
	}{
		{name: "open window hands off", policy: windowPolicy, at: memStart, want: fsm.StateBackingUp},
		{name: "closed window schedules", policy: windowPolicy, at: closedAt, want: fsm.StateScheduled, wantAt: opens},
		{name: "still closed waits", policy: windowPolicy, at: closedAt, scheduled: true, want: fsm.StateScheduled, wantAt: opens},
		{name: "window opened releases", policy: windowPolicy, at: opens, scheduled: true, want: fsm.StateBackingUp},
		{name: "blackout schedules", policy: blackoutPolicy, at: memStart, want: fsm.StateScheduled,
			wantAt: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)},
		{name: "no windows, no blackouts", policy: sampleconfig.Policy, at: closedAt, want: fsm.StateBackingUp},
		{name: "another deployment active", policy: sampleconfig.Policy, at: memStart, busy: true,
			want: fsm.StatePlanning, wantAt: memStart.Add(retryAfter)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newMemPipeline(t)
			c := p.src.add("c1", files("staging", tt.policy))
			if tt.busy {
				p.move(p.create("staging", "c0").ID, fsm.StateValidating, fsm.StatePlanning, fsm.StateBackingUp)
			}
			d := p.planned("staging", c, plan.Document{Plan: &plan.Plan{Risk: plan.RiskLow, Changes: []plan.Change{}}})
			if tt.scheduled {
				d = p.move(d.ID, fsm.StateScheduled)
			}
			p.now = tt.at
			out, err := p.r.gate(context.Background(), d)
			if err != nil {
				t.Fatalf("gate = %v; want no error", err)
			}
			if got := p.deployment(d.ID); got.State != tt.want {
				t.Errorf("gate left the deployment %s (%q); want %s", got.State, lastMessage(got), tt.want)
			}
			if !out.at.Equal(tt.wantAt) {
				t.Errorf("gate wants looking at again at %v; want %v", out.at, tt.wantAt)
			}
		})
	}
}

// TestPolicyLoosening: a commit that changes the policy applying to its
// environment needs approval under the policy in force; the policy in
// force is the deployed commit's, or, while nothing is deployed, the one
// that gated the first deployment.
func TestPolicyLoosening(t *testing.T) {
	stagingOnly := strings.Replace(sampleconfig.Policy, "  staging:\n    requireApproval: never\n",
		"  staging:\n    requireApproval: always\n", 1)
	tests := []struct {
		name string
		// deployed is the policy at the deployed commit; "" deploys
		// nothing. firstGate, when set, is the policy of a first
		// deployment that reached the gate and was rejected.
		deployed, firstGate string
		policy              string // at the new commit
		want                fsm.DeploymentState
		msg                 string
	}{
		{name: "loosens production", deployed: sampleconfig.Policy, policy: loosePolicy,
			want: fsm.StateAwaitingApproval, msg: "the policy file itself changed"},
		{name: "changes another environment only", deployed: sampleconfig.Policy, policy: stagingOnly,
			want: fsm.StateBackingUp},
		{name: "same policy", deployed: sampleconfig.Policy, policy: sampleconfig.Policy, want: fsm.StateBackingUp},
		{name: "first deployment gates on its own policy", policy: loosePolicy, want: fsm.StateBackingUp},
		{name: "a rejected first deployment's gate holds", firstGate: sampleconfig.Policy, policy: loosePolicy,
			want: fsm.StateAwaitingApproval, msg: "which gated the environment's first deployment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newMemPipeline(t)
			var base string
			if tt.deployed != "" {
				base = p.src.add("c0", files("production", tt.deployed))
				p.deployed("production", base)
			}
			if tt.firstGate != "" {
				first := p.src.add("c0", files("production", tt.firstGate))
				d := p.planned("production", first, plan.Document{Plan: &plan.Plan{Risk: plan.RiskMedium, Changes: []plan.Change{}}})
				if _, err := p.r.decide(context.Background(), d); err != nil {
					t.Fatal(err)
				}
				p.apply(&fsm.Reject{ID: d.ID, Identity: "alice", Groups: []string{"devops-team"}, Time: p.now, Reason: "no"})
				if e := p.environment("production"); e.FirstGate != first {
					t.Fatalf("first gate = %q; want %s", e.FirstGate, first)
				}
			}
			c := p.src.add("c1", files("production", tt.policy))
			rec := plan.Document{BaseCommit: base, Plan: &plan.Plan{Risk: plan.RiskLow, PolicyChanged: tt.policy != tt.deployed,
				Changes: []plan.Change{}}}
			d := p.planned("production", c, rec)
			if _, err := p.r.decide(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			got := p.deployment(d.ID)
			if got.State != tt.want || !strings.Contains(lastMessage(got), tt.msg) {
				t.Errorf("decide moved it to %s (%q); want %s, saying %q", got.State, lastMessage(got), tt.want, tt.msg)
			}
		})
	}
}

func TestEnvChanged(t *testing.T) {
	tests := []struct {
		name     string
		deployed string // commit deployed: "a" or ""
		pinFrom  string // the commit a rollback pinned the environment away from
		drop     string // commit removed from the repository
		head     string
		want     bool
		why      string
	}{
		{name: "nothing deployed", head: "b", want: true, why: "first deployment of the environment"},
		{name: "head is deployed", deployed: "a", head: "a", want: false, why: "same commit as the deployed commit"},
		{name: "other environment changed", deployed: "a", head: "other", want: false,
			why: "no change to the environment since the deployed commit a"},
		{name: "environment changed", deployed: "a", head: "b", want: true, why: "changed since the deployed commit a"},
		{name: "deployed commit gone", deployed: "a", drop: "a", head: "b", want: true,
			why: "the deployed commit a is no longer in the repository"},
		{name: "pinned: head is the commit rolled back from", deployed: "a", pinFrom: "b", head: "b", want: false,
			why: "same commit as the commit it was rolled back from"},
		{name: "pinned: head only touches another environment", deployed: "a", pinFrom: "b", head: "b-other", want: false,
			why: "no change to the environment since the commit it was rolled back from b"},
		{name: "pinned: head changes the environment", deployed: "a", pinFrom: "b", head: "c", want: true,
			why: "changed since the commit it was rolled back from b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newMemPipeline(t)
			p.src.add("a", sampleconfig.Env("staging", sampleconfig.Points))
			p.src.add("other", sampleconfig.Merge(sampleconfig.Env("staging", sampleconfig.Points),
				sampleconfig.Env("development", sampleconfig.Points)))
			p.src.add("b", sampleconfig.Env("staging", sampleconfig.Points, sampleconfig.Roads))
			p.src.add("b-other", sampleconfig.Merge(sampleconfig.Env("staging", sampleconfig.Points, sampleconfig.Roads),
				sampleconfig.Env("development", sampleconfig.Points)))
			p.src.add("c", sampleconfig.Env("staging", sampleconfig.Roads))
			e := &fsm.Environment{Name: "staging", DeployedCommit: tt.deployed}
			if tt.pinFrom != "" {
				e.Pin = &fsm.Pin{Commit: tt.deployed, From: tt.pinFrom}
			}
			if tt.drop != "" {
				p.src.drop(tt.drop)
			}
			changed, why, err := p.r.envChanged(e, tt.head)
			if err != nil || changed != tt.want || why != tt.why {
				t.Errorf("envChanged(%s) = %v, %q, %v; want %v, %q", tt.head, changed, why, err, tt.want, tt.why)
			}
		})
	}
}

// TestPinning: an environment a rollback pinned stays on the rolled-back
// commit until a commit changes it; then the pin goes and the commit
// deploys. A sync deploys the head without unpinning.
func TestPinning(t *testing.T) {
	tests := []struct {
		name       string
		head       string
		sync       bool
		wantCreate bool
		wantPinned bool
		msg        string
	}{
		{name: "the commit rolled back from", head: "b", wantPinned: true},
		{name: "a commit touching another environment", head: "b-other", wantPinned: true},
		{name: "a commit changing the environment", head: "c", wantCreate: true, msg: "unpinned from a"},
		{name: "a sync", head: "b", sync: true, wantCreate: true, wantPinned: true, msg: "sync requested by alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newMemPipeline(t)
			a := p.src.add("a", sampleconfig.Env("staging", sampleconfig.Points))
			p.src.add("b", sampleconfig.Env("staging", sampleconfig.Points, sampleconfig.Roads))
			p.src.add("b-other", sampleconfig.Merge(sampleconfig.Env("staging", sampleconfig.Points, sampleconfig.Roads),
				sampleconfig.Env("development", sampleconfig.Points)))
			p.src.add("c", sampleconfig.Env("staging", sampleconfig.Roads))
			p.deployed("staging", a)
			p.apply(&fsm.ObserveCommit{Environment: "staging", Commit: "b", Time: p.now})
			p.apply(&fsm.SetPin{Environment: "staging", Pin: &fsm.Pin{Commit: a, From: "b", By: "bob"}})
			if tt.sync {
				p.apply(&fsm.RequestSync{Environment: "staging", By: "alice", Time: p.now})
			}
			before := len(p.a.FSM.History("staging"))
			if _, err := p.r.observeEnv(context.Background(), "staging", tt.head, "test"); err != nil {
				t.Fatalf("observeEnv = %v", err)
			}
			h := p.a.FSM.History("staging")
			if created := len(h) > before; created != tt.wantCreate {
				t.Fatalf("observing %s created a deployment: %v; want %v", tt.head, created, tt.wantCreate)
			}
			if pinned := p.environment("staging").Pin != nil; pinned != tt.wantPinned {
				t.Errorf("observing %s left the environment pinned: %v; want %v", tt.head, pinned, tt.wantPinned)
			}
			if tt.wantCreate && (h[0].Commit != tt.head || !strings.Contains(lastMessage(h[0]), tt.msg)) {
				t.Errorf("created a deployment of %s (%q); want one of %s saying %q", h[0].Commit, lastMessage(h[0]), tt.head, tt.msg)
			}
		})
	}
}

// TestStepsStopWhenLeadershipIsGone: an in-memory cluster that lost its
// leadership refuses the step's command, and the step says so with the
// error every caller recognises.
func TestStepsStopWhenLeadershipIsGone(t *testing.T) {
	p := newMemPipeline(t)
	c := p.src.add("c1", files("staging", sampleconfig.Policy))
	d := p.planned("staging", c, plan.Document{Plan: &plan.Plan{Risk: plan.RiskLow, Changes: []plan.Change{}}})
	lost := errors.New("lost")
	p.a.SetLeaderError(lost)
	if _, err := p.r.decide(context.Background(), d); !errors.Is(err, lost) {
		t.Fatalf("decide without leadership = %v; want the cluster's error", err)
	}
	if got := p.deployment(d.ID); got.State != fsm.StatePlanning {
		t.Errorf("deployment moved to %s without leadership", got.State)
	}
}
