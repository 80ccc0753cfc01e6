package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/plan"
)

// domainExample is the policy file of docs/domain.md#policy, comments and all.
const domainExample = `apiVersion: honua.io/v1
kind: DeploymentPolicy
environments:
  production:
    requireApproval: always          # always | never | onRisk (default onRisk)
    minimumRiskForApproval: medium   # with onRisk
    breakingChangesRequireApproval: true
    requiredApprovals: 2             # distinct identities
    approvers: [devops-team, platform-admin]   # groups from the API tokens; empty = any approver role
    approvalTimeout: 24h
    autoRollback: true
    rollbackRequiresApproval: false
    healthCheckTimeout: 2m
    deploymentWindows:               # if any are listed, deploy only inside one
      - days: [Mon, Tue, Wed, Thu]
        start: "09:00"
        end: "17:00"
        timezone: America/New_York   # IANA name; DST handled
    blackoutPeriods:                 # deny wins over windows
      - name: Holiday freeze
        start: 2026-12-20T00:00:00Z
        end: 2027-01-05T00:00:00Z
  staging:
    requireApproval: onRisk
    minimumRiskForApproval: high
`

func mustParse(t *testing.T, src string) *Policy {
	t.Helper()
	p, err := Parse([]byte(src), Path)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

// envEqual compares environments, locations by name and times by instant.
func envEqual(a, b Environment) bool {
	if len(a.DeploymentWindows) != len(b.DeploymentWindows) || len(a.BlackoutPeriods) != len(b.BlackoutPeriods) {
		return false
	}
	for i, w := range a.DeploymentWindows {
		v := b.DeploymentWindows[i]
		if !slices.Equal(w.Days, v.Days) || w.Start != v.Start || w.End != v.End || w.loc().String() != v.loc().String() {
			return false
		}
	}
	for i, x := range a.BlackoutPeriods {
		y := b.BlackoutPeriods[i]
		if x.Name != y.Name || !x.Start.Equal(y.Start) || !x.End.Equal(y.End) {
			return false
		}
	}
	if !slices.Equal(a.Approvers, b.Approvers) {
		return false
	}
	a.DeploymentWindows, a.BlackoutPeriods, a.Approvers = nil, nil, nil
	b.DeploymentWindows, b.BlackoutPeriods, b.Approvers = nil, nil, nil
	return a.Name == b.Name && a.RequireApproval == b.RequireApproval &&
		a.MinimumRiskForApproval == b.MinimumRiskForApproval &&
		a.BreakingChangesRequireApproval == b.BreakingChangesRequireApproval &&
		a.RequiredApprovals == b.RequiredApprovals && a.ApprovalTimeout == b.ApprovalTimeout &&
		a.AutoRollback == b.AutoRollback && a.RollbackRequiresApproval == b.RollbackRequiresApproval &&
		a.HealthCheckTimeout == b.HealthCheckTimeout && a.SelfHeal == b.SelfHeal
}

func TestParseDomainExample(t *testing.T) {
	p := mustParse(t, domainExample)
	if got, want := p.Environments(), []string{"production", "staging"}; !slices.Equal(got, want) {
		t.Errorf("Environments() = %v; want %v", got, want)
	}
	tests := []struct {
		name string
		env  string
		want Environment
	}{
		{"production", "production", Environment{
			Name:                           "production",
			RequireApproval:                Always,
			MinimumRiskForApproval:         plan.RiskMedium,
			BreakingChangesRequireApproval: true,
			RequiredApprovals:              2,
			Approvers:                      []string{"devops-team", "platform-admin"},
			ApprovalTimeout:                24 * time.Hour,
			AutoRollback:                   true,
			HealthCheckTimeout:             2 * time.Minute,
			DeploymentWindows: []Window{{
				Days:  []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday},
				Start: hm(9, 0), End: hm(17, 0), Location: newYork,
			}},
			BlackoutPeriods: []Blackout{{
				Name:  "Holiday freeze",
				Start: time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC),
				End:   time.Date(2027, 1, 5, 0, 0, 0, 0, time.UTC),
			}},
		}},
		{"staging", "staging", Environment{
			Name: "staging", RequireApproval: OnRisk, MinimumRiskForApproval: plan.RiskHigh,
			RequiredApprovals: 1, ApprovalTimeout: 24 * time.Hour, AutoRollback: true,
			HealthCheckTimeout: 2 * time.Minute,
		}},
		{"development is absent", "development", Environment{
			Name: "development", RequireApproval: OnRisk, MinimumRiskForApproval: plan.RiskHigh,
			RequiredApprovals: 1, ApprovalTimeout: 24 * time.Hour, AutoRollback: true,
			HealthCheckTimeout: 2 * time.Minute,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.For(tt.env); !envEqual(got, tt.want) {
				t.Errorf("For(%q) =\n%+v\nwant\n%+v", tt.env, got, tt.want)
			}
		})
	}
}

