package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/analysis"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/target"
	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/honuaserver"
	"github.com/honua-io/honua-gitops/test/promserver"
)

// rolloutPolicy is staging's policy for the rollout tests: a canary wave
// baking 3s, then eu-1 and eu-2 one at a time, judged by the error rate
// Prometheus at promURL measures every second.
func rolloutPolicy(promURL, extra string) string { return rolloutPolicyBake(promURL, "3s", extra) }

// rolloutPolicyBake is rolloutPolicy with the canary's bake.
func rolloutPolicyBake(promURL, bake, extra string) string {
	return fmt.Sprintf(`apiVersion: honua.io/v1
kind: DeploymentPolicy
environments:
  staging:
    requireApproval: never
    healthCheckTimeout: 20s
    rollout:
      waves:
        - {targets: [canary], bake: %s}
        - {targets: [eu-1, eu-2], bake: 1s, maxParallel: 1}
      analysis:
        prometheus: {url: %q}
        checks:
          - name: error-rate
            query: 'sum(rate(http_requests_total{status="500",target="{{.Target}}"}[5s])) / sum(rate(http_requests_total{target="{{.Target}}"}[5s]))'
            max: 0.01
        interval: 1s
%s`, bake, promURL, extra)
}

// standIns are three stand-in Honua servers, as http targets, whose
// requests fail half the time while they serve a bundle with the roads
// layer.
type standIns struct {
	servers map[string]*honuaserver.Server
	specs   []TargetSpec
}

func newStandIns(t *testing.T) *standIns {
	t.Helper()
	s := &standIns{servers: map[string]*honuaserver.Server{}}
	for _, name := range []string{"canary", "eu-1", "eu-2"} {
		srv := honuaserver.New(t, name)
		srv.SetErrorRateOf(func(d honuaserver.Doc) float64 {
			if strings.Contains(d.Files["metadata.json"], `"roads"`) {
				return 0.5
			}
			return 0
		})
		tg, err := target.New(target.Config{Type: "http", URL: srv.URL()})
		if err != nil {
			t.Fatal(err)
		}
		s.servers[name] = srv
		s.specs = append(s.specs, TargetSpec{Name: name, Target: tg, ReloadURL: srv.ReloadURL(), HealthChecks: []string{srv.HealthURL()}})
	}
	return s
}

func (s *standIns) addrs() map[string]string {
	out := map[string]string{}
	for n, srv := range s.servers {
		out[n] = srv.MetricsAddr()
	}
	return out
}

// serves returns the commit each server serves ("" for none).
func (s *standIns) serves() map[string]string {
	out := map[string]string{}
	for n, srv := range s.servers {
		if p, ok := srv.Last(); ok {
			out[n] = p.Doc.Manifest.Commit
		} else {
			out[n] = ""
		}
	}
	return out
}

// waitForRates waits until Prometheus has a request rate of every target.
func waitForRates(t *testing.T, promURL string, names ...string) {
	t.Helper()
	c := &analysis.Client{}
	deadline := time.Now().Add(60 * time.Second)
	for _, n := range names {
		for {
			_, err := c.Query(context.Background(), promURL, fmt.Sprintf(`sum(rate(http_requests_total{target=%q}[5s]))`, n))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Prometheus has no request rate of %s: %v", n, err)
			}
			<-time.After(100 * time.Millisecond)
		}
	}
}

