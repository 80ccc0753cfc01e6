package reconcile

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/test/gitserver"
)

// TestRolloutNamingAnUnknownTargetFailsValidation: a policy whose rollout
// names a target the environment does not have (or leaves one of its
// targets out) is a validation problem of the commit, with its position,
// like any other; the same policy naming the right targets validates.
func TestRolloutNamingAnUnknownTargetFailsValidation(t *testing.T) {
	rollout := func(waves string) string {
		return testPolicy + "    rollout:\n      waves:\n" + waves
	}
	dir := t.TempDir()
	repo := gitserver.NewRepo(t)
	repo.Commit(merge(envFiles("development", points), map[string]string{
		policyPath: rollout("        - {targets: [canary]}\n        - {targets: [eu-1]}\n")}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1, envs: map[string]EnvironmentSettings{
		"development": {Targets: []TargetSpec{
			{Name: "canary", Target: dirTarget(t, filepath.Join(dir, "canary"))},
			{Name: "eu-1", Target: dirTarget(t, filepath.Join(dir, "eu-1"))},
		}},
	}})
	pc.deploymentOf("development", repo.Head(), fsm.StateCompleted)

	c := pc.commit(map[string]string{policyPath: rollout("        - {targets: [canary, us-9]}\n")}, "a wave names a target development does not have")
	d := pc.deploymentOf("development", c, fsm.StateFailed)
	for _, want := range []string{
		policyPath + ":17:30: development: rollout names target \"us-9\"",
		`no wave names target "eu-1"`,
	} {
		if !strings.Contains(d.Error, want) {
			t.Errorf("error %q does not say %q", d.Error, want)
		}
	}
}