// TestParseDefaultsFieldByField checks that a partial entry keeps its
// environment's defaults for the rest.
func TestParseDefaultsFieldByField(t *testing.T) {
	p := mustParse(t, `apiVersion: honua.io/v1
kind: DeploymentPolicy
environments:
  production:
    requiredApprovals: 2
  staging:
    breakingChangesRequireApproval: true
  qa:
  dev-eu-1: {autoRollback: false, healthCheckTimeout: 30s, approvers: [], selfHeal: true}
`)
	tests := []struct {
		name string
		env  string
		want Environment
	}{
		{"production keeps always", "production", Environment{Name: "production", RequireApproval: Always, MinimumRiskForApproval: plan.RiskHigh,
			RequiredApprovals: 2, ApprovalTimeout: 24 * time.Hour, AutoRollback: true, HealthCheckTimeout: 2 * time.Minute}},
		{"staging keeps onRisk high", "staging", Environment{Name: "staging", RequireApproval: OnRisk, MinimumRiskForApproval: plan.RiskHigh,
			BreakingChangesRequireApproval: true, RequiredApprovals: 1, ApprovalTimeout: 24 * time.Hour, AutoRollback: true, HealthCheckTimeout: 2 * time.Minute}},
		{"an empty entry is the defaults", "qa", defaults("qa")},
		{"flow mapping", "dev-eu-1", Environment{Name: "dev-eu-1", RequireApproval: OnRisk, MinimumRiskForApproval: plan.RiskHigh,
			RequiredApprovals: 1, ApprovalTimeout: 24 * time.Hour, HealthCheckTimeout: 30 * time.Second, SelfHeal: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.For(tt.env); !envEqual(got, tt.want) {
				t.Errorf("For(%q) =\n%+v\nwant\n%+v", tt.env, got, tt.want)
			}
		})
	}
}

// header starts a file whose production entry follows.
const header = "apiVersion: honua.io/v1\nkind: DeploymentPolicy\nenvironments:\n  production:\n"

