package chaos

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// artifact is where a failed check writes porcupine's visualization:
// <artifacts>/<test>-<seed>.html.
func (r *Run) artifact() string {
	dir := r.opts.ArtifactsDir
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "honua-chaos-artifacts")
		if root, err := moduleRoot(); err == nil {
			dir = filepath.Join(root, "artifacts", "chaos")
		}
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(r.t.Name())
	return filepath.Join(dir, fmt.Sprintf("%s-%d.html", name, r.opts.Seed))
}

// moduleRoot finds the directory of go.mod above the working directory
// (the package's directory under go test).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// saveLogs copies, when the test failed, the last run's log of every node
// to the artifacts folder (<artifacts>/<test>-<seed>/<node>.log): the
// failure message shows only their tails.
func (r *Run) saveLogs() {
	if !r.t.Failed() {
		return
	}
	dir := strings.TrimSuffix(r.artifact(), ".html")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.t.Logf("save the nodes' logs: %v", err)
		return
	}
	for _, n := range r.cluster.Nodes() {
		if err := os.WriteFile(filepath.Join(dir, n.ID()+".log"), []byte(n.Log()), 0o644); err != nil {
			r.t.Logf("save %s's log: %v", n.ID(), err)
		}
	}
	r.t.Logf("the nodes' logs are in %s", dir)
}
