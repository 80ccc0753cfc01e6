package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary bytes to Parse, as anyone who can push to the
// configuration repository can, and asks the gate of what it accepts at an
// arbitrary instant. Properties:
//   - a refusal is a *ParseError (ErrInvalid) listing problems in file
//     order, each naming the file and a line inside it;
//   - an accepted policy names only valid environments, and each one's
//     effective policy holds what Parse promises (at least one approval,
//     positive timeouts, windows with a length, blackouts that end after
//     they start);
//   - a closed gate opens at the instant it gives: at or after now, and
//     open there.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		domainExample,
		issueRollout,
		header + "    rollout: {waves: [{targets: [a, a]}, {targets: []}], analysis: {prometheus: {url: x}, checks: [{name: e, query: '{{.X}}', max: .inf}]}}\n",
		"apiVersion: honua.io/v1\nkind: DeploymentPolicy\n",
		"apiVersion: honua.io/v1\nkind: DeploymentPolicy\nenvironments:\n  production:\n    requireApproval: never\n",
		"apiVersion: honua.io/v1\nkind: DeploymentPolicy\nenvironments:\n  prod:\n    deploymentWindows:\n" +
			"      - {days: [Sat, Sun], start: \"22:00\", end: \"02:00\", timezone: Europe/London}\n" +
			"      - {days: [Sun], start: \"01:30\", end: \"03:00\", timezone: America/New_York}\n" +
			"    blackoutPeriods:\n      - {name: x, start: 2026-03-08T00:00:00Z, end: 2026-03-09T00:00:00Z}\n",
		"apiVersion: honua.io/v1\nkind: DeploymentPolicy\nenvironments:\n  a: &e {requiredApprovals: 2, approvers: [x]}\n  b: *e\n",
		"apiVersion: honua.io/v1\nkind: DeploymentPolicy\nenvironments:\n  common: {}\n  Bad_Name: {}\n",
		"apiVersion: honua.io/v1\nkind: DeploymentPolicy\nenvironments:\n  a:\n    requiredApprovals: 0\n    approvalTimeout: -1s\n" +
			"    healthCheckTimeout: 9999999999999h\n    deploymentWindows: [{days: [], start: \"24:00\", end: \"09:00\", timezone: Local}]\n" +
			"    blackoutPeriods: [{name: \" \", start: 2027-01-01T00:00:00Z, end: 2026-01-01T00:00:00Z}]\n",
		"apiVersion: honua.io/v1\nkind: DeploymentPolicy\nenvironments:\n  a: {deploymentWindows: [{days: [Mon], start: \"09:00\", end: \"17:00\", timezone: ../../etc/passwd}]}\n",
		"apiVersion: honua.io/v1\napiVersion: honua.io/v1\nkind: DeploymentPolicy\n",
		"",
		"---\n",
		"a: 1\n---\nb: 2\n",
		"[]",
		"apiVersion: [\n",
		"\xff\xfe",
		"apiVersion: \"\x00\"\n",
		"l0: &l0 [x]\nl1: &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]\nl2: &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]\n" +
			"l3: &l3 [*l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2]\nl4: &l4 [*l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3]\n" +
			"environments: {a: {approvers: *l4}}\n",
		"environments: {a: {approvers: &x [*x]}}\n",
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
		"apiVersion: honua.io/v1\nkind: DeploymentPolicy\nenvironments:\n  a: {approvers: [" + strings.Repeat("g, ", 10000) + "g]}\n",
	} {
		f.Add([]byte(s), int64(1772971200)) // 2026-03-08T12:00:00Z, a DST change in the US
	}
	f.Fuzz(func(t *testing.T, data []byte, unix int64) {
		const file = ".gitops/deployment-policy.yaml"
		p, err := Parse(data, file)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalid) || len(pe.Problems) == 0 {
				t.Fatalf("Parse(%q) = %v; want a *ParseError with problems", data, err)
			}
			lines := yamlLines(data)
			for _, pr := range pe.Problems {
				if pr.File != file || pr.Message == "" || pr.Line < 0 || pr.Line > lines {
					t.Fatalf("Parse(%q): problem %s is not in the file (%d lines)", data, pr, lines)
				}
			}
			if !slices.IsSortedFunc(pe.Problems, func(a, b Problem) int {
				if a.Line != b.Line {
					return a.Line - b.Line
				}
				return a.Column - b.Column
			}) {
				t.Fatalf("Parse(%q): problems not in file order: %v", data, err)
			}
			return
		}
		now := time.Unix(unix%(1<<36), 0).UTC() // about 2000 years either side of 1970
		for _, name := range p.Environments() {
			if !envNameRE.MatchString(name) || name == "common" {
				t.Fatalf("Parse(%q) accepted environment %q", data, name)
			}
			e := p.For(name)
			switch {
			case e.RequiredApprovals < 1, e.ApprovalTimeout <= 0, e.HealthCheckTimeout <= 0:
				t.Fatalf("Parse(%q): %s has %d approvals, timeouts %v and %v", data, name,
					e.RequiredApprovals, e.ApprovalTimeout, e.HealthCheckTimeout)
			}
			for _, w := range e.DeploymentWindows {
				if w.Start == w.End || len(w.Days) == 0 || w.Start < 0 || w.End >= 24*60 {
					t.Fatalf("Parse(%q): %s has window %+v", data, name, w)
				}
			}
			if r := e.Rollout; r != nil {
				seen := map[string]bool{}
				for _, w := range r.Waves {
					if len(w.Targets) == 0 || w.MaxParallel < 1 || w.MaxParallel > len(w.Targets) || w.Bake < 0 {
						t.Fatalf("Parse(%q): %s has wave %+v", data, name, w)
					}
					for _, tg := range w.Targets {
						if seen[tg] {
							t.Fatalf("Parse(%q): %s names target %q twice", data, name, tg)
						}
						seen[tg] = true
					}
				}
				if a := r.Analysis; a != nil {
					if len(a.Checks) == 0 || a.Interval < MinAnalysisInterval || a.FailureLimit < 0 || a.PrometheusURL == "" {
						t.Fatalf("Parse(%q): %s has analysis %+v", data, name, a)
					}
					for _, c := range a.Checks {
						if _, err := c.QueryFor("t"); err != nil || (c.Max == nil && c.Min == nil) {
							t.Fatalf("Parse(%q): %s has check %+v: %v", data, name, c, err)
						}
					}
				}
			}
			for _, b := range e.BlackoutPeriods {
				if !b.End.After(b.Start) || strings.TrimSpace(b.Name) == "" {
					t.Fatalf("Parse(%q): %s has blackout %+v", data, name, b)
				}
			}
			open, reason, next := e.Gate(now)
			if open {
				continue
			}
			if reason == "" {
				t.Fatalf("Gate(%v) of %s is closed without a reason", now, name)
			}
			if next.IsZero() {
				continue
			}
			if next.Before(now) {
				t.Fatalf("Gate(%v) of %s opens at %v, before now", now, name, next)
			}
			if ok, why, _ := e.Gate(next); !ok {
				t.Fatalf("Gate(%v) of %s opens at %v, but the gate is closed then: %s", now, name, next, why)
			}
		}
	})
}

// yamlLines counts the lines of data as YAML does: CR LF, CR, LF, NEL, LS
// and PS each end one.
func yamlLines(data []byte) int {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	return 1 + strings.Count(s, "\n") + strings.Count(s, "\r") + strings.Count(s, "\u0085") +
		strings.Count(s, "\u2028") + strings.Count(s, "\u2029")
}
