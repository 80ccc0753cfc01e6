package rpc

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/cluster/clustertest"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/gitrepo"
	"github.com/honua-io/honua-gitops/internal/reconcile"
	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// TestWebhookToFollowerMakesTheLeaderPoll delivers a signed push to a
// follower of a real three-node cluster whose reconcilers poll only once
// an hour: the deployment that follows can only come from the webhook.
func TestWebhookToFollowerMakesTheLeaderPoll(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(sampleconfig.Env("staging", sampleconfig.Points), "initial")
	secrets := WebhookSecrets{Generic: []byte("s3cret")}

	listeners := make([]net.Listener, 3)
	servers := make([]*Server, 3)
	c := clustertest.Start(t, 3, clustertest.Options{
		Adjust: func(i int, cfg *cluster.Config) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			listeners[i] = ln
			cfg.APIAddr = ln.Addr().String()
		},
		Setup: func(i int, n *cluster.Node, f *fsm.FSM) {
			src, err := gitrepo.Open(gitrepo.Config{URL: repo.Path(), Dir: filepath.Join(t.TempDir(), "repo")})
			if err != nil {
				t.Fatal(err)
			}
			rec := reconcile.New(reconcile.Config{Source: src, PollInterval: time.Hour}, n, f)
			n.RegisterLeaderWork("reconcile", rec.Run)
			servers[i] = NewServer(Config{Cluster: n, Store: f, Pipeline: rec, Webhooks: secrets,
				Registry: prometheus.NewRegistry(), Repository: &RepositoryInfo{URL: src.URL(), Branch: "main"}})
			srv := &http.Server{Handler: servers[i]}
			go srv.Serve(listeners[i])
			t.Cleanup(func() { srv.Close() })
		},
	})
	leader := c.Leader()
	var follower *clustertest.Node
	var followerAddr string
	for i, n := range c.Nodes() {
		if n != leader {
			follower, followerAddr = n, listeners[i].Addr().String()
			break
		}
	}
	// The leader's first poll, on taking over, sees the initial commit.
	c.WaitForState("the first deployment", func(f *fsm.FSM) error {
		if len(f.History("staging")) != 1 {
			return fmt.Errorf("%d deployments", len(f.History("staging")))
		}
		return nil
	})

	next := repo.Commit(sampleconfig.Env("staging", sampleconfig.Points, sampleconfig.Roads), "add roads")
	body := `{"ref":"refs/heads/main"}`
	req, err := http.NewRequest("POST", "http://"+followerAddr+"/v1/webhooks/generic", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Honua-Signature", sign("s3cret", body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("X-Honua-Node") != follower.ID() {
		t.Fatalf("webhook to follower %s = %d (answered by %s); want 202 from it", follower.ID(), resp.StatusCode, resp.Header.Get("X-Honua-Node"))
	}
	c.WaitForState("a deployment of the pushed commit", func(f *fsm.FSM) error {
		h := f.History("staging")
		if len(h) != 2 || h[0].Commit != next {
			return fmt.Errorf("%d deployments, newest at %v", len(h), h[0].Commit)
		}
		if !strings.Contains(h[0].Transitions[0].Message, "webhook generic") {
			return fmt.Errorf("created with message %q; want it to name the webhook", h[0].Transitions[0].Message)
		}
		return nil
	})
}
