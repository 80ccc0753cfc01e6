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

	"github.com/honua-io/honua-gitops/test/bench/benchrun"

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
func benchDeploy(r *benchrun.Runner, s *setup, m deployMode, commits int) deployResult {
	res := deployResult{mode: m}
	fmt.Fprintf(progress, "-- %s: pollInterval %v, %s\n", m.name, m.pollInterval, m.how())
	started := time.Now()
	c, leader, node := startWatching(r, s, m, r.TempDir(), "")
	defer stopCluster(c)
	// The leader polls when it takes office: wait for the deployment of the
	// current head, so the timed commits start from a quiet cluster.
	head := s.config.Head()
	if _, err := waitForDeployment(node, head, clusterTimeout); err != nil {
		r.Fatalf("%s: first deployment: %v", m.name, err)
	}
	if err := waitSettled(node, deployedEnv, head); err != nil {
		fmt.Fprintf(progress, "   note: %v\n", err)
	}
	fmt.Fprintf(progress, "   cluster up with leader %s and the head's deployment listed after %v; timing on follower %s\n",
		leader.ID(), time.Since(started).Round(time.Millisecond), node.ID())

	timeout := m.waitLimit()
	for i := 1; i <= commits; i++ {
		commit, pushed, _, hook := pushDevelopment(s, m, node)
		d, err := waitForDeployment(node, commit, timeout)
		if err != nil {
			res.missed++
			fmt.Fprintf(progress, "   %s %2d/%d: %s MISSED: %v%s\n", m.name, i, commits, commit[:12], err, hook)
			continue
		}
		took := time.Since(pushed)
		res.figures = append(res.figures, took)
		fmt.Fprintf(progress, "   %s %2d/%d: %s → %s after %s%s\n", m.name, i, commits, commit[:12], d.ID, ms(took), hook)
		if err := waitSettled(node, deployedEnv, commit); err != nil {
			fmt.Fprintf(progress, "   note: %v\n", err)
		}
	}
	if len(res.figures) > 0 {
		fmt.Fprintf(progress, "   %s: median %s, max %s over %d commits (%d missed)\n", m.name,
			ms(median(res.figures)), ms(slices.Max(res.figures)), len(res.figures), res.missed)
	}
	return res
}

// how says in words how a mode's pushes reach the cluster.
func (m deployMode) how() string {
	if m.webhook {
		return "generic webhook to a follower after each push"
	}
	return "no webhook"
}

// waitLimit is how long a commit may take before it counts as missed: the
// webhook acts at once, polling within an interval plus its 10% jitter;
// both get slack for a busy machine.
func (m deployMode) waitLimit() time.Duration {
	if m.webhook {
		return 30 * time.Second
	}
	return 30*time.Second + 2*m.pollInterval
}

// startWatching writes dir/honuad.yaml — config.git polled at the mode's
// interval, the generic webhook's secret, and environments, a YAML
// environments section or "" — and starts a three-node cluster with it. It
// returns once the nodes agree on a leader, with the leader and the
// follower the benchmark talks to. The caller stops the cluster; on a
// failure here, the runner's cleanup kills it.
func startWatching(r *benchrun.Runner, s *setup, m deployMode, dir, environments string) (*harness.Cluster, *harness.Node, *harness.Node) {
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
`, s.daemon.URL(s.config.Name()), m.pollInterval, secretFile) + environments
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		r.Fatalf("write honuad config: %v", err)
	}
	c := harness.Start(r, 3, harness.Options{Args: append([]string{"--config", cfgFile}, s.nodeArgs...)})
	leader, err := c.WaitForLeader(clusterTimeout)
	if err != nil {
		r.Fatalf("%s: %v", m.name, err)
	}
	followers, err := c.Followers()
	if err != nil || len(followers) == 0 {
		r.Fatalf("%s: no follower to talk to (%v)", m.name, err)
	}
	return c, leader, followers[0]
}

// pushDevelopment pushes the next development commit as the mode does:
// polling, at a random point of the poll cycle (pushing right after the
// previous deployment finished would always land just after a poll and
// measure a whole interval); webhook, at once, then sending the generic
// webhook, naming the commit as a push does, to node. It returns the
// commit, when the push returned, when the webhook was answered (zero
// without one), and a note when the webhook was not accepted.
func pushDevelopment(s *setup, m deployMode, node *harness.Node) (commit string, pushed, answered time.Time, note string) {
	if !m.webhook {
		// Not a wait for a condition: a random delay before the push.
		time.Sleep(rand.N(m.pollInterval))
	}
	commit = s.commitDevelopment()
	pushed = time.Now()
	if m.webhook {
		status, body, err := sendWebhook(node, commit)
		answered = time.Now()
		if err != nil || status != http.StatusAccepted {
			note = fmt.Sprintf("; webhook answered %d %s %v", status, bytes.TrimSpace(body), err)
		}
	}
	return commit, pushed, answered, note
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
			fmt.Fprintf(progress, "   note: stopping %s: exit %d after %v: %v\n", n.ID(), code, time.Since(start).Round(time.Millisecond), err)
		}
	}
}

// sendWebhook posts a signed generic push notification for main to n,
// naming commit as GitHub's and GitLab's pushes do.
func sendWebhook(n *harness.Node, commit string) (int, []byte, error) {
	body := []byte(`{"ref": "refs/heads/main", "after": "` + commit + `"}`)
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
	Error     string    `json:"error"`
	CreatedAt time.Time `json:"createdAt"`
}

// deployments lists env's newest deployments on n (every environment's
// when env is ""), at most limit.
func deployments(n *harness.Node, env string, limit int) ([]deployment, error) {
	path := fmt.Sprintf("/v1/deployments?limit=%d", limit)
	if env != "" {
		path = fmt.Sprintf("/v1/deployments?env=%s&limit=%d", env, limit)
	}
	var ds []deployment
	err := getJSON(n, path, &ds)
	return ds, err
}

// getJSON GETs path from n's API and decodes a 200 answer into v.
func getJSON(n *harness.Node, path string, v any) error {
	resp, err := api.Get("http://" + n.APIAddr() + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// waitForDeployment polls n every 10ms until it lists a deployment of
// commit.
func waitForDeployment(n *harness.Node, commit string, timeout time.Duration) (deployment, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ds, err := deployments(n, deployedEnv, 10)
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

// waitSettled waits until env's deployment of commit has stopped moving
// (Scheduled, AwaitingApproval or terminal), so that the next push is timed
// against an idle pipeline.
func waitSettled(n *harness.Node, env, commit string) error {
	return harness.Poll(settleTimeout, fmt.Sprintf("the %s deployment of %s to settle", env, short(commit)), func() error {
		ds, err := deployments(n, env, 10)
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
