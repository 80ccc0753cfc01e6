package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/configrepo"
	"github.com/honua-io/honua-gitops/internal/plan"
)

// TestBoundedPlanAndReport: a plan cut to its budget, with a summarized
// value, and a validation report cut to its first problems show what was
// left out.
func TestBoundedPlanAndReport(t *testing.T) {
	f := newFakeAPI(t)
	head := map[string]any{"Blob": strings.Repeat("v", 2<<20)}
	for i := range 5000 {
		head[fmt.Sprintf("Key%05d", i)] = i
	}
	p := plan.Compute(plan.Input{}, plan.Input{AppSettings: head})
	if !p.Truncated {
		t.Fatalf("the test needs a truncated plan; got %s", p.Summary())
	}
	planJSON, err := json.Marshal(plan.Document{Commit: commit3, Plan: p})
	if err != nil {
		t.Fatal(err)
	}
	var problems []configrepo.Problem
	for i := range configrepo.MaxReportProblems + 7 {
		problems = append(problems, configrepo.Problem{File: "environments/staging/metadata.json", Line: i + 1, Message: "bad"})
	}
	report, err := json.Marshal(configrepo.NewReport(problems))
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.deployments["staging-9"] = &api.Deployment{ID: "staging-9", Environment: "staging", Commit: commit3, Kind: api.KindAuto,
		State: api.StatePlanning, CreatedAt: testNow, UpdatedAt: testNow, Plan: planJSON, Validation: report}
	f.mu.Unlock()

	blob := p.Changes[0]
	sum, _ := plan.SummaryOf(blob.Diff[0].To)
	r := f.ctl(t, "diff", "staging-9")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout,
		[]string{"5001 added, 0 modified, 0 removed"},
		[]string{"+ added appSetting appsettings/Blob"},
		[]string{"(none) → (2.0 MiB value, sha256 " + sum.SHA256[:12], `starts "vvvv`},
		[]string{fmt.Sprintf("%d more changes not listed", p.OmittedChanges), "cut to its budget"},
	)

	r = f.ctl(t, "deployment", "staging-9", "--verbose")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout,
		[]string{"(2.0 MiB value, sha256 " + sum.SHA256[:12]},
		[]string{fmt.Sprintf("%d more changes not listed", p.OmittedChanges)},
		[]string{"Validation:", fmt.Sprintf("invalid, %d problem(s)", configrepo.MaxReportProblems+7)},
		[]string{"and 7 more problem(s)"},
	)
}
