package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/cluster/clustertest"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// apiCluster is an in-process cluster whose nodes serve the real API over
// real HTTP.
type apiCluster struct {
	*clustertest.Cluster
	addrs   []string
	servers []*http.Server
	// gate, when set on a node, holds its requests until it is closed.
	mu    sync.Mutex
	gates map[int]chan struct{}
	held  map[int]int
	token string
	// adminToken is root's, an admin.
	adminToken string
	// read counts the request body bytes each node's API read.
	read [3]atomic.Int64
}

func startAPICluster(t *testing.T, leaderWait time.Duration) *apiCluster {
	t.Helper()
	tok, entry, err := NewToken("alice", RoleApprover, []string{"devops-team"})
	if err != nil {
		t.Fatal(err)
	}
	admin, adminEntry, err := NewToken("root", RoleAdmin, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(path, []byte("tokens:\n"+entry+adminEntry), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	ac := &apiCluster{addrs: make([]string, 3), servers: make([]*http.Server, 3), gates: map[int]chan struct{}{},
		held: map[int]int{}, token: tok, adminToken: admin}
	listeners := make([]net.Listener, 3)
	ac.Cluster = clustertest.Start(t, 3, clustertest.Options{
		Adjust: func(i int, cfg *cluster.Config) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			listeners[i], ac.addrs[i] = ln, ln.Addr().String()
			cfg.APIAddr = ac.addrs[i]
		},
		Setup: func(i int, n *cluster.Node, f *fsm.FSM) {
			s := NewServer(Config{Cluster: n, Store: f, Tokens: tokens, LeaderWait: leaderWait, ForwardTimeout: 20 * time.Second})
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				forwarded := r.Header.Get(forwardedHeader) != ""
				ac.mu.Lock()
				gate := ac.gates[i]
				if gate != nil && forwarded {
					ac.held[i]++
				}
				ac.mu.Unlock()
				if gate != nil && forwarded {
					<-gate
				}
				r.Body = &countedBody{ReadCloser: r.Body, n: &ac.read[i]}
				s.ServeHTTP(w, r)
			})
			ac.servers[i] = &http.Server{Handler: h}
			go ac.servers[i].Serve(listeners[i])
			t.Cleanup(func() { ac.servers[i].Close() })
		},
	})
	return ac
}

// countedBody counts the bytes read from a request body.
type countedBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (ac *apiCluster) index(n *clustertest.Node) int {
	for i, m := range ac.Nodes() {
		if m == n {
			return i
		}
	}
	return -1
}

