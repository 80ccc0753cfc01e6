package e2e

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/harness"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// A push webhook sent to a follower names the pushed commit. The leader
// uses it only to fetch at once, without asking the remote for the head
// first; what it deploys is the branch head it fetched, never the commit a
// delivery names: not an older commit of the branch, not a forged id.
func TestWebhookNamingACommitDeploysTheBranchHead(t *testing.T) {
	skipIfShort(t)
	const secret = "webhook-secret"
	repo := gitserver.NewRepo(t)
	first := repo.Commit(sampleconfig.Merge(sampleconfig.Env("staging", sampleconfig.Points),
		sampleconfig.WithPolicy(sampleconfig.NeverApprove("staging"))), "staging")
	daemon := gitserver.StartDaemon(t, repo.Root())
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "generic-secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	// An hour between polls: only a webhook explains a deployment.
	cfg := fmt.Sprintf(`repository:
  url: %s
  branch: main
  pollInterval: 1h
webhooks:
  genericSecretFile: %s
environments:
  staging:
    targets:
      - type: directory
        path: %s
`, daemon.URL(repo.Name()), secretFile, filepath.Join(dir, "staging"))
	config := filepath.Join(dir, "honuad.yaml")
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	c := harness.Start(t, 3, harness.Options{Args: []string{"--config", config}})
	leader := waitForHealthy(t, c, "n1", "n2", "n3")
	waitCompleted(t, leader, first)
	followers, err := c.Followers()
	if err != nil || len(followers) == 0 {
		t.Fatalf("no follower: %v", err)
	}
	follower := followers[0]

	push := func(named string) {
		t.Helper()
		body := []byte(`{"ref": "refs/heads/main", "after": "` + named + `"}`)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		req, err := http.NewRequest(http.MethodPost, "http://"+follower.APIAddr()+"/v1/webhooks/generic", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Honua-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		resp, err := apiClient.Do(req)
		if err != nil {
			t.Fatalf("webhook to %s: %v", follower, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("webhook to %s naming %.12s = %d; want 202", follower, named, resp.StatusCode)
		}
	}

	// The webhook names the new head: fetched at once, deployed.
	lsRemotes := lsRemoteCount(t, leader)
	head := repo.Commit(sampleconfig.Env("staging", sampleconfig.Points, sampleconfig.Roads), "roads")
	push(head)
	waitCompleted(t, follower, head)
	if now, _ := c.Leader(); now == leader {
		if n := lsRemoteCount(t, leader); n != lsRemotes {
			t.Errorf("the leader made %v ls-remote steps for a webhook naming the new head; want none (it fetches at once)", n-lsRemotes)
		}
	} else {
		t.Logf("leadership moved from %s to %s: its new leader's first poll lists the remote, not counted", leader, now)
	}

	// Webhooks naming an older commit of the branch, and a forged id:
	// only the head is deployed.
	older := repo.Commit(sampleconfig.Env("staging", sampleconfig.Roads), "only roads")
	head = repo.Commit(sampleconfig.Env("staging", sampleconfig.Points), "points again")
	push(older)
	push("0123456789abcdef0123456789abcdef01234567")
	waitCompleted(t, follower, head)
	var list []struct {
		ID     string `json:"id"`
		Commit string `json:"commit"`
	}
	if err := getJSON(follower, "/v1/deployments?env=staging", &list); err != nil {
		t.Fatal(err)
	}
	for _, d := range list {
		if d.Commit == older {
			t.Errorf("deployment %s of %.12s, which a webhook named but the branch head was not", d.ID, older)
		}
	}
}

// waitCompleted waits until n lists staging's newest deployment of commit
// as Completed.
func waitCompleted(t *testing.T, n *harness.Node, commit string) {
	t.Helper()
	err := harness.Poll(waitTimeout, fmt.Sprintf("staging's deployment of %.12s Completed on %s", commit, n), func() error {
		var list []struct {
			ID     string `json:"id"`
			Commit string `json:"commit"`
			State  string `json:"state"`
		}
		if err := getJSON(n, "/v1/deployments?env=staging&limit=1", &list); err != nil {
			return err
		}
		if len(list) == 0 || list[0].Commit != commit || list[0].State != "Completed" {
			return fmt.Errorf("newest: %+v", list)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// lsRemoteCount reads the ls-remote steps n made from its metrics.
func lsRemoteCount(t *testing.T, n *harness.Node) float64 {
	t.Helper()
	resp, err := apiClient.Get("http://" + n.APIAddr() + "/metrics")
	if err != nil {
		t.Fatalf("%s: GET /metrics: %v", n, err)
	}
	defer resp.Body.Close()
	const series = `honua_git_requests_total{op="ls-remote",result="ok"} `
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %s%s: %v", n, series, v, err)
			}
			return f
		}
	}
	return 0
}
