package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/test/harness"
)

// rolloutE2EPolicy rolls production out to the canary first, baking an
// hour (only a promote ends it), then to eu-1.
const rolloutE2EPolicy = `apiVersion: honua.io/v1
kind: DeploymentPolicy
environments:
  production:
    requireApproval: never
    rollout:
      waves:
        - {targets: [canary], bake: 1h}
        - {targets: [eu-1]}
  development:
    requireApproval: never
`

// TestRolloutCommandsOnACluster runs honuactl rollout, promote and abort
// against three real nodes, each through a follower (issue 16): production
// has two named directory targets and a rollout whose canary wave bakes an
// hour. `rollout` shows the canary baking; `rollout --watch`, started
// then, follows the deployment until it leaves Applying; `promote` by an
// approver ends the bake and the rollout completes on both targets. The
// next commit's canary wave is aborted with `abort --reason` (refused
// without one): the deployment rolls back, the canary serves the previous
// bundle again, and eu-1 never received the aborted one.
func TestRolloutCommandsOnACluster(t *testing.T) {
	skipIfShort(t)
	s := newScenarioFixtureWith(t, scenarioOptions{policy: rolloutE2EPolicy})
	canary := s.targetPath("production-canary")
	s.writeConfigTargets(t, fmt.Sprintf("      - {name: canary, type: directory, path: %s}\n      - {name: eu-1, type: directory, path: %s}",
		canary, s.targetPath("production")))
	s.start()

	first := s.deploymentOf(t, "production", s.first)
	waitWave(t, s, first, 0, "baking")
	follower := s.follower(t)
	res := s.ctlOK(t, "alice", follower.APIAddr(), "rollout", first)
	if !strings.Contains(res.stdout, "wave 0  baking    targets canary") || strings.Contains(res.stdout, "wave 1") {
		t.Errorf("honuactl rollout %s through follower %s printed:\n%s\nwant wave 0 baking on the canary and no wave 1", first, follower, res.stdout)
	}
	if got := readMeta(t, s.targetPath("production")); got != "" {
		t.Errorf("eu-1 serves %q while the canary bakes; want nothing yet", got)
	}

	watched := make(chan ctlResult, 1)
	go func() { watched <- s.ctl(t, "admin", s.addrs(), "rollout", first, "--watch") }()
	res = s.ctlOK(t, "alice", s.follower(t).APIAddr(), "promote", first)
	if !strings.Contains(res.stdout, "Promoted the baking wave of "+first) {
		t.Errorf("honuactl promote printed %q", res.stdout)
	}
	s.waitFor(t, first, "Completed")
	w := <-watched
	if w.code != 0 || !strings.Contains(w.stdout, "wave 1  passed") {
		t.Errorf("honuactl rollout --watch: %s; want it to end, showing wave 1 passed", w)
	}
	var waves []api.Wave
	s.ctlJSON(t, &waves, "rollout", first)
	if len(waves) != 2 || waves[0].Promoted == nil || waves[0].Promoted.Identity != "alice" || waves[1].Phase != "passed" ||
		waves[1].Token <= waves[0].Token {
		t.Errorf("rollout of %s = %+v; want the canary promoted by alice, then eu-1 passed with a higher token", first, waves)
	}
	for _, path := range []string{canary, s.targetPath("production")} {
		if got := readMeta(t, path); got != s.files["production"][s.first] {
			t.Errorf("%s serves %q; want the first commit's metadata", path, got)
		}
	}

	second := s.commit(t, "production", "add sample-lines", samplePoints, sampleLines)
	id := s.deploymentOf(t, "production", second)
	waitWave(t, s, id, 0, "baking")
	if res := s.ctl(t, "bob", s.follower(t).APIAddr(), "abort", id); res.code == 0 || !strings.Contains(res.stderr, "--reason") {
		t.Errorf("honuactl abort without --reason: %s; want it refused, naming --reason", res)
	}
	res = s.ctlOK(t, "bob", s.follower(t).APIAddr(), "abort", id, "--reason", "canary looks wrong")
	if !strings.Contains(res.stdout, "Aborted the rollout of "+id+": canary looks wrong") {
		t.Errorf("honuactl abort printed %q", res.stdout)
	}
	d := s.waitFor(t, id, "RolledBack")
	if !strings.Contains(d.Error, "canary looks wrong") {
		t.Errorf("aborted deployment's error %q does not give the reason", d.Error)
	}
	var aborted api.Deployment
	s.ctlJSON(t, &aborted, "deployment", id)
	if a := aborted.RolloutAbort; a == nil || a.Identity != "bob" || len(aborted.Rollout) != 1 {
		t.Errorf("aborted deployment: abort %+v, %d waves; want bob's abort after the canary wave only", a, len(aborted.Rollout))
	}
	if got := readMeta(t, canary); got != s.files["production"][s.first] {
		t.Errorf("after the abort the canary serves %q; want the first commit's metadata back", got)
	}
	if entries, err := os.ReadDir(filepath.Join(filepath.Dir(s.targetPath("production")), ".production.honua", "bundles")); err != nil {
		t.Fatal(err)
	} else {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), id+"-") {
				t.Errorf("eu-1 holds bundle %s of the aborted deployment; the rollout should have stopped at the canary", e.Name())
			}
		}
	}
}

// writeConfigTargets rewrites honuad's config file with production's
// targets replaced by items (before start).
func (s *scenarioFixture) writeConfigTargets(t *testing.T, items string) {
	t.Helper()
	b, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	old := "      - type: directory\n        path: " + s.targetPath("production") + "\n"
	if !strings.Contains(string(b), old) {
		t.Fatalf("config has no production target to replace:\n%s", b)
	}
	if err := os.WriteFile(s.config, []byte(strings.Replace(string(b), old, items+"\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitWave waits until honuactl rollout shows wave i of deployment id in
// phase.
func waitWave(t *testing.T, s *scenarioFixture, id string, i int, phase string) {
	t.Helper()
	if err := harness.Poll(waitTimeout, fmt.Sprintf("wave %d of %s %s", i, id, phase), func() error {
		res := s.ctl(t, "admin", s.addrs(), "rollout", id, "-o", "json")
		var waves []api.Wave
		if res.code != 0 {
			return fmt.Errorf("%s", res)
		}
		if err := json.Unmarshal([]byte(res.stdout), &waves); err != nil {
			return err
		}
		if len(waves) <= i || string(waves[i].Phase) != phase {
			return fmt.Errorf("waves %+v", waves)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// readMeta returns the metadata.json a directory target serves, "" when it
// serves nothing.
func readMeta(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(path, "metadata.json"))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
