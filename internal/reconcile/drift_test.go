package reconcile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/honua-io/honua-gitops/internal/cluster/clustertest"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/target"
	"github.com/honua-io/honua-gitops/test/gitserver"
)

// selfHealPolicy lets staging heal itself.
var selfHealPolicy = strings.Replace(testPolicy, "  staging:\n    requireApproval: never\n",
	"  staging:\n    requireApproval: never\n    selfHeal: true\n", 1)

// driftInterval is long: the tests ask for checks (checkDrift) instead.
func driftInterval(c *Config) { c.DriftInterval = time.Hour }

// checkDrift asks every reconciler for a drift check now; only the
// leader's runs.
func (pc *pipelineCluster) checkDrift() {
	for _, r := range pc.recs {
		r.CheckDriftNow()
	}
}

// waitDrift asks for checks until env's drift, on every node, passes cond.
func (pc *pipelineCluster) waitDrift(env, what string, cond func(*fsm.Drift) error) *fsm.Environment {
	pc.t.Helper()
	var found *fsm.Environment
	clustertest.WaitFor(pc.t, what, func() error {
		pc.checkDrift()
		for _, n := range pc.Running() {
			e, ok := n.FSM.Environment(env)
			if !ok {
				return fmt.Errorf("%s: no environment %s", n.ID(), env)
			}
			if err := cond(e.Drift); err != nil {
				return fmt.Errorf("%s: %w", n.ID(), err)
			}
			found = e
		}
		return nil
	})
	return found
}

// driftOf wants a drift naming exactly files.
func driftOf(files ...string) func(*fsm.Drift) error {
	return func(d *fsm.Drift) error {
		if d == nil || !slices.Equal(d.Files, files) {
			return fmt.Errorf("drift %+v; want files %v", d, files)
		}
		return nil
	}
}

func noDrift(d *fsm.Drift) error {
	if d != nil {
		return fmt.Errorf("drift %+v; want none", d)
	}
	return nil
}