func TestParseErrors(t *testing.T) {
	type problem struct {
		line, col int
		msg       string // a substring of the message
	}
	tests := []struct {
		name string
		in   string
		want []problem
	}{
		{"unknown top-level key", "apiVersion: honua.io/v1\nkind: DeploymentPolicy\nenvironment: {}\n",
			[]problem{{3, 1, `unknown key "environment": want one of apiVersion, kind, environments`}}},
		{"wrong apiVersion", "apiVersion: honua.io/v2\nkind: DeploymentPolicy\n",
			[]problem{{1, 13, `apiVersion "honua.io/v2" is not honua.io/v1`}}},
		{"wrong kind", "apiVersion: honua.io/v1\nkind: Policy\n",
			[]problem{{2, 7, `kind "Policy" is not DeploymentPolicy`}}},
		{"missing apiVersion and kind", "environments: {}\n",
			[]problem{{1, 1, "apiVersion is missing"}, {1, 1, "kind is missing"}}},
		{"empty file", "# nothing yet\n", []problem{{1, 1, "the file is empty"}}},
		{"not a mapping", "- production\n", []problem{{1, 1, "must be a mapping"}}},
		{"syntax error", "apiVersion: honua.io/v1\nkind: DeploymentPolicy\nenvironments\nstaging: {}\n", []problem{{3, 0, "could not find expected ':'"}}},
		{"two documents", "apiVersion: honua.io/v1\nkind: DeploymentPolicy\n---\nkind: Other\n", []problem{{3, 1, "more than one YAML document"}}},
		{"environments not a mapping", "apiVersion: honua.io/v1\nkind: DeploymentPolicy\nenvironments: [production]\n",
			[]problem{{3, 15, "environments must be a mapping"}}},
		{"environment not a mapping", "apiVersion: honua.io/v1\nkind: DeploymentPolicy\nenvironments:\n  production: always\n",
			[]problem{{4, 15, "environments.production must be a mapping"}}},
		{"null apiVersion", "apiVersion:\nkind: DeploymentPolicy\n", []problem{{1, 12, "apiVersion must be a string"}}},
		{"key not a name", "apiVersion: honua.io/v1\nkind: DeploymentPolicy\n? [a, b]\n: 1\n", []problem{{3, 3, "keys must be names"}}},
		{"empty approver", header + "    approvers: [\"\"]\n", []problem{{5, 17, "environments.production.approvers[0] is empty"}}},
		{"windows not a list", header + "    deploymentWindows: {days: [Mon]}\n",
			[]problem{{5, 24, "environments.production.deploymentWindows must be a list"}}},
		{"window not a mapping", header + "    deploymentWindows: [\"Mon 09:00-17:00\"]\n",
			[]problem{{5, 25, "environments.production.deploymentWindows[0] must be a mapping"}}},
		{"repeated key", header + "    requiredApprovals: 2\n    requiredApprovals: 3\n",
			[]problem{{6, 5, `key "requiredApprovals" in environments.production repeats the one at line 5`}}},
		{"unknown environment key", header + "    requireApprovals: always\n",
			[]problem{{5, 5, `unknown key "requireApprovals" in environments.production`}}},
		{"bad requireApproval", header + "    requireApproval: sometimes\n",
			[]problem{{5, 22, `environments.production.requireApproval: "sometimes" is not one of always, never, onRisk`}}},
		{"unknown risk", header + "    minimumRiskForApproval: severe\n",
			[]problem{{5, 29, `environments.production.minimumRiskForApproval: risk "severe" is not one of none, low, medium, high, critical`}}},
		{"zero approvals", header + "    requiredApprovals: 0\n",
			[]problem{{5, 24, "environments.production.requiredApprovals: 0 is less than 1"}}},
		{"approvals not a number", header + "    requiredApprovals: two\n",
			[]problem{{5, 24, `environments.production.requiredApprovals: "two" is not a whole number`}}},
		{"bad duration", header + "    approvalTimeout: 1day\n",
			[]problem{{5, 22, `environments.production.approvalTimeout: "1day" is not a duration`}}},
		{"negative duration", header + "    healthCheckTimeout: -5s\n",
			[]problem{{5, 25, `environments.production.healthCheckTimeout: "-5s" is not positive`}}},
		{"bad bool", header + "    autoRollback: yes\n",
			[]problem{{5, 19, `environments.production.autoRollback: "yes" is not true or false`}}},
		{"bad selfHeal", header + "    selfHeal: always\n",
			[]problem{{5, 15, `environments.production.selfHeal: "always" is not true or false`}}},
		{"approvers not a list", header + "    approvers: devops-team\n",
			[]problem{{5, 16, "environments.production.approvers must be a list"}}},
		{"bad day", header + "    deploymentWindows:\n      - days: [Mon, Funday]\n        start: \"09:00\"\n        end: \"17:00\"\n",
			[]problem{{6, 21, `environments.production.deploymentWindows[0].days[1]: "Funday" is not a day`}}},
		{"no days", header + "    deploymentWindows:\n      - days: []\n        start: \"09:00\"\n        end: \"17:00\"\n",
			[]problem{{6, 15, "days must list at least one day"}}},
		{"bad HH:MM", header + "    deploymentWindows:\n      - days: [Mon]\n        start: \"9:00\"\n        end: \"24:00\"\n",
			[]problem{
				{7, 16, `environments.production.deploymentWindows[0].start: "9:00" is not a time of day HH:MM`},
				{8, 14, `environments.production.deploymentWindows[0].end: "24:00" is not a time of day HH:MM`},
			}},
		{"end equals start", header + "    deploymentWindows:\n      - days: [Mon]\n        start: \"09:00\"\n        end: \"09:00\"\n",
			[]problem{{8, 14, "environments.production.deploymentWindows[0].end equals start 09:00"}}},
		{"missing start and end", header + "    deploymentWindows:\n      - days: [Mon]\n",
			[]problem{{6, 9, "deploymentWindows[0].start is missing"}, {6, 9, "deploymentWindows[0].end is missing"}}},
		{"unknown time zone", header + "    deploymentWindows:\n      - days: [Mon]\n        start: \"09:00\"\n        end: \"17:00\"\n        timezone: Mars/Olympus_Mons\n",
			[]problem{{9, 19, `environments.production.deploymentWindows[0].timezone: "Mars/Olympus_Mons" is not an IANA time zone`}}},
		{"Local time zone", header + "    deploymentWindows:\n      - days: [Mon]\n        start: \"09:00\"\n        end: \"17:00\"\n        timezone: Local\n",
			[]problem{{9, 19, `"Local" is not an IANA time zone`}}},
		{"blackout end before start", header + "    blackoutPeriods:\n      - name: Freeze\n        start: 2026-12-20T00:00:00Z\n        end: 2026-12-19T00:00:00Z\n",
			[]problem{{8, 14, "environments.production.blackoutPeriods[0].end 2026-12-19T00:00:00Z is not after start 2026-12-20T00:00:00Z"}}},
		{"blackout bad timestamp", header + "    blackoutPeriods:\n      - name: Freeze\n        start: 2026-12-20\n        end: 2027-01-05T00:00:00Z\n",
			[]problem{{7, 16, `environments.production.blackoutPeriods[0].start: "2026-12-20" is not an RFC 3339 timestamp`}}},
		{"blackout without a name", header + "    blackoutPeriods:\n      - start: 2026-12-20T00:00:00Z\n        end: 2027-01-05T00:00:00Z\n",
			[]problem{{6, 9, "environments.production.blackoutPeriods[0].name is missing"}}},
		{"invalid environment names", "apiVersion: honua.io/v1\nkind: DeploymentPolicy\nenvironments:\n  Production: {}\n  prod_eu: {}\n  -bad: {}\n  common: {}\n  ok-1: {}\n",
			[]problem{
				{4, 3, `"Production" is not a valid environment name`},
				{5, 3, `"prod_eu" is not a valid environment name`},
				{6, 3, `"-bad" is not a valid environment name`},
				{7, 3, `"common" is not an environment`},
			}},
		{"several at once", `apiVersion: honua.io/v2
kind: DeploymentPolicy
environments:
  production:
    requireApproval: sometimes
    minimumRiskForApproval: severe
    requiredApprovals: 0
    approvalTimeout: soon
    deploymentWindows:
      - days: [Mon, Someday]
        start: "25:00"
        end: "17:00"
        timezone: Nowhere/Special
    blackoutPeriods:
      - name: Freeze
        start: 2027-01-05T00:00:00Z
        end: 2026-12-20T00:00:00Z
  Staging:
    colour: blue
`, []problem{
			{1, 13, "apiVersion"},
			{5, 22, "requireApproval"},
			{6, 29, "minimumRiskForApproval"},
			{7, 24, "requiredApprovals"},
			{8, 22, "approvalTimeout"},
			{10, 21, `"Someday"`},
			{11, 16, `"25:00"`},
			{13, 19, `"Nowhere/Special"`},
			{17, 14, "is not after start"},
			{18, 3, `"Staging" is not a valid environment name`},
			{19, 5, `unknown key "colour"`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.in), "policy.yaml")
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) = %v, %v; want a *ParseError", tt.in, p, err)
			}
			if p != nil {
				t.Errorf("Parse(%q) policy = %v; want nil with an error", tt.in, p)
			}
			got := pe.Problems
			ok := len(got) == len(tt.want)
			for i := 0; ok && i < len(got); i++ {
				w := tt.want[i]
				ok = got[i].File == "policy.yaml" && got[i].Line == w.line && got[i].Column == w.col && strings.Contains(got[i].Message, w.msg)
			}
			if !ok {
				t.Errorf("Parse(%q) problems:\n%v\nwant %d: %v", tt.in, err, len(tt.want), tt.want)
			}
		})
	}
}

