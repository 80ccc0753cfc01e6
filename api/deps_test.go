package api_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// module is this module's path.
const module = "github.com/honua-io/honua-gitops"

// internalDeps lists the packages of this module that the package in dir
// imports, directly or not (its tests' imports aside), without itself.
func internalDeps(t *testing.T, dir string) []string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", dir, err, out)
	}
	var deps []string
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, module+"/") {
			deps = append(deps, strings.TrimPrefix(p, module+"/"))
		}
	}
	slices.Sort(deps)
	return deps
}

// TestAPIIsOnItsOwn: package api, the wire format, imports nothing of this
// module. Changing the replicated state, the planner's documents or the
// cluster's types must not change what clients see; internal/rpc converts
// between them and api.
func TestAPIIsOnItsOwn(t *testing.T) {
	if deps := internalDeps(t, "."); !slices.Equal(deps, []string{"api"}) {
		t.Errorf("package api depends on %v; it may depend on the standard library and third-party modules only", deps)
	}
}

// TestHonuactlDependsOnTheAPI: honuactl reads what the API sends through
// package api. Of the internal packages it may use only those that it
// shares with honuad as files on disk, not as answers: certs (the TLS
// files it is given) and gossipkey (the format of the keys it sends).
func TestHonuactlDependsOnTheAPI(t *testing.T) {
	want := []string{"api", "cmd/honuactl", "internal/certs", "internal/filewatch", "internal/gossipkey"}
	if deps := internalDeps(t, "../cmd/honuactl"); !slices.Equal(deps, want) {
		t.Errorf("honuactl depends on %v; want %v (decode answers with package api's types)", deps, want)
	}
}
