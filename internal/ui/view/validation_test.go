package view_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/configrepo"
	"github.com/honua-io/honua-gitops/internal/ui/view"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// report validates an environment with configrepo and brings the report
// to the dashboard as the API does, as JSON.
func report(t testing.TB, files map[string]string, env string) *api.ValidationReport {
	t.Helper()
	fsys := fstest.MapFS{}
	for p, s := range files {
		fsys[p] = &fstest.MapFile{Data: []byte(s)}
	}
	_, problems := configrepo.Load(fsys, env)
	raw, err := json.Marshal(configrepo.NewReport(problems))
	if err != nil {
		t.Fatalf("marshal the report: %v", err)
	}
	var rep api.ValidationReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("decode the report: %v", err)
	}
	return &rep
}

// TestValidationProblems: each problem of a real report is shown with its
// file:line:column, its field, its severity and its message.
func TestValidationProblems(t *testing.T) {
	files := sampleconfig.Env("production", sampleconfig.Points)
	meta := "environments/production/metadata.json"
	files[meta] = strings.Replace(files[meta], `"srid": 4326`, `"srid": "EPSG:4326"`, 1)
	rep := report(t, files, "production")
	if rep.Valid || len(rep.Problems) == 0 {
		t.Fatalf("configrepo found the broken srid valid: %+v", rep)
	}
	nodes := checkSafe(t, view.Plan(nil, rep))
	sec := one(t, nodes, "section#validation")
	if got := text(one(t, in(sec), "p.validation-verdict.invalid")); !strings.HasPrefix(got, "Invalid, ") {
		t.Errorf("verdict = %q; want Invalid, N problems", got)
	}
	items := find(in(sec), "li.problem.severity-error")
	if len(items) != len(rep.Problems) {
		t.Fatalf("%d problems rendered; want %d", len(items), len(rep.Problems))
	}
	loc := regexp.MustCompile(`^` + regexp.QuoteMeta(meta) + `:\d+:\d+$`)
	found := false
	for i, li := range items {
		p := rep.Problems[i]
		if got := text(one(t, in(li), "span.message")); got != strings.Join(strings.Fields(p.Message), " ") {
			t.Errorf("problem %d message = %q; want %q", i, got, p.Message)
		}
		if got := text(one(t, in(li), "span.severity")); got != "error" {
			t.Errorf("problem %d severity = %q; want error", i, got)
		}
		if p.Path == "" || !strings.Contains(p.Path, "srid") {
			continue
		}
		found = true
		if got := text(one(t, in(li), "code.location")); !loc.MatchString(got) {
			t.Errorf("srid problem located at %q; want %s:LINE:COLUMN", got, meta)
		}
		if got := text(one(t, in(li), "code.field")); got != p.Path {
			t.Errorf("srid problem field = %q; want %q", got, p.Path)
		}
	}
	if !found {
		t.Errorf("no problem about the srid in %+v", rep.Problems)
	}
}

// TestValidationLocations: a location shows as much as is known, and a
// valid report says so.
func TestValidationLocations(t *testing.T) {
	rep := &api.ValidationReport{Problems: []api.ValidationProblem{
		{File: "a.json", Line: 3, Column: 7, Message: "m1"},
		{File: "b.json", Line: 4, Message: "m2"},
		{File: "c.json", Message: "m3"},
		{Message: "m4"},
	}, Omitted: 2}
	nodes := checkSafe(t, view.Plan(nil, rep))
	if got, want := texts(find(nodes, "li.problem code.location")), []string{"a.json:3:7", "b.json:4", "c.json"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("locations = %q; want %q", got, want)
	}
	if got := text(one(t, nodes, "p.validation-verdict")); got != "Invalid, 6 problems" {
		t.Errorf("verdict = %q; want Invalid, 6 problems", got)
	}
	if got := text(one(t, nodes, "p.problems-omitted")); !strings.Contains(got, "2 more problems") {
		t.Errorf("omitted = %q", got)
	}
	nodes = checkSafe(t, view.Plan(nil, &api.ValidationReport{Valid: true}))
	if got := text(one(t, nodes, "p.validation-verdict.valid")); got != "Valid" {
		t.Errorf("valid verdict = %q; want Valid", got)
	}
}
