package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

// deployMode is one way a pushed commit reaches the cluster.
type deployMode struct {
	name         string
	pollInterval time.Duration
	webhook      bool // send the generic webhook to a follower after each push
}

// deployResult is one mode's figures: push returned → deployment listed.
type deployResult struct {
	mode    deployMode
	figures []time.Duration
	missed  int // commits whose deployment did not appear in time
}

const (
	clusterTimeout = 60 * time.Second
	// settleTimeout bounds the wait for a deployment to stop moving before
	// the next push.
	settleTimeout = 30 * time.Second
)

// webhookSecret signs the generic webhook.
var webhookSecret = []byte("pipeline-bench-secret")

// api is the benchmark's HTTP client; a short timeout, so that a stuck node
// shows as a miss rather than a hang.
var api = &http.Client{Timeout: 2 * time.Second}

// benchDeploy starts a three-node cluster that watches the configuration
// repository in the given mode, pushes commits to development one at a
// time and times each until its deployment is listed on a follower. It
// stops the cluster before returning.
func benchDeploy(r *runner, s *setup, m deployMode, commits int) deployResult {
	res := deployResult{mode: m}
	dir := r.TempDir()
	secretFile := filepath.Join(dir, "generic-secret")
	if err := os.WriteFile(secretFile, webhookSecret, 0o600); err != nil {
		r.Fatalf("write webhook secret: %v", err)
	}
	cfgFile := filepath.Join(dir, "honuad.yaml")
	cfg := fmt.Sprintf(`repository:
  url: %s
  branch: main
  pollInterval: %s
  timeout: 10s
webhooks:
  genericSecretFile: %s
`, s.daemon.URL(s.config.Name()), m.pollInterval, secretFile)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		r.Fatalf("write honuad config: %v", err)
	}

	how := "no webhook"
	if m.webhook {
		how = "generic webhook to a follower after each push"
	}
	fmt.Printf("-- %s: pollInterval %v, %s\n", m.name, m.pollInterval, how)
	started := time.Now()
	c := harness.Start(r, 3, harness.Options{Args: []string{"--config", cfgFile}})
	defer stopCluster(c)
	leader, err := c.WaitForLeader(clusterTimeout)
	if err != nil {
		r.Fatalf("%s: %v", m.name, err)
	}
	followers, err := c.Followers()
	if err != nil || len(followers) == 0 {
		r.Fatalf("%s: no follower to talk to (%v)", m.name, err)
	}
	node := followers[0]
	// The leader polls when it takes office: wait for the deployment of the
	// current head, so the timed commits start from a quiet cluster.
	head := s.config.Head()
	if _, err := waitForDeployment(node, head, clusterTimeout); err != nil {
		r.Fatalf("%s: first deployment: %v", m.name, err)
	}
	if err := waitSettled(node, head); err != nil {
		fmt.Printf("   note: %v\n", err)
	}
	fmt.Printf("   cluster up with leader %s and the head's deployment listed after %v; timing on follower %s\n",
		leader.ID(), time.Since(started).Round(time.Millisecond), node.ID())

	// A deployment must show within: the webhook at once, polling within
	// an interval plus its 10% jitter; both plus slack for a busy machine.
	timeout := 30 * time.Second
	if !m.webhook {
		timeout += m.pollInterval * 2
	}
	for i := 1; i <= commits; i++ {
		if !m.webhook {
			// Push at a random point of the poll cycle: pushing right after
			// the previous deployment showed would always land just after
			// a poll and measure a whole interval.
			time.Sleep(rand.N(m.pollInterval))
		}
		commit := s.commitDevelopment()
		pushed := time.Now()
		hook := ""
		if m.webhook {
			status, body, err := sendWebhook(node)
			if err != nil || status != http.StatusAccepted {
				hook = fmt.Sprintf("; webhook answered %d %s %v", status, bytes.TrimSpace(body), err)
			}
		}
		d, err := waitForDeployment(node, commit, timeout)
		if err != nil {
			res.missed++
			fmt.Printf("   %s %2d/%d: %s MISSED: %v%s\n", m.name, i, commits, commit[:12], err, hook)
			continue
		}
		took := time.Since(pushed)
		res.figures = append(res.figures, took)
		fmt.Printf("   %s %2d/%d: %s → %s after %s%s\n", m.name, i, commits, commit[:12], d.ID, ms(took), hook)
		if err := waitSettled(node, commit); err != nil {
			fmt.Printf("   note: %v\n", err)
		}
	}
	if len(res.figures) > 0 {
		fmt.Printf("   %s: median %s, max %s over %d commits (%d missed)\n", m.name,
			ms(median(res.figures)), ms(slices.Max(res.figures)), len(res.figures), res.missed)
	}
	return res
}

