package view_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/internal/ui/view"
)

// TestViewDependsOnTheAPIOnly: the package renders what the API sends, so
// of this module it imports package api alone (its tests aside): the
// dashboard shows what honuactl shows, never the replicated state itself.
func TestViewDependsOnTheAPIOnly(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	const module = "github.com/honua-io/honua-gitops/"
	var deps []string
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, module) {
			deps = append(deps, strings.TrimPrefix(p, module))
		}
	}
	slices.Sort(deps)
	if want := []string{"api", "internal/ui/view"}; !slices.Equal(deps, want) {
		t.Errorf("internal/ui/view depends on %v; want %v", deps, want)
	}
}

// TestCSSStylesTheClasses: view.CSS has a rule for every class that
// carries meaning by colour: risks, outcomes, geospatial callouts.
func TestCSSStylesTheClasses(t *testing.T) {
	var classes []string
	for _, r := range []string{"none", "low", "medium", "high", "critical"} {
		classes = append(classes, "risk-"+r)
	}
	for _, o := range []string{"completed", "failed", "rolledback", "rejected", "superseded", "inprogress"} {
		classes = append(classes, "bar-"+o)
	}
	classes = append(classes, "breaking-badge", "geo", "geo-srid", "geo-geometry-type")
	for _, c := range classes {
		if !regexp.MustCompile(`\.` + regexp.QuoteMeta(c) + `[\s,{.]`).MatchString(view.CSS) {
			t.Errorf("view.CSS has no rule for .%s", c)
		}
	}
}