func (ac *apiCluster) client(t *testing.T, i int) *api.Client {
	t.Helper()
	c, err := api.NewClient(api.Config{Addrs: []string{ac.addrs[i]}, Token: ac.token, Timeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// awaitingDeployment creates a deployment of production that waits for
// two approvals from devops-team.
func (ac *apiCluster) awaitingDeployment(t *testing.T) string {
	t.Helper()
	res, err := ac.Apply(&fsm.CreateDeployment{Environment: "production", Commit: "c1", Kind: fsm.KindAuto, Time: t0})
	if err != nil {
		t.Fatal(err)
	}
	id := res.(*fsm.Deployment).ID
	for _, to := range []fsm.DeploymentState{fsm.StateValidating, fsm.StatePlanning, fsm.StateAwaitingApproval} {
		c := &fsm.TransitionDeployment{ID: id, To: to, Time: t0}
		if to == fsm.StateAwaitingApproval {
			c.Approval = &fsm.ApprovalRequirement{Required: 2, Groups: []string{"devops-team"}}
		}
		if _, err := ac.Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

func (ac *apiCluster) follower() int {
	leader := ac.Leader()
	for i, n := range ac.Nodes() {
		if n != leader && !n.Stopped {
			return i
		}
	}
	return -1
}

// TestApproveOnFollowerIsAppliedByTheLeader, and a consistent read on any
// node sees it at once.
func TestApproveOnFollowerIsAppliedByTheLeader(t *testing.T) {
	ac := startAPICluster(t, 5*time.Second)
	id := ac.awaitingDeployment(t)
	f := ac.follower()
	res, err := ac.client(t, f).Approve(context.Background(), id, "from a follower")
	if err != nil {
		t.Fatalf("approve through follower %s: %v", ac.Nodes()[f].ID(), err)
	}
	if len(res.Deployment.Approvals) != 1 || res.Deployment.Approvals[0].Identity != "alice" {
		t.Fatalf("approvals = %+v; want alice's", res.Deployment.Approvals)
	}
	for i := range ac.Nodes() {
		d, err := ac.client(t, i).Deployment(context.Background(), id, &api.QueryOptions{Consistent: true})
		if err != nil {
			t.Fatalf("consistent read on %s: %v", ac.Nodes()[i].ID(), err)
		}
		if len(d.Approvals) != 1 || d.Approvals[0].Comment != "from a follower" {
			t.Errorf("consistent read on %s: approvals %+v; want the acknowledged approval", ac.Nodes()[i].ID(), d.Approvals)
		}
	}
}

// TestLeaderDyingMidForward: the client gets a clear, retryable answer,
// never a hang.
func TestLeaderDyingMidForward(t *testing.T) {
	ac := startAPICluster(t, 5*time.Second)
	id := ac.awaitingDeployment(t)
	leader := ac.Leader()
	li, f := ac.index(leader), ac.follower()
	gate := make(chan struct{})
	ac.mu.Lock()
	ac.gates[li] = gate
	ac.mu.Unlock()

	done := make(chan error, 1)
	go func() {
		_, err := ac.client(t, f).Approve(context.Background(), id, "")
		done <- err
	}()
	// The forwarded request is held on the leader; now the leader dies.
	clustertest.WaitFor(t, "the forwarded approval to reach the leader", func() error {
		if n := ac.heldOn(li); n == 0 {
			return errors.New("not yet")
		}
		return nil
	})
	ac.Stop(leader)
	ac.servers[li].Close()
	close(gate)
	select {
	case err := <-done:
		var ae *api.Error
		if !errors.As(err, &ae) || ae.StatusCode != http.StatusServiceUnavailable || !ae.Retryable() ||
			(ae.Code != "unknown_outcome" && ae.Code != "no_leader") {
			t.Fatalf("approve while the leader died = %v; want a retryable 503", err)
		}
	case <-time.After(clustertest.Timeout):
		t.Fatal("the client hung after the leader died")
	}
	// Retrying is safe: on the new leader it is one approval.
	ac.Leader()
	clustertest.WaitFor(t, "the retried approval to succeed", func() error {
		res, err := ac.client(t, f).Approve(context.Background(), id, "")
		if err != nil {
			return err
		}
		if len(res.Deployment.Approvals) != 1 {
			return fmt.Errorf("approvals %+v", res.Deployment.Approvals)
		}
		return nil
	})
}

// heldOn reports how many forwarded requests node i's gate held.
func (ac *apiCluster) heldOn(i int) int {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	return ac.held[i]
}

// TestNoLeaderAfterHold: with no leader, a write waits for the hold and
// gets 503 no_leader.
func TestNoLeaderAfterHold(t *testing.T) {
	ac := startAPICluster(t, 300*time.Millisecond)
	id := ac.awaitingDeployment(t)
	f := ac.follower()
	for i, n := range ac.Nodes() {
		if i != f {
			ac.Stop(n)
		}
	}
	clustertest.WaitFor(t, "the lone node to lose its leader", func() error {
		if lead, _ := ac.Nodes()[f].Leader(); lead != "" {
			return fmt.Errorf("still knows leader %s", lead)
		}
		return nil
	})
	_, err := ac.client(t, f).Approve(context.Background(), id, "")
	var ae *api.Error
	if !errors.As(err, &ae) || ae.StatusCode != 503 || ae.Code != "no_leader" || !strings.Contains(ae.Message, "no leader") {
		t.Fatalf("approve without a leader = %v; want 503 no_leader", err)
	}
	// Reads are still served locally.
	if _, err := ac.client(t, f).Deployment(context.Background(), id, nil); err != nil {
		t.Errorf("local read without a leader: %v", err)
	}
}

// TestOriginIsCheckedOnTheHostTheClientUsed: a follower forwards a write
// for the Host the client sent it to, so the leader's Origin check agrees
// with the follower's.
func TestOriginIsCheckedOnTheHostTheClientUsed(t *testing.T) {
	ac := startAPICluster(t, 5*time.Second)
	id := ac.awaitingDeployment(t)
	for _, tt := range []struct {
		origin func(follower string) string
		want   int
	}{
		{func(string) string { return "http://attacker.example" }, http.StatusForbidden},
		{func(follower string) string { return "http://" + follower }, http.StatusOK},
	} {
		// A forward that meets a leadership change answers a retryable
		// 503: try again, as a client would.
		clustertest.WaitFor(t, "an approval through a follower", func() error {
			f := ac.follower()
			origin := tt.origin(ac.addrs[f])
			req, err := http.NewRequest("POST", "http://"+ac.addrs[f]+"/v1/deployments/"+id+"/approve", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+ac.token)
			req.Header.Set("Origin", origin)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				return fmt.Errorf("%s answered %d", ac.Nodes()[f].ID(), resp.StatusCode)
			}
			if resp.StatusCode != tt.want {
				t.Errorf("approve through follower %s with Origin %s = %d (forwarded to %q); want %d",
					ac.Nodes()[f].ID(), origin, resp.StatusCode, resp.Header.Get("X-Honua-Forwarded-To"), tt.want)
			}
			return nil
		})
	}
}
