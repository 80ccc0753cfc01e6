// Package policy owns the deployment policy file .gitops/deployment-policy.yaml
// (docs/domain.md#policy): parsing it, its defaults, and the decisions it makes —
// whether a plan needs approval, how many approvals from whom, and whether
// a deployment window is open at a given time.
//
// Decisions never read the clock: the time is always a parameter, so every
// node of a cluster that is handed the same policy and the same time makes
// the same decision.
package policy

import (
	"fmt"
	"slices"
	"sort"
	"time"

	// Windows name IANA time zones; embed the database so they resolve on
	// a machine without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/honua-io/honua-gitops/internal/plan"
)

// Path is where the policy lives in the configuration repository.
const Path = ".gitops/deployment-policy.yaml"

// The apiVersion and kind a policy file must have.
const (
	// APIVersion is the only apiVersion a policy file may have.
	APIVersion = "honua.io/v1"
	// Kind is the only kind a policy file may have.
	Kind = "DeploymentPolicy"
)

// The defaults of docs/domain.md#policy, used for every field a file leaves unset.
const (
	// ProductionEnvironment is the environment whose default is to require
	// approval for every deployment.
	ProductionEnvironment = "production"
	// DefaultRequiredApprovals is how many approvals a deployment that
	// needs approval waits for.
	DefaultRequiredApprovals = 1
	// DefaultApprovalTimeout is how long it waits for them.
	DefaultApprovalTimeout = 24 * time.Hour
	// DefaultHealthCheckTimeout bounds the health checks after an apply.
	DefaultHealthCheckTimeout = 2 * time.Minute
	// DefaultMinimumRisk is the lowest risk that needs approval outside
	// production.
	DefaultMinimumRisk = plan.RiskHigh
)

// Mode says when a deployment needs approval. The zero value is OnRisk,
// the mode the file defaults to outside production.
type Mode int

// The modes of requireApproval.
const (
	// OnRisk requires approval when the plan's risk is at or above the
	// environment's MinimumRiskForApproval.
	OnRisk Mode = iota
	// Always requires approval for every deployment.
	Always
	// Never requires no approval on account of risk. A breaking change with
	// BreakingChangesRequireApproval, or a change to the policy file itself,
	// still needs one.
	Never
)

var modeNames = [...]string{OnRisk: "onRisk", Always: "always", Never: "never"}

// String returns the mode as the file spells it: always, never or onRisk.
func (m Mode) String() string {
	if m < 0 || int(m) >= len(modeNames) {
		return fmt.Sprintf("Mode(%d)", int(m))
	}
	return modeNames[m]
}

// ParseMode parses a requireApproval value: always, never or onRisk.
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if n == s {
			return Mode(i), nil
		}
	}
	return 0, fmt.Errorf("%q is not one of always, never, onRisk", s)
}