// stopCluster stops every node gracefully, the leader first (so that it
// hands leadership to a running node), and says so when one does not exit
// cleanly.
func stopCluster(c *harness.Cluster) {
	nodes := c.Nodes()
	if leader, err := c.Leader(); err == nil {
		i := slices.Index(nodes, leader)
		nodes[0], nodes[i] = nodes[i], nodes[0]
	}
	for _, n := range nodes {
		if !n.Running() {
			continue
		}
		start := time.Now()
		code, err := n.Stop()
		if err != nil || code != 0 {
			fmt.Printf("   note: stopping %s: exit %d after %v: %v\n", n.ID(), code, time.Since(start).Round(time.Millisecond), err)
		}
	}
}

// sendWebhook posts a signed generic push notification for main to n.
func sendWebhook(n *harness.Node) (int, []byte, error) {
	body := []byte(`{"ref": "refs/heads/main"}`)
	mac := hmac.New(sha256.New, webhookSecret)
	mac.Write(body)
	req, err := http.NewRequest(http.MethodPost, "http://"+n.APIAddr()+"/v1/webhooks/generic", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Honua-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := api.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, nil
}

// deployment is the part of a GET /v1/deployments entry the benchmark
// reads.
type deployment struct {
	ID        string    `json:"id"`
	Commit    string    `json:"commit"`
	State     string    `json:"state"`
	Message   string    `json:"message"`
	CreatedAt time.Time `json:"createdAt"`
}

// deployments lists the development environment's deployments on n.
func deployments(n *harness.Node) ([]deployment, error) {
	resp, err := api.Get("http://" + n.APIAddr() + "/v1/deployments?env=" + deployedEnv + "&limit=10")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/deployments: %d %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	var ds []deployment
	if err := json.Unmarshal(body, &ds); err != nil {
		return nil, fmt.Errorf("GET /v1/deployments: %w", err)
	}
	return ds, nil
}

// waitForDeployment polls n every 10ms until it lists a deployment of
// commit.
func waitForDeployment(n *harness.Node, commit string, timeout time.Duration) (deployment, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ds, err := deployments(n)
		for _, d := range ds {
			if d.Commit == commit {
				return d, nil
			}
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			return deployment{}, fmt.Errorf("no deployment of %s on %s within %v (last error: %v)", commit[:12], n.ID(), timeout, last)
		}
		<-tick.C
	}
}

// busy are the states in which the pipeline is still working on a
// deployment.
var busy = []string{"Pending", "Validating", "Planning", "BackingUp", "Applying", "PostValidating", "RollingBack"}

// waitSettled waits until the deployment of commit has stopped moving
// (Scheduled, AwaitingApproval or terminal), so that the next push is timed
// against an idle pipeline.
func waitSettled(n *harness.Node, commit string) error {
	return harness.Poll(settleTimeout, fmt.Sprintf("the deployment of %s to settle", commit[:12]), func() error {
		ds, err := deployments(n)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if d.Commit == commit {
				if slices.Contains(busy, d.State) {
					return fmt.Errorf("%s is %s (%s)", d.ID, d.State, d.Message)
				}
				return nil
			}
		}
		return fmt.Errorf("no deployment of %s", commit[:12])
	})
}
