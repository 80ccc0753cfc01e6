package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/configrepo"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/target"
	"github.com/honua-io/honua-gitops/test/gitserver"
)

// checkSmall fails the test when anything d recorded is large: its
// documents, its error and every transition's message.
func checkSmall(t *testing.T, d *fsm.Deployment, limit int) {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > limit {
		t.Errorf("deployment %s is %d bytes of JSON (plan %d, validation %d, error %d); want at most %d",
			d.ID, len(b), len(d.Plan.JSON()), len(d.Validation.JSON()), len(d.Error), limit)
	}
}

// TestFileOverTheLimitFailsValidation: a file over the default per-file
// limit fails the deployment, naming the file and the limit, and records
// nothing of it; the next commit without it deploys.
func TestFileOverTheLimitFailsValidation(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1})
	pc.deploymentOf("staging", repo.Head(), fsm.StateCompleted)

	const app = "environments/staging/appsettings.json"
	big := pc.commit(map[string]string{app: `{"Blob": "` + strings.Repeat("x", 5<<20) + `"}`}, "a 5 MiB setting")
	d := pc.deploymentOf("staging", big, fsm.StateFailed)
	for _, want := range []string{app, "5.0 MiB", "the limit is 4.0 MiB per file", "--max-file-size"} {
		if !strings.Contains(d.Error, want) {
			t.Errorf("error %q does not say %q", d.Error, want)
		}
	}
	checkSmall(t, d, 8<<10)

	fixed := pc.commit(merge(map[string]string{app: gitserver.Remove}, envFiles("staging", points, roads)), "drop the blob, add roads")
	pc.deploymentOf("staging", fixed, fsm.StateCompleted)
}

// TestConfiguredLimitsApply: the reconciler reads the repository under its
// configured limits, the policy included.
func TestConfiguredLimitsApply(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1, adjust: func(c *Config) {
		c.ConfigRepo = configrepo.Config{MaxFileSize: 2048}
	}})
	pc.deploymentOf("staging", repo.Head(), fsm.StateCompleted)

	c := pc.commit(map[string]string{policyPath: testPolicy + "# " + strings.Repeat("x", 2048) + "\n"}, "a long comment in the policy")
	d := pc.deploymentOf("staging", c, fsm.StateFailed)
	for _, want := range []string{policyPath, "the limit is 2.0 KiB per file"} {
		if !strings.Contains(d.Error, want) {
			t.Errorf("error %q does not say %q", d.Error, want)
		}
	}
}

// TestPlanTooLargeToRecordFailsTheDeployment: a plan that makes its
// transition larger than the cluster's cap on a command fails the
// deployment with a message saying so, instead of leaving it in
// Validating; a newer commit then deploys.
func TestPlanTooLargeToRecordFailsTheDeployment(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1, clusterAdjust: func(c *cluster.Config) {
		c.MaxCommandSize = cluster.MinCommandSize
	}})
	pc.deploymentOf("staging", repo.Head(), fsm.StateCompleted)

	settings := map[string]any{}
	for i := range 1500 {
		settings[fmt.Sprintf("Setting%04d", i)] = fmt.Sprintf("value %d", i)
	}
	app, _ := json.Marshal(settings)
	const appFile = "environments/staging/appsettings.json"
	many := pc.commit(map[string]string{appFile: string(app)}, "1500 settings")
	d := pc.deploymentOf("staging", many, fsm.StateFailed)
	t.Logf("deployment %s failed: %s", d.ID, lastMessage(d))
	for _, want := range []string{"plan", "too large", "max-command-size"} {
		if !strings.Contains(lastMessage(d), want) || !strings.Contains(d.Error, want) {
			t.Errorf("message %q and error %q do not both say %q", lastMessage(d), d.Error, want)
		}
	}
	if len(d.Plan.JSON()) != 0 {
		t.Errorf("failed deployment records a %d-byte plan; want none", len(d.Plan.JSON()))
	}

	next := pc.commit(map[string]string{appFile: `{"Setting0001": "value"}`}, "one setting")
	pc.deploymentOf("staging", next, fsm.StateCompleted)
}