// editFile replaces a served file by hand (bundle files may be read-only).
func editFile(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	_ = os.Remove(p)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDriftRecordedAndCleared: a file edited by hand in a directory
// target, then one added, is recorded as drift naming them, once; putting
// them back clears it. Without selfHeal nothing is redeployed.
func TestDriftRecordedAndCleared(t *testing.T) {
	repo := gitserver.NewRepo(t)
	files := merge(envFiles("staging", points), map[string]string{policyPath: testPolicy})
	c := repo.Commit(files, "initial")
	path := filepath.Join(t.TempDir(), "staging")
	pc := startPipeline(t, repo, pipelineOptions{adjust: driftInterval, envs: map[string]EnvironmentSettings{
		"staging": {Targets: []TargetSpec{{Target: dirTarget(t, path)}}},
	}})
	d := pc.deploymentOf("staging", c, fsm.StateCompleted)
	pc.waitDrift("staging", "no drift of a fresh deployment", noDrift)

	original := files["environments/staging/metadata.json"]
	editFile(t, path, "metadata.json", `{"edited": "by hand"}`)
	e := pc.waitDrift("staging", "drift of metadata.json", driftOf("metadata.json"))
	if e.Drift.Deployment != d.ID || len(e.Drift.Targets) != 1 || !strings.Contains(e.Drift.Targets[0], path) {
		t.Errorf("drift = %+v; want one of %s on the directory target %s", e.Drift, d.ID, path)
	}
	index := e.Drift.Index
	editFile(t, path, "extra.json", `{}`)
	e = pc.waitDrift("staging", "drift of metadata.json and extra.json", driftOf("extra.json", "metadata.json"))
	if e.Drift.Index != index {
		t.Errorf("drift index = %d after more files; want the first recording's, %d", e.Drift.Index, index)
	}

	// Checks that find the same drift record nothing.
	for range 3 {
		pc.checkDrift()
	}
	pc.waitDrift("staging", "the same drift", driftOf("extra.json", "metadata.json"))
	if e2, _ := pc.Leader().FSM.Environment("staging"); e2.Drift.Updated != e.Drift.Updated {
		t.Errorf("the same drift was recorded again (updated %v, was %v)", e2.Drift.Updated, e.Drift.Updated)
	}

	editFile(t, path, "metadata.json", original)
	if err := os.Remove(filepath.Join(path, "extra.json")); err != nil {
		t.Fatal(err)
	}
	pc.waitDrift("staging", "drift cleared", noDrift)
	if n := pc.historyLen("staging"); n != 1 {
		t.Errorf("staging has %d deployments; want 1: without selfHeal drift is only recorded", n)
	}
	for i, r := range pc.recs {
		if n := testutil.ToFloat64(r.drift.errors.WithLabelValues("staging")); n != 0 {
			t.Errorf("node %d counted %v drift check errors; want none", i, n)
		}
	}
}

// TestSelfHeal: with selfHeal, a hand edit is healed by a self-heal
// deployment of the deployed commit, through the pipeline; the file is
// restored and the drift cleared.
func TestSelfHeal(t *testing.T) {
	repo := gitserver.NewRepo(t)
	files := merge(envFiles("staging", points), map[string]string{policyPath: selfHealPolicy})
	c := repo.Commit(files, "initial")
	path := filepath.Join(t.TempDir(), "staging")
	pc := startPipeline(t, repo, pipelineOptions{adjust: driftInterval, envs: map[string]EnvironmentSettings{
		"staging": {Targets: []TargetSpec{{Target: dirTarget(t, path)}}},
	}})
	first := pc.deploymentOf("staging", c, fsm.StateCompleted)

	editFile(t, path, "metadata.json", `{"edited": "by hand"}`)
	var heal *fsm.Deployment
	pc.WaitForState("a self-heal deployment completed and the drift cleared", func(f *fsm.FSM) error {
		pc.checkDrift()
		e, _ := f.Environment("staging")
		d, ok := f.Deployment(e.DeployedDeployment)
		if !ok {
			return fmt.Errorf("deployed %s is not held", e.DeployedDeployment)
		}
		if d.Kind != fsm.KindSelfHeal || d.State != fsm.StateCompleted {
			return fmt.Errorf("deployed %s (kind %s, %s); want a Completed self-heal", d.ID, d.Kind, d.State)
		}
		if e.Drift != nil {
			return fmt.Errorf("drift %+v; want it cleared", e.Drift)
		}
		heal = d
		return nil
	})
	if heal.Commit != c || heal.Initiator != "drift" || !strings.Contains(heal.Transitions[0].Message, "metadata.json") {
		t.Errorf("self-heal %s = commit %s by %s (%q); want the deployed commit by drift, naming the file",
			heal.ID, short(heal.Commit), heal.Initiator, heal.Transitions[0].Message)
	}
	want := []fsm.DeploymentState{fsm.StatePending, fsm.StateValidating, fsm.StatePlanning, fsm.StateBackingUp,
		fsm.StateApplying, fsm.StatePostValidating, fsm.StateCompleted}
	if got := statesOf(heal); !slices.Equal(got, want) {
		t.Errorf("self-heal states = %v; want the whole pipeline %v", got, want)
	}
	if heal.Backup == nil || heal.Backup.DeploymentID != first.ID {
		t.Errorf("self-heal backup = %+v; want %s", heal.Backup, first.ID)
	}
	got, err := os.ReadFile(filepath.Join(path, "metadata.json"))
	if err != nil || !bytes.Equal(got, []byte(files["environments/staging/metadata.json"])) {
		t.Errorf("metadata.json after the self-heal = %q, %v; want the repository's", got, err)
	}
	if m := served(t, path); m.DeploymentID != heal.ID || m.Kind != string(fsm.KindSelfHeal) {
		t.Errorf("served manifest = %+v; want the self-heal's", m)
	}
	if n := pc.historyLen("staging"); n != 2 {
		t.Errorf("staging has %d deployments; want 2 (one self-heal)", n)
	}
}

// digestServer is an http target that keeps what was PUT to it, and
// answers the digest request from it, or with an error while broken.
type digestServer struct {
	mu  sync.Mutex
	doc struct {
		Manifest target.Manifest
		Files    map[string]string
	}
	broken bool
	gets   int
}

func (s *digestServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Method == http.MethodPut:
		if err := json.NewDecoder(r.Body).Decode(&s.doc); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	case r.Method == http.MethodGet && r.Header.Get("Accept") == target.DigestMediaType:
		s.gets++
		if s.broken {
			http.Error(w, "disk on fire", http.StatusInternalServerError)
			return
		}
		files := map[string]string{}
		for name, text := range s.doc.Files {
			sum := sha256.Sum256([]byte(text))
			files[name] = hex.EncodeToString(sum[:])
		}
		_ = json.NewEncoder(w).Encode(target.Digest{Manifest: &s.doc.Manifest, Files: files})
	default:
		http.Error(w, "unexpected "+r.Method, http.StatusBadRequest)
	}
}

