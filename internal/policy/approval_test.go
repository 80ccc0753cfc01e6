package policy

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/plan"
)

var allRisks = []plan.Risk{plan.RiskNone, plan.RiskLow, plan.RiskMedium, plan.RiskHigh, plan.RiskCritical}

func TestDefaults(t *testing.T) {
	tests := []struct {
		name string
		env  string
		want Environment
	}{
		{"production", "production", Environment{
			Name: "production", RequireApproval: Always, MinimumRiskForApproval: plan.RiskHigh,
			RequiredApprovals: 1, ApprovalTimeout: 24 * time.Hour, AutoRollback: true,
			HealthCheckTimeout: 2 * time.Minute,
		}},
		{"staging", "staging", Environment{
			Name: "staging", RequireApproval: OnRisk, MinimumRiskForApproval: plan.RiskHigh,
			RequiredApprovals: 1, ApprovalTimeout: 24 * time.Hour, AutoRollback: true,
			HealthCheckTimeout: 2 * time.Minute,
		}},
		{"development", "development", Environment{
			Name: "development", RequireApproval: OnRisk, MinimumRiskForApproval: plan.RiskHigh,
			RequiredApprovals: 1, ApprovalTimeout: 24 * time.Hour, AutoRollback: true,
			HealthCheckTimeout: 2 * time.Minute,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, p := range []*Policy{Default(), nil, {}, mustParse(t, "apiVersion: honua.io/v1\nkind: DeploymentPolicy\n")} {
				if got := p.For(tt.env); !envEqual(got, tt.want) {
					t.Errorf("For(%q) = %+v; want %+v", tt.env, got, tt.want)
				}
			}
		})
	}
}

func TestDefaultApproval(t *testing.T) {
	tests := []struct {
		env  string
		risk plan.Risk
		want bool
	}{
		{"production", plan.RiskNone, true},
		{"production", plan.RiskLow, true},
		{"staging", plan.RiskNone, false},
		{"staging", plan.RiskMedium, false},
		{"staging", plan.RiskHigh, true},
		{"development", plan.RiskLow, false},
		{"development", plan.RiskCritical, true},
	}
	for _, tt := range tests {
		if got, why := Default().For(tt.env).ApprovalNeeded(tt.risk, false, false); got != tt.want {
			t.Errorf("Default().For(%q).ApprovalNeeded(%v, false, false) = %v (%s); want %v", tt.env, tt.risk, got, why, tt.want)
		}
	}
}

func TestApprovalNeeded(t *testing.T) {
	type in struct {
		risk                    plan.Risk
		breaking, policyChanged bool
	}
	type want struct {
		needed bool
		why    string
	}
	prod := Environment{Name: "production", RequireApproval: Always, MinimumRiskForApproval: plan.RiskHigh}
	never := Environment{Name: "sandbox", RequireApproval: Never, MinimumRiskForApproval: plan.RiskLow}
	neverBreaking := never
	neverBreaking.BreakingChangesRequireApproval = true
	onRisk := Environment{Name: "staging", RequireApproval: OnRisk, MinimumRiskForApproval: plan.RiskMedium}
	onRiskBreaking := onRisk
	onRiskBreaking.BreakingChangesRequireApproval = true

	tests := []struct {
		name string
		env  Environment
		in   in
		want want
	}{
		{"always, empty plan", prod, in{plan.RiskNone, false, false},
			want{true, "production requires approval for every deployment"}},
		{"always, high", prod, in{plan.RiskHigh, false, false},
			want{true, "production requires approval for every deployment"}},
		{"never, critical", never, in{plan.RiskCritical, false, false},
			want{false, "sandbox never requires approval"}},
		{"never, breaking without the flag", never, in{plan.RiskHigh, true, false},
			want{false, "sandbox never requires approval"}},
		{"never, breaking with the flag", neverBreaking, in{plan.RiskLow, true, false},
			want{true, "the change is breaking"}},
		{"never, not breaking with the flag", neverBreaking, in{plan.RiskLow, false, false},
			want{false, "sandbox never requires approval"}},
		{"never, policy file changed", never, in{plan.RiskHigh, false, true},
			want{true, "the policy file itself changed: approval is always required"}},
		{"onRisk, below minimum", onRisk, in{plan.RiskLow, false, false},
			want{false, "risk low is below the minimum medium"}},
		{"onRisk, at minimum", onRisk, in{plan.RiskMedium, false, false},
			want{true, "risk medium is at or above the minimum medium"}},
		{"onRisk, breaking below minimum without the flag", onRisk, in{plan.RiskLow, true, false},
			want{false, "risk low is below the minimum medium"}},
		{"onRisk, breaking below minimum with the flag", onRiskBreaking, in{plan.RiskLow, true, false},
			want{true, "the change is breaking"}},
		{"onRisk, breaking above minimum with the flag", onRiskBreaking, in{plan.RiskHigh, true, false},
			want{true, "risk high is at or above the minimum medium; the change is breaking"}},
		{"onRisk, policy file changed", onRisk, in{plan.RiskHigh, false, true},
			want{true, "the policy file itself changed: approval is always required; risk high is at or above the minimum medium"}},
		{"onRisk, unknown risk", onRisk, in{plan.Risk(9), false, false},
			want{true, "risk Risk(9) is not a known risk"}},
		{"always, policy file changed", prod, in{plan.RiskHigh, false, true},
			want{true, "the policy file itself changed: approval is always required; production requires approval for every deployment"}},
		{"unnamed environment", Environment{RequireApproval: Always}, in{plan.RiskLow, false, false},
			want{true, "the environment requires approval for every deployment"}},
		{"unknown mode", Environment{Name: "x", RequireApproval: Mode(7)}, in{plan.RiskLow, false, false},
			want{true, "x has an unknown requireApproval mode Mode(7)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			needed, why := tt.env.ApprovalNeeded(tt.in.risk, tt.in.breaking, tt.in.policyChanged)
			if needed != tt.want.needed || why != tt.want.why {
				t.Errorf("ApprovalNeeded(%v, %v, %v) = %v, %q; want %v, %q",
					tt.in.risk, tt.in.breaking, tt.in.policyChanged, needed, why, tt.want.needed, tt.want.why)
			}
		})
	}
}