// TestValidationReportIsBounded: a commit with a thousand problems fails
// with the first hundred recorded and the others counted, and an error of
// bounded size.
func TestValidationReportIsBounded(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "initial")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1})
	pc.deploymentOf("staging", repo.Head(), fsm.StateCompleted)

	var layers []layer
	for i := range 1000 {
		layers = append(layers, layer{ID: fmt.Sprintf("layer-%04d", i), SRID: -1})
	}
	c := pc.commit(envFiles("staging", layers...), "a thousand bad layers")
	d := pc.deploymentOf("staging", c, fsm.StateFailed)
	var rep configrepo.Report
	if err := json.Unmarshal(d.Validation.JSON(), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != configrepo.MaxReportProblems || rep.Omitted != 1000-configrepo.MaxReportProblems {
		t.Errorf("report lists %d problems and omits %d; want %d and %d", len(rep.Problems), rep.Omitted,
			configrepo.MaxReportProblems, 1000-configrepo.MaxReportProblems)
	}
	if !strings.Contains(lastMessage(d), "1000 problems") || !strings.Contains(d.Error, "and 990 more") {
		t.Errorf("message %q, error %.200q…; want 1000 problems counted and the error to say how many it left out", lastMessage(d), d.Error)
	}
	checkSmall(t, d, 64<<10)
}

// TestLongTargetOutputIsCut: a command that prints long lines and fails
// leaves a bounded error and messages, that keep its last output.
func TestLongTargetOutputIsCut(t *testing.T) {
	repo := gitserver.NewRepo(t)
	c := repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "initial")
	script := `for i in $(seq 30); do head -c 50000 /dev/zero | tr '\0' x; echo " line $i"; done; echo "the last words"; exit 3`
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1, envs: map[string]EnvironmentSettings{
		"staging": {Targets: []TargetSpec{{Target: newTarget(t, target.Config{Type: "exec", Command: []string{"sh", "-c", script}})}}},
	}})
	d := pc.deploymentOf("staging", c, fsm.StateFailed)
	t.Logf("deployment %s failed with a %d-byte error: %.120q … %q", d.ID, len(d.Error), d.Error, d.Error[max(0, len(d.Error)-60):])
	if !strings.Contains(d.Error, "the last words") || !strings.Contains(d.Error, "exec sh") {
		t.Errorf("error %.300q… does not keep the target's name and its last output", d.Error)
	}
	checkSmall(t, d, 32<<10)
}

// recordingCluster records the commands the reconciler applies.
type recordingCluster struct{ applied []fsm.Command }

func (c *recordingCluster) Apply(_ context.Context, cmd fsm.Command) (any, error) {
	c.applied = append(c.applied, cmd)
	return nil, nil
}
func (c *recordingCluster) VerifyLeader() error { return nil }

// noSource is a Store whose repository status was never recorded.
type noSource struct{ Store }

func (noSource) Source() fsm.SourceStatus { return fsm.SourceStatus{} }

// TestLongGitErrorIsBounded: the error of a failed poll, replicated for
// every node's /v1/status, is cut like a deployment's error: git's text
// (a hook's output, a server's page) can be of any length.
func TestLongGitErrorIsBounded(t *testing.T) {
	rc := &recordingCluster{}
	r := New(Config{}, rc, noSource{})
	long := "fetch: " + strings.Repeat("remote: hook output line\n", 20000)
	r.recordSource(context.Background(), "", fmt.Errorf("%s", long), nil)
	if len(rc.applied) != 1 {
		t.Fatalf("applied %d commands; want the repository status", len(rc.applied))
	}
	c, ok := rc.applied[0].(*fsm.SetSourceStatus)
	if !ok || c.Error == "" || len(c.Error) > maxError || !strings.HasPrefix(c.Error, "fetch: remote") {
		t.Errorf("applied %T with an error of %d bytes; want SetSourceStatus with the start of git's error, at most %d bytes",
			rc.applied[0], len(c.Error), maxError)
	}
}
