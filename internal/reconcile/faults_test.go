package reconcile

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/target"
	"github.com/honua-io/honua-gitops/test/gitserver"
)

func newTarget(t *testing.T, cfg target.Config) Target {
	t.Helper()
	tg, err := target.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// TestTargetFaultsFailTheDeployment: a target that cannot take the bundle
// fails the deployment with a message naming the target and the cause, and
// the cluster goes on serving.
func TestTargetFaultsFailTheDeployment(t *testing.T) {
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bundle schema v9 not supported", http.StatusBadRequest)
	}))
	defer refuse.Close()
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		cfg   target.Config
		wants []string
	}{
		{"http 4xx", target.Config{Type: "http", URL: refuse.URL + "/admin/bundle"}, []string{refuse.URL, "400", "bundle schema v9"}},
		{"exec missing", target.Config{Type: "exec", Command: []string{"/nonexistent/notify-honua"}}, []string{"/nonexistent/notify-honua"}},
		{"path not writable", target.Config{Type: "directory", Path: filepath.Join(file, "staging")}, []string{file}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := gitserver.NewRepo(t)
			c := repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "initial")
			pc := startPipeline(t, repo, pipelineOptions{nodes: 1, envs: map[string]EnvironmentSettings{
				"staging": {Targets: []TargetSpec{{Target: newTarget(t, tt.cfg)}}},
			}})
			d := pc.deploymentOf("staging", c, fsm.StateFailed)
			for _, w := range tt.wants {
				if !strings.Contains(d.Error, w) {
					t.Errorf("error %q does not mention %q", d.Error, w)
				}
			}
			// The cluster still serves writes.
			if _, err := pc.Apply(&fsm.ObserveCommit{Environment: "staging", Commit: "x", Time: pc.clock.Now()}); err != nil {
				t.Errorf("cluster stopped serving after a target fault: %v", err)
			}
		})
	}
}

// TestDiskFullRollsBack: a bundle too large for the target's disk fails,
// rolls back, and the previous bundle keeps serving. It mounts a tiny
// tmpfs, so it runs as root only (CI runs as root).
func TestDiskFullRollsBack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: mounting a tmpfs to fill needs root; CI runs this as root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("SKIPPED LOUDLY: cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })

	repo := gitserver.NewRepo(t)
	good := repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "initial")
	path := filepath.Join(dir, "staging")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1, envs: map[string]EnvironmentSettings{
		"staging": {Targets: []TargetSpec{{Target: dirTarget(t, path)}}},
	}})
	pc.deploymentOf("staging", good, fsm.StateCompleted)

	huge := envFiles("staging", points)
	huge["environments/staging/appsettings.json"] = `{"notes": "` + strings.Repeat("x", 512<<10) + `"}`
	bad := pc.commit(huge, "half a megabyte of notes")
	d := pc.deploymentOf("staging", bad, fsm.StateRolledBack)
	if !strings.Contains(strings.ToLower(d.Error), "no space") || !strings.Contains(d.Error, path) {
		t.Errorf("error %q; want it to name %s and say no space", d.Error, path)
	}
	if m := served(t, path); m.Commit != good {
		t.Errorf("target serves %s; want the previous bundle %s", short(m.Commit), short(good))
	}
}