// TestRolloutWithPrometheus: with a real Prometheus scraping three
// stand-in servers, a good change rolls through both waves (each analysed,
// with the value measured); a change that raises the canary's error rate
// stops after the first wave, and every target holds the previous bundle
// (eu-1 and eu-2 never received the bad one).
func TestRolloutWithPrometheus(t *testing.T) {
	si := newStandIns(t)
	prom := promserver.Start(t, si.addrs())
	waitForRates(t, prom.URL, "canary", "eu-1", "eu-2")

	repo := gitserver.NewRepo(t)
	good := repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: rolloutPolicy(prom.URL, "")}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1, envs: map[string]EnvironmentSettings{"staging": {Targets: si.specs}},
		adjust: func(c *Config) { c.Now = time.Now }})
	d := pc.deploymentOf("staging", good, fsm.StateCompleted)
	if len(d.Rollout) != 2 {
		t.Fatalf("rollout record = %+v; want 2 waves", d.Rollout)
	}
	for i, want := range [][]string{{"canary"}, {"eu-1", "eu-2"}} {
		w := d.Rollout[i]
		if !slices.Equal(w.Targets, want) || w.Phase != fsm.WavePassed || w.Rounds < 1 || w.Last == nil || w.Token == 0 {
			t.Errorf("wave %d = %+v; want %v passed with analyses", i, w, want)
			continue
		}
		if r := w.Last.Results; len(r) != len(want) || r[0].Check != "error-rate" || r[0].Status != "passed" || r[0].Value != 0 {
			t.Errorf("wave %d last analysis = %+v; want error-rate 0, passed, per target", i, r)
		}
	}
	if d.Rollout[1].Token <= d.Rollout[0].Token {
		t.Errorf("wave tokens %d then %d; want a fresh, higher token per wave", d.Rollout[0].Token, d.Rollout[1].Token)
	}
	for n, c := range si.serves() {
		if c != good {
			t.Errorf("%s serves %s; want %s", n, short(c), short(good))
		}
	}

	bad := pc.commit(envFiles("staging", points, roads), "roads: the canary fails half its requests")
	d = pc.deploymentOf("staging", bad, fsm.StateRolledBack)
	if len(d.Rollout) != 1 || d.Rollout[0].Phase != fsm.WaveFailed || d.Rollout[0].LastFailed == nil {
		t.Fatalf("rollout record = %+v; want the canary wave failed and no other", d.Rollout)
	}
	f := d.Rollout[0].LastFailed.Results[0]
	if f.Target != "canary" || f.Status != "failed" || f.Value <= 0.01 {
		t.Errorf("canary's failed analysis = %+v; want error-rate above 0.01", f)
	}
	if !strings.Contains(d.Error, "error-rate of canary") {
		t.Errorf("error %q does not name the failed check", d.Error)
	}
	for n, c := range si.serves() {
		if c != good {
			t.Errorf("after the rollback %s serves %s; want the previous %s", n, short(c), short(good))
		}
	}
	for _, n := range []string{"eu-1", "eu-2"} {
		for _, p := range si.servers[n].Puts() {
			if p.Doc.Manifest.Commit == bad {
				t.Errorf("%s received the bad bundle (token %d); the rollout should have stopped at the canary", n, p.Token)
			}
		}
	}
}

// TestRolloutPrometheusUnreachable: with onError fail (the default), an
// analysis Prometheus does not answer is a failed check: the first wave
// fails and the deployment with it.
func TestRolloutPrometheusUnreachable(t *testing.T) {
	si := newStandIns(t)
	// A port nothing listens on: Prometheus is down.
	dead := promserver.Start(t, si.addrs())
	dead.Stop()
	repo := gitserver.NewRepo(t)
	c := repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: rolloutPolicy(dead.URL, "")}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1, envs: map[string]EnvironmentSettings{"staging": {Targets: si.specs}},
		adjust: func(c *Config) { c.Now = time.Now }})
	d := pc.deploymentOf("staging", c, fsm.StateFailed)
	if len(d.Rollout) != 1 || d.Rollout[0].Phase != fsm.WaveFailed || d.Rollout[0].LastFailed == nil ||
		!strings.Contains(d.Rollout[0].LastFailed.Results[0].Error, "prometheus did not answer") {
		t.Fatalf("rollout record = %+v; want the canary wave failed: prometheus did not answer", d.Rollout)
	}
	if _, ok := si.servers["eu-1"].Last(); ok {
		t.Error("eu-1 received a bundle; the rollout should have stopped at the canary")
	}
}

// TestRolloutResumesAfterFailover: the leader is stopped while the canary
// wave bakes; the new leader does not apply the canary again, analyses it
// itself before it passes, and rolls the rest out.
func TestRolloutResumesAfterFailover(t *testing.T) {
	si := newStandIns(t)
	prom := promserver.Start(t, si.addrs())
	waitForRates(t, prom.URL, "canary", "eu-1", "eu-2")
	repo := gitserver.NewRepo(t)
	good := repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: rolloutPolicyBake(prom.URL, "8s", "")}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{envs: map[string]EnvironmentSettings{"staging": {Targets: si.specs}},
		adjust: func(c *Config) { c.Now = time.Now }})
	var baking fsm.WaveRecord
	pc.WaitForState("the canary wave baking, analysed once", func(f *fsm.FSM) error {
		for _, d := range f.History("staging") {
			if len(d.Rollout) == 1 && d.Rollout[0].Phase == fsm.WaveBaking && d.Rollout[0].Rounds > 0 {
				baking = d.Rollout[0]
				return nil
			}
		}
		return fmt.Errorf("no canary wave baking yet")
	})
	old := pc.Leader()
	pc.Stop(old)
	stopped := time.Now()
	d := pc.deploymentOf("staging", good, fsm.StateCompleted)
	w := d.Rollout[0]
	if w.Token != baking.Token || w.Phase != fsm.WavePassed {
		t.Errorf("canary wave after the failover = %+v; want passed with the token it baked with, %d", w, baking.Token)
	}
	if w.Last == nil || !w.Last.Time.After(stopped) {
		t.Errorf("canary wave's last analysis = %+v; want one by the new leader, after %v", w.Last, stopped)
	}
	for n, srv := range si.servers {
		var got int
		for _, p := range srv.Accepted() {
			if p.Doc.Manifest.DeploymentID == d.ID {
				got++
			}
		}
		if got != 1 {
			t.Errorf("%s accepted %d bundles of %s; want 1: a wave is applied once", n, got, d.ID)
		}
	}
}