func TestParseErrorString(t *testing.T) {
	_, err := Parse([]byte("apiVersion: honua.io/v1\nkind: Policy\nextra: 1\n"), Path)
	want := ".gitops/deployment-policy.yaml:2:7: kind \"Policy\" is not DeploymentPolicy\n" +
		".gitops/deployment-policy.yaml:3:1: unknown key \"extra\": want one of apiVersion, kind, environments"
	if err == nil || err.Error() != want {
		t.Errorf("Parse error = %v; want %s", err, want)
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"no environments", "apiVersion: honua.io/v1\nkind: DeploymentPolicy\n"},
		{"null environments", "apiVersion: honua.io/v1\nkind: DeploymentPolicy\nenvironments:\n"},
		{"lowercase days, midnight end, UTC default", header + "    deploymentWindows:\n      - days: [fri]\n        start: \"22:00\"\n        end: \"00:00\"\n"},
		{"anchors and aliases", header + "    deploymentWindows: &w\n      - days: [Mon]\n        start: \"09:00\"\n        end: \"17:00\"\n  staging:\n    deploymentWindows: *w\n"},
		{"document markers", "---\napiVersion: honua.io/v1\nkind: DeploymentPolicy\n...\n"},
		{"trailing document marker", "apiVersion: honua.io/v1\nkind: DeploymentPolicy\n---\n"},
		{"risk none", header + "    requireApproval: onRisk\n    minimumRiskForApproval: none\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(tt.in), Path); err != nil {
				t.Errorf("Parse(%q) = %v; want no error", tt.in, err)
			}
		})
	}
}

func TestModeText(t *testing.T) {
	for _, m := range []Mode{OnRisk, Always, Never} {
		b, err := m.MarshalText()
		var back Mode
		if err != nil || back.UnmarshalText(b) != nil || back != m {
			t.Errorf("Mode %v round trip = %q, %v, %v; want %v", m, b, err, back, m)
		}
	}
	if _, err := Mode(5).MarshalText(); err == nil {
		t.Errorf("Mode(5).MarshalText() error = nil; want an error")
	}
}