// MarshalText implements encoding.TextMarshaler: modes are their names in
// JSON and YAML.
func (m Mode) MarshalText() ([]byte, error) {
	if m < 0 || int(m) >= len(modeNames) {
		return nil, fmt.Errorf("invalid mode %d", int(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Policy is a parsed policy file, or the defaults when there is none. The
// zero value and a nil *Policy are the defaults. A Policy is not changed
// after Parse or Default returns it, so it is safe for concurrent use.
type Policy struct {
	// environments holds each listed environment with its defaults
	// already filled in.
	environments map[string]Environment
}

// Default returns the policy in force when the file is absent: every
// environment gets its defaults (see For).
func Default() *Policy { return &Policy{} }

// Environments returns the names of the environments the file lists, sorted.
func (p *Policy) Environments() []string {
	if p == nil {
		return nil
	}
	names := make([]string, 0, len(p.environments))
	for n := range p.environments {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// For returns the effective policy of env: the file's entry with every
// field it leaves unset taken from env's defaults, or just the defaults
// when the file does not list env.
//
// The defaults (docs/domain.md#policy): production requires approval always; every
// other environment requires it on risk high or above. Everywhere:
// requiredApprovals 1, any approver, approvalTimeout 24h, autoRollback
// true, rollbackRequiresApproval false, breakingChangesRequireApproval
// false, healthCheckTimeout 2m, no windows and no blackouts.
//
// Defaults apply field by field, so a production entry that sets only
// requiredApprovals still requires approval always: leaving a field out
// never loosens production's gate.
//
// The result shares nothing with p; the caller may change it.
func (p *Policy) For(env string) Environment {
	e, ok := Environment{}, false
	if p != nil {
		e, ok = p.environments[env]
	}
	if !ok {
		return defaults(env)
	}
	e.Approvers = slices.Clone(e.Approvers)
	e.DeploymentWindows = slices.Clone(e.DeploymentWindows)
	for i := range e.DeploymentWindows {
		e.DeploymentWindows[i].Days = slices.Clone(e.DeploymentWindows[i].Days)
	}
	e.BlackoutPeriods = slices.Clone(e.BlackoutPeriods)
	e.Rollout = e.Rollout.clone()
	return e
}

// defaults returns the policy of an environment the file does not mention.
func defaults(env string) Environment {
	e := Environment{
		Name:                   env,
		RequireApproval:        OnRisk,
		MinimumRiskForApproval: DefaultMinimumRisk,
		RequiredApprovals:      DefaultRequiredApprovals,
		ApprovalTimeout:        DefaultApprovalTimeout,
		AutoRollback:           true,
		HealthCheckTimeout:     DefaultHealthCheckTimeout,
	}
	if env == ProductionEnvironment {
		e.RequireApproval = Always
	}
	return e
}

// Environment is the effective policy of one environment.
type Environment struct {
	// Name is the environment's name; reasons mention it.
	Name string
	// RequireApproval says when a deployment waits for approval.
	RequireApproval Mode
	// MinimumRiskForApproval is the lowest plan risk that needs approval
	// when RequireApproval is OnRisk.
	MinimumRiskForApproval plan.Risk
	// BreakingChangesRequireApproval makes a plan with a breaking change
	// need approval whatever its risk and whatever RequireApproval says.
	BreakingChangesRequireApproval bool
	// RequiredApprovals is how many distinct identities must approve.
	RequiredApprovals int
	// Approvers lists the groups (from the API tokens) whose members may
	// approve; empty means anyone with the approver role.
	Approvers []string
	// ApprovalTimeout is how long a deployment waits for approval.
	ApprovalTimeout time.Duration
	// AutoRollback restores the previous bundle when a deployment fails.
	AutoRollback bool
	// RollbackRequiresApproval makes rollbacks wait for approval too.
	RollbackRequiresApproval bool
	// HealthCheckTimeout bounds the post-apply health checks.
	HealthCheckTimeout time.Duration
	// DeploymentWindows, when not empty, lists the only times a deployment
	// may start (see Gate).
	DeploymentWindows []Window
	// BlackoutPeriods lists times no deployment may start, windows or not.
	BlackoutPeriods []Blackout
	// SelfHeal makes the leader redeploy the deployed commit, as a
	// deployment of kind self-heal, when it records drift of the
	// environment's targets (docs/domain.md#drift). Off by default.
	SelfHeal bool
	// Rollout, when not nil, delivers a deployment to the environment's
	// targets wave by wave, judged by metrics (docs/domain.md#rollouts).
	// Nil applies to every target at once, as without a rollout.
	Rollout *Rollout
}

// Window is a recurring deployment window: it opens on each of Days at
// Start and closes at End, both wall-clock times in Location. When End is
// before Start the window crosses midnight and closes at End the next day.
// See Gate for how daylight saving time changes are handled.
type Window struct {
	// Days are the days the window opens on, in Location.
	Days []time.Weekday
	// Start and End are local times of day. Start is inclusive, End
	// exclusive; they are never equal.
	Start, End TimeOfDay
	// Location is the window's time zone; nil means UTC.
	Location *time.Location
}

// TimeOfDay is a wall-clock time as minutes after midnight, 0 (00:00) to
// 1439 (23:59).
type TimeOfDay int

// String returns the time as HH:MM.
func (t TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", int(t)/60, int(t)%60) }

// Blackout is a period no deployment may start in: [Start, End).
type Blackout struct {
	// Name is what the Gate's reason calls it, e.g. "Holiday freeze".
	Name string
	// Start is the first instant of the blackout, End the first instant
	// after it.
	Start, End time.Time
}

// contains reports whether t is in the blackout.
func (b Blackout) contains(t time.Time) bool { return !t.Before(b.Start) && t.Before(b.End) }
