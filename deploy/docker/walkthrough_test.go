package docker

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/deploy/internal/walkthrough"
	"github.com/honua-io/honua-gitops/test/harness"
)

// layout is what deploy/README.md's Compose walkthrough leaves in a
// checkout of the repository.
type layout struct {
	// root stands for the repository's root, where the walkthrough runs.
	root string
	// env is what its export commands set.
	env map[string]string
	// image is the image its honuad function runs.
	image string
}

// path returns the local file of a path relative to the repository's root.
func (l *layout) path(rel string) string { return filepath.Join(l.root, filepath.FromSlash(rel)) }

// composePath returns the local file of a path compose.yaml names
// (relative to deploy/docker).
func (l *layout) composePath(rel string) string {
	return filepath.Join(l.root, "deploy", "docker", filepath.FromSlash(rel))
}

// runWalkthrough runs deploy/README.md's Compose walkthrough as far as a
// test can without a Docker engine, in a temporary directory standing for
// the repository's root: mkdir, and each call of the honuad function the
// walkthrough defines, run with the honuad built from this tree in the
// host directory that the function mounts as its working directory, its
// output redirected as the page says. It records what export sets.
func runWalkthrough(t *testing.T) *layout {
	t.Helper()
	page, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := walkthrough.Commands(page, "Docker Compose")
	if err != nil {
		t.Fatalf("deploy/README.md: %v", err)
	}
	l := &layout{root: t.TempDir(), env: map[string]string{}}
	bin := harness.Build(t)
	var workDir string // the host directory the honuad function works in
	for _, c := range cmds {
		switch {
		case c.HasPrefix("mkdir", "-p"):
			for _, d := range c.Args[2:] {
				if err := os.MkdirAll(l.path(d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
		case c.HasPrefix("honuad()"):
			// honuad() { docker run ... -v "$PWD/HOST:CTR" -w CTR IMAGE "$@"; }
			w := c.Flag("-w")
			var host string
			for _, v := range c.Flag("-v") {
				h, ctr, _ := strings.Cut(v, ":")
				if len(w) == 1 && ctr == w[0] {
					host, _ = strings.CutPrefix(h, "$PWD/")
				}
			}
			if host == "" {
				t.Fatalf("deploy/README.md line %d: the honuad function mounts no $PWD/ directory as its working directory (-w %v, -v %v)", c.Line, w, c.Flag("-v"))
			}
			workDir = l.path(host)
			if i := slices.Index(c.Args, `$@;`); i > 0 {
				l.image = c.Args[i-1]
			}
		case c.HasPrefix("honuad"):
			if workDir == "" {
				t.Fatalf("deploy/README.md line %d calls honuad before defining the function", c.Line)
			}
			cmd := exec.Command(bin, c.Args[1:]...)
			cmd.Dir = workDir
			out, err := cmd.Output()
			if err != nil {
				var stderr []byte
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = ee.Stderr
				}
				t.Fatalf("deploy/README.md line %d: %s: %v\n%s", c.Line, c, err, stderr)
			}
			if c.Stdout != "" {
				if err := os.WriteFile(l.path(c.Stdout), out, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		case c.HasPrefix("export"):
			for _, kv := range c.Args[1:] {
				k, v, _ := strings.Cut(kv, "=")
				l.env[k] = v
			}
		}
	}
	return l
}