// waitBaking waits until a deployment of commit bakes wave i and returns
// its id.
func waitBaking(pc *pipelineCluster, commit string, i int) string {
	pc.t.Helper()
	var id string
	pc.WaitForState(fmt.Sprintf("wave %d of %s baking", i, short(commit)), func(f *fsm.FSM) error {
		for _, d := range f.History("staging") {
			if d.Commit == commit && len(d.Rollout) == i+1 && d.Rollout[i].Phase == fsm.WaveBaking {
				id = d.ID
				return nil
			}
		}
		return fmt.Errorf("not baking wave %d yet", i)
	})
	return id
}

// TestRolloutPromoteAndAbort: an approver's promote ends a bake of an
// hour at once; an abort during a bake fails the deployment, which rolls
// every target back to the previous bundle.
func TestRolloutPromoteAndAbort(t *testing.T) {
	si := newStandIns(t)
	prom := promserver.Start(t, si.addrs())
	waitForRates(t, prom.URL, "canary", "eu-1", "eu-2")
	repo := gitserver.NewRepo(t)
	good := repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: rolloutPolicyBake(prom.URL, "1h", "")}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1, envs: map[string]EnvironmentSettings{"staging": {Targets: si.specs}},
		adjust: func(c *Config) { c.Now = time.Now }})
	id := waitBaking(pc, good, 0)
	if _, err := pc.Apply(&fsm.ControlRollout{ID: id, Action: fsm.RolloutPromote, Identity: "alice", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	d := pc.deploymentOf("staging", good, fsm.StateCompleted)
	if p := d.Rollout[0].Promoted; p == nil || p.Identity != "alice" || !strings.Contains(d.Rollout[0].Message, "promoted by alice") {
		t.Errorf("canary wave = %+v; want promoted by alice", d.Rollout[0])
	}

	next := pc.commit(merge(envFiles("staging", points), map[string]string{"environments/staging/appsettings.json": `{"cache": 5}`}),
		"a harmless change")
	id = waitBaking(pc, next, 0)
	if _, err := pc.Apply(&fsm.ControlRollout{ID: id, Action: fsm.RolloutAbort, Identity: "bob", Time: time.Now(), Reason: "pager went off"}); err != nil {
		t.Fatal(err)
	}
	d = pc.deploymentOf("staging", next, fsm.StateRolledBack)
	if !strings.Contains(d.Error, "aborted by bob: pager went off") || d.Rollout[0].Phase != fsm.WaveFailed {
		t.Errorf("aborted deployment: error %q, waves %+v; want aborted by bob and the canary wave failed", d.Error, d.Rollout)
	}
	for n, c := range si.serves() {
		if c != good {
			t.Errorf("after the abort %s serves %s; want the previous %s", n, short(c), short(good))
		}
	}
}

// TestRolloutWaveTakesATokenAboveATargetsHigher: eu-1 accepted token 1000,
// which this cluster never issued (its state was restored from a backup
// older than eu-1's last apply). The wave that reaches eu-1 is fenced there,
// takes a token above 1000 through raft, records it, applies again, and the
// rollout completes, as a whole-environment apply does.
func TestRolloutWaveTakesATokenAboveATargetsHigher(t *testing.T) {
	si := newStandIns(t)
	eu1 := si.specs[slices.IndexFunc(si.specs, func(s TargetSpec) bool { return s.Name == "eu-1" })].Target
	if err := eu1.Apply(context.Background(), &target.Bundle{
		Manifest: target.Manifest{DeploymentID: "staging-99", Environment: "staging", Commit: strings.Repeat("a", 40),
			Kind: "auto", FencingToken: 1000, Time: time.Now()},
		Files: map[string][]byte{"metadata.json": []byte(`{"services": []}`)},
	}); err != nil {
		t.Fatal(err)
	}
	repo := gitserver.NewRepo(t)
	pol := `apiVersion: honua.io/v1
kind: DeploymentPolicy
environments:
  staging:
    requireApproval: never
    healthCheckTimeout: 20s
    rollout:
      waves:
        - {targets: [canary]}
        - {targets: [eu-1, eu-2], maxParallel: 2}
`
	good := repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: pol}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1, envs: map[string]EnvironmentSettings{"staging": {Targets: si.specs}},
		adjust: func(c *Config) { c.Now = time.Now }})
	d := pc.deploymentOf("staging", good, fsm.StateCompleted)
	if len(d.Rollout) != 2 || d.Rollout[1].Token <= 1000 {
		t.Fatalf("rollout record = %+v; want wave 1 recorded with a token above eu-1's 1000", d.Rollout)
	}
	for n, srv := range si.servers {
		p, ok := srv.Last()
		if !ok || p.Doc.Manifest.Commit != good {
			t.Errorf("%s serves %+v; want %s", n, p, short(good))
		}
	}
	if got := si.servers["eu-1"].Highest(); got != d.Rollout[1].Token {
		t.Errorf("eu-1's highest token = %d; want wave 1's %d", got, d.Rollout[1].Token)
	}
}