// TestApprovalEveryRiskAndMinimum checks each mode at each risk against
// each minimum.
func TestApprovalEveryRiskAndMinimum(t *testing.T) {
	type in struct {
		mode     Mode
		min      plan.Risk
		risk     plan.Risk
		breaking bool
	}
	var tests []struct {
		name string
		in   in
		want bool
	}
	for _, mode := range []Mode{Always, Never, OnRisk} {
		for _, min := range allRisks {
			for _, risk := range allRisks {
				want := map[Mode]bool{Always: true, Never: false, OnRisk: risk >= min}[mode]
				tests = append(tests, struct {
					name string
					in   in
					want bool
				}{fmt.Sprintf("%v/min %v/risk %v", mode, min, risk), in{mode, min, risk, false}, want})
			}
		}
	}
	for _, tt := range tests {
		for _, policyChanged := range []bool{false, true} {
			e := Environment{Name: "env", RequireApproval: tt.in.mode, MinimumRiskForApproval: tt.in.min}
			want := tt.want || policyChanged
			if got, why := e.ApprovalNeeded(tt.in.risk, tt.in.breaking, policyChanged); got != want {
				t.Errorf("%s: ApprovalNeeded(%v, %v, %v) = %v (%s); want %v",
					tt.name, tt.in.risk, tt.in.breaking, policyChanged, got, why, want)
			}
		}
	}
}

// TestApprovalsCarried checks that a parsed policy's count, approvers and
// timeout reach the environment, including when only the policy file
// changes under requireApproval never.
func TestApprovalsCarried(t *testing.T) {
	p := mustParse(t, `apiVersion: honua.io/v1
kind: DeploymentPolicy
environments:
  production:
    requiredApprovals: 3
    approvers: [devops-team, platform-admin]
    approvalTimeout: 90m
  sandbox:
    requireApproval: never
    requiredApprovals: 2
    approvers: [sandbox-owners]
`)
	tests := []struct {
		name          string
		env           string
		policyChanged bool
		want          bool
		wantCount     int
		wantApprovers []string
		wantTimeout   time.Duration
	}{
		{"production", "production", false, true, 3, []string{"devops-team", "platform-admin"}, 90 * time.Minute},
		{"sandbox, ordinary change", "sandbox", false, false, 2, []string{"sandbox-owners"}, 24 * time.Hour},
		{"sandbox, policy change", "sandbox", true, true, 2, []string{"sandbox-owners"}, 24 * time.Hour},
		{"unlisted", "qa", false, false, 1, nil, 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := p.For(tt.env)
			if got, why := e.ApprovalNeeded(plan.RiskLow, false, tt.policyChanged); got != tt.want {
				t.Errorf("ApprovalNeeded(low, false, %v) = %v (%s); want %v", tt.policyChanged, got, why, tt.want)
			}
			if e.RequiredApprovals != tt.wantCount || !slices.Equal(e.Approvers, tt.wantApprovers) || e.ApprovalTimeout != tt.wantTimeout {
				t.Errorf("For(%q) approvals = %d from %v within %v; want %d from %v within %v", tt.env,
					e.RequiredApprovals, e.Approvers, e.ApprovalTimeout, tt.wantCount, tt.wantApprovers, tt.wantTimeout)
			}
		})
	}
}

// TestForCopies checks that changing For's result leaves the policy alone.
func TestForCopies(t *testing.T) {
	p := mustParse(t, domainExample)
	e := p.For("production")
	e.Approvers[0] = "everyone"
	e.DeploymentWindows[0].Days[0] = time.Sunday
	e.BlackoutPeriods[0].Name = "changed"
	again := p.For("production")
	if again.Approvers[0] != "devops-team" || again.DeploymentWindows[0].Days[0] != time.Monday || again.BlackoutPeriods[0].Name != "Holiday freeze" {
		t.Errorf("For(production) after changing an earlier result = %+v; want the file's values", again)
	}
}
