package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/harness"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// TestSnapshotRestoreIntoNewCluster is the disaster recovery of
// docs/operations.md when every node is lost: a backup taken earlier is
// restored into a cluster built anew, which then deploys the branch head to
// the same directory target. The old cluster deployed after the backup, so
// the target has accepted fencing tokens (raft indexes of the old cluster)
// above the backup's; the new cluster's must still be higher, or the target
// refuses every apply.
func TestSnapshotRestoreIntoNewCluster(t *testing.T) {
	skipIfShort(t)
	repo := gitserver.NewRepo(t)
	first := repo.Commit(map[string]string{
		"environments/development/metadata.json":    scenarioMetadata(samplePoints),
		"environments/development/datasources.json": sampleconfig.DataSources,
		sampleconfig.PolicyPath:                     sampleconfig.NeverApprove("development"),
	}, "development with one layer")
	targets := t.TempDir()
	target := filepath.Join(targets, "development")
	config := filepath.Join(t.TempDir(), "honuad.yaml")
	cfg := fmt.Sprintf("repository:\n  url: %s\n  pollInterval: 1s\nenvironments:\n  development:\n    targets:\n      - type: directory\n        path: %s\n",
		repo.Path(), target)
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := harness.Options{Args: []string{"--config", config}}

	old := harness.Start(t, 1, opts)
	n := waitForHealthy(t, old, "n1")
	waitDeployed(t, n, first)
	backup := getBody(t, n, "/v1/snapshot")

	// The old cluster goes on deploying after the backup, then is lost.
	var head string
	var token uint64
	for i := range 3 {
		head = repo.Commit(map[string]string{
			"environments/development/metadata.json": scenarioMetadata(scenarioLayer{id: "sample-points",
				title: fmt.Sprintf("Points, revision %d", i+1), geometry: "Point", table: "public.sample_points", nameAlias: "Name"}),
		}, fmt.Sprintf("retitle the points, revision %d", i+1))
		token = waitDeployed(t, n, head).FencingToken
	}
	n.Kill()
	t.Logf("the old cluster deployed %.12s with fencing token %d after the backup, and was lost", head, token)

	// A new cluster, with new data dirs and the same configuration, gets
	// the backup and deploys the branch head to the same target.
	fresh := harness.Start(t, 1, opts)
	m := waitForHealthy(t, fresh, "n1")
	postBody(t, m, "/v1/snapshot", backup)
	d := waitDeployed(t, m, head)
	t.Logf("the new cluster deployed %.12s as %s with fencing token %d", head, d.ID, d.FencingToken)
}

// waitDeployed waits until node n shows a deployment of commit to
// development in a terminal state, and fails the test unless it is
// Completed.
func waitDeployed(t *testing.T, n *harness.Node, commit string) *deploymentRecord {
	t.Helper()
	var d *deploymentRecord
	err := harness.Poll(waitTimeout, fmt.Sprintf("%s to finish a deployment of %.12s", n, commit), func() error {
		var list []struct{ ID, Commit, State string }
		if err := getJSON(n, "/v1/deployments?env=development&limit=1000", &list); err != nil {
			return err
		}
		i := slices.IndexFunc(list, func(s struct{ ID, Commit, State string }) bool { return s.Commit == commit })
		if i < 0 {
			return fmt.Errorf("no deployment of %.12s among %d", commit, len(list))
		}
		got, err := getDeployment(n, list[i].ID)
		if err != nil {
			return err
		}
		d = got
		switch got.State {
		case "Completed", "Failed", "RolledBack":
			return nil
		}
		return fmt.Errorf("%s", got)
	})
	if err != nil {
		t.Fatal(err)
	}
	if d.State != "Completed" {
		t.Fatalf("deployment %s", d)
	}
	return d
}

// getBody GETs path from node n and returns the 200 answer's body.
func getBody(t *testing.T, n *harness.Node, path string) []byte {
	t.Helper()
	resp, err := apiClient.Get("http://" + n.APIAddr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: GET %s: %d %s", n, path, resp.StatusCode, b)
	}
	return b
}

// postBody POSTs body to path on node n and fails the test unless it is
// answered 200.
func postBody(t *testing.T, n *harness.Node, path string, body []byte) {
	t.Helper()
	resp, err := apiClient.Post("http://"+n.APIAddr()+path, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: POST %s: %d %s", n, path, resp.StatusCode, b)
	}
}