// TestHTTPTargetDrift: an http target that reports its digest drifts when
// its files change; one that cannot answer is not drift, and is counted.
func TestHTTPTargetDrift(t *testing.T) {
	repo := gitserver.NewRepo(t)
	c := repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "initial")
	ds := &digestServer{}
	srv := httptest.NewServer(ds)
	t.Cleanup(srv.Close)
	tg, err := target.New(target.Config{Type: "http", URL: srv.URL + "/bundle"})
	if err != nil {
		t.Fatal(err)
	}
	pc := startPipeline(t, repo, pipelineOptions{adjust: driftInterval, envs: map[string]EnvironmentSettings{
		"staging": {Targets: []TargetSpec{{Target: tg}}},
	}})
	pc.deploymentOf("staging", c, fsm.StateCompleted)
	pc.waitDrift("staging", "no drift of a fresh deployment", noDrift)

	ds.mu.Lock()
	ds.broken = true
	ds.mu.Unlock()
	errorsCounted := func() float64 { // only the leader's counts
		n := 0.0
		for _, r := range pc.recs {
			n += testutil.ToFloat64(r.drift.errors.WithLabelValues("staging"))
		}
		return n
	}
	clustertest.WaitFor(t, "a drift check error counted", func() error {
		pc.checkDrift()
		if n := errorsCounted(); n < 1 {
			return fmt.Errorf("%v errors counted", n)
		}
		return nil
	})
	if e, _ := pc.Leader().FSM.Environment("staging"); e.Drift != nil {
		t.Errorf("drift %+v recorded for a target that cannot answer; want none", e.Drift)
	}

	ds.mu.Lock()
	ds.broken = false
	ds.doc.Files["datasources.json"] = `{"edited": true}`
	ds.mu.Unlock()
	e := pc.waitDrift("staging", "drift of datasources.json", driftOf("datasources.json"))
	if !strings.Contains(e.Drift.Targets[0], srv.URL) {
		t.Errorf("drift targets = %v; want the http target", e.Drift.Targets)
	}
}

// TestDriftAcrossFailover: a new leader checks at once; finding the drift
// the old one recorded, it records nothing new (same since, same index),
// and it clears the drift once the file is put back.
func TestDriftAcrossFailover(t *testing.T) {
	repo := gitserver.NewRepo(t)
	files := merge(envFiles("staging", points), map[string]string{policyPath: testPolicy})
	c := repo.Commit(files, "initial")
	path := filepath.Join(t.TempDir(), "staging")
	pc := startPipeline(t, repo, pipelineOptions{adjust: driftInterval, envs: map[string]EnvironmentSettings{
		"staging": {Targets: []TargetSpec{{Target: dirTarget(t, path)}}},
	}})
	pc.deploymentOf("staging", c, fsm.StateCompleted)
	editFile(t, path, "metadata.json", `{"edited": "by hand"}`)
	before := pc.waitDrift("staging", "drift of metadata.json", driftOf("metadata.json")).Drift

	old := pc.Leader()
	pc.Stop(old)
	leader := pc.Leader()
	if leader == old {
		t.Fatal("the stopped node still leads")
	}
	pc.waitDrift("staging", "the same drift under the new leader", driftOf("metadata.json"))
	if e, _ := leader.FSM.Environment("staging"); e.Drift.Index != before.Index || !e.Drift.Since.Equal(before.Since) {
		t.Errorf("drift under the new leader = %+v; want the one recorded before, %+v", e.Drift, before)
	}

	editFile(t, path, "metadata.json", files["environments/staging/metadata.json"])
	pc.waitDrift("staging", "drift cleared by the new leader", noDrift)
}

// TestDriftOfAnOldDeploymentRechecked: once another deployment completes,
// the drift recorded of the one before is checked again at once, with no
// wait for the next interval, and cleared as the new bundle holds.
func TestDriftOfAnOldDeploymentRechecked(t *testing.T) {
	repo := gitserver.NewRepo(t)
	c := repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "initial")
	path := filepath.Join(t.TempDir(), "staging")
	pc := startPipeline(t, repo, pipelineOptions{adjust: driftInterval, envs: map[string]EnvironmentSettings{
		"staging": {Targets: []TargetSpec{{Target: dirTarget(t, path)}}},
	}})
	pc.deploymentOf("staging", c, fsm.StateCompleted)
	editFile(t, path, "metadata.json", `{"edited": "by hand"}`)
	pc.waitDrift("staging", "drift of metadata.json", driftOf("metadata.json"))

	next := pc.commit(envFiles("staging", points, roads), "add roads")
	d := pc.deploymentOf("staging", next, fsm.StateCompleted)
	pc.WaitForState("the old drift cleared without a check asked for", func(f *fsm.FSM) error {
		e, _ := f.Environment("staging")
		if e.DeployedDeployment != d.ID || e.Drift != nil {
			return fmt.Errorf("deployed %s, drift %+v; want %s and none", e.DeployedDeployment, e.Drift, d.ID)
		}
		return nil
	})
}
