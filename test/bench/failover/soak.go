package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/rpc"
	"github.com/honua-io/honua-gitops/test/bench/benchrun"
	"github.com/honua-io/honua-gitops/test/bench/figures"
	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/harness"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// requestTimeout bounds one write of the soak.
const requestTimeout = 10 * time.Second

// soakResult is what a soak measured.
type soakResult struct {
	profile string
	// custom is set when the nodes had more flags than the profile: the
	// figure then has no goal.
	custom   bool
	timeouts cluster.RaftTimeouts
	duration time.Duration
	clients  int
	niceness int
	writes   int64
	failed   int64
	// firstErr is the first failed write's error.
	firstErr string
	// terms is how much each node's raft term rose; changes how much its
	// honua_raft_leader_changes_total did; seen the leader changes the
	// status polls saw.
	terms   map[string]uint64
	changes map[string]float64
	seen    []string
}

// soakCluster is the soak's cluster and its clients.
type soakCluster struct {
	c      *harness.Cluster
	envs   []string
	token  string // approver: suspends and resumes
	admin  string // reads status
	status map[*harness.Node]*api.Client
}

// runSoak starts a three-node cluster of the profile with a repository of
// one environment per client, writes through all three nodes from clients
// writers for d, and counts the leader changes meanwhile.
func runSoak(r *benchrun.Runner, profile string, nodeArgs []string, d time.Duration, clients, niceness int, withTLS bool) soakResult {
	sc, timeouts := startSoakCluster(r, profile, nodeArgs, clients, withTLS)
	res := soakResult{profile: profile, timeouts: timeouts, duration: d, clients: clients, niceness: niceness,
		changes: map[string]float64{}, terms: map[string]uint64{}, custom: len(nodeArgs) > 0}
	if res.custom {
		res.profile += " " + strings.Join(nodeArgs, " ")
	}
	if niceness != 0 {
		for _, n := range sc.c.Nodes() {
			if err := renice(n.PID(), niceness); err != nil {
				r.Fatalf("-nice %d: %s: %v", niceness, n, err)
			}
		}
	}
	fmt.Printf("soak: %d writers (suspend and resume) over 3 nodes for %v, raft profile %s (%v)\n", clients, d, profile, res.timeouts)

	terms0, changes0 := sc.terms(r), sc.leaderChanges(r)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var writes, failed atomic.Int64
	var errOnce sync.Once
	var wg sync.WaitGroup
	nodes := sc.c.Nodes()
	for i := range clients {
		c, err := api.NewClient(api.Config{Addrs: []string{nodes[i%len(nodes)].URL()}, Token: sc.token,
			Timeout: requestTimeout, TLS: sc.c.ClientTLS()})
		if err != nil {
			r.Fatalf("client: %v", err)
		}
		env := sc.envs[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				var err error
				if n%2 == 0 {
					_, err = c.Suspend(ctx, env, "failover soak")
				} else {
					_, err = c.Resume(ctx, env)
				}
				switch {
				case err == nil:
					writes.Add(1)
				case ctx.Err() != nil:
				default:
					failed.Add(1)
					errOnce.Do(func() { res.firstErr = err.Error() })
				}
			}
		}()
	}
	res.seen = sc.watchLeader(ctx)
	wg.Wait()

	res.writes, res.failed = writes.Load(), failed.Load()
	terms1, changes1 := sc.terms(r), sc.leaderChanges(r)
	for id, t := range terms1 {
		res.terms[id] = t - terms0[id]
	}
	for id, c := range changes1 {
		res.changes[id] = c - changes0[id]
	}
	for _, n := range nodes {
		n.Kill()
	}
	return res
}

// startSoakCluster writes a repository with one environment for each
// client (each waiting for more approvals than anyone gives, so the
// pipeline stays quiet), a tokens file and a configuration, starts three
// nodes of the profile on them, and waits until every environment's first
// deployment waits for approval, so that the load meets a quiet pipeline.
// It returns the cluster and the raft timeouts its nodes run with.
func startSoakCluster(r *benchrun.Runner, profile string, nodeArgs []string, clients int, withTLS bool) (*soakCluster, cluster.RaftTimeouts) {
	dir := r.TempDir()
	sc := &soakCluster{}
	var entries strings.Builder
	entries.WriteString("tokens:\n")
	for name, role := range map[string]rpc.Role{"soak-writer": rpc.RoleApprover, "soak-admin": rpc.RoleAdmin} {
		token, entry, err := rpc.NewToken(name, role, nil)
		if err != nil {
			r.Fatalf("token: %v", err)
		}
		entries.WriteString(entry)
		if role == rpc.RoleAdmin {
			sc.admin = token
		} else {
			sc.token = token
		}
	}
	tokensFile := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokensFile, []byte(entries.String()), 0o600); err != nil {
		r.Fatalf("write tokens file: %v", err)
	}
	for i := range clients {
		sc.envs = append(sc.envs, fmt.Sprintf("soak-%02d", i+1))
	}
	files := sampleconfig.WithPolicy(sampleconfig.AlwaysApprove(1000, sc.envs...))
	for _, env := range sc.envs {
		maps.Copy(files, sampleconfig.Env(env, sampleconfig.Points))
	}
	repo := gitserver.NewRepoIn(r.Git(), dir, "config.git")
	repo.Commit(files, fmt.Sprintf("%d environments", clients))
	cfgFile := filepath.Join(dir, "honuad.yaml")
	cfg := fmt.Sprintf("repository:\n  url: %s\n  branch: main\n  pollInterval: 1h\n  timeout: 30s\n", repo.Path())
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		r.Fatalf("write honuad config: %v", err)
	}

	sc.c = harness.Start(r, 3, harness.Options{TLS: withTLS, Token: sc.admin,
		Args: append([]string{"--config", cfgFile, "--tokens-file", tokensFile, "--raft-profile", profile}, nodeArgs...)})
	leader, err := sc.c.WaitForLeader(waitTimeout)
	if err != nil {
		r.Fatalf("start soak cluster: %v", err)
	}
	timeouts, err := checkTiming(sc.c, profile, len(nodeArgs) > 0)
	if err != nil {
		r.Fatalf("%v", err)
	}
	admin, err := api.NewClient(api.Config{Addrs: []string{leader.URL()}, Token: sc.admin, Timeout: requestTimeout, TLS: sc.c.ClientTLS()})
	if err != nil {
		r.Fatalf("client: %v", err)
	}
	err = harness.Poll(5*waitTimeout, fmt.Sprintf("%d deployments AwaitingApproval", clients), func() error {
		ds, err := admin.Deployments(context.Background(), api.DeploymentFilter{State: api.StateAwaitingApproval, Limit: 1000}, nil)
		if err == nil && len(ds) < clients {
			err = fmt.Errorf("%d are", len(ds))
		}
		return err
	})
	if err != nil {
		r.Fatalf("%v", err)
	}
	return sc, timeouts
}

// terms returns each node's raft term.
func (sc *soakCluster) terms(r *benchrun.Runner) map[string]uint64 {
	out := map[string]uint64{}
	for _, n := range sc.c.Nodes() {
		st, err := n.Status()
		if err != nil {
			r.Fatalf("%v", err)
		}
		out[n.ID()] = st.Term
	}
	return out
}

// leaderChanges returns each node's honua_raft_leader_changes_total.
func (sc *soakCluster) leaderChanges(r *benchrun.Runner) map[string]float64 {
	out := map[string]float64{}
	for _, n := range sc.c.Nodes() {
		v, err := metric(sc.c, n, "honua_raft_leader_changes_total")
		if err != nil {
			r.Fatalf("%s: %v", n, err)
		}
		out[n.ID()] = v
	}
	return out
}

// metric reads one unlabelled metric from the node's /metrics.
func metric(c *harness.Cluster, n *harness.Node, name string) (float64, error) {
	hc := &http.Client{Timeout: requestTimeout}
	if tc := c.ClientTLS(); tc != nil {
		hc.Transport = &http.Transport{TLSClientConfig: tc}
	}
	resp, err := hc.Get(n.URL() + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New(name + " not found in /metrics")
}

// watchLeader polls every node's status until ctx ends and returns each
// change of leader or term it saw, with its time.
func (sc *soakCluster) watchLeader(ctx context.Context) []string {
	var seen []string
	last := map[string]string{}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, n := range sc.c.Nodes() {
			st, err := n.Status()
			if err != nil {
				continue
			}
			now := fmt.Sprintf("leader %q term %d", st.LeaderID(), st.Term)
			if prev, ok := last[n.ID()]; ok && prev != now {
				line := fmt.Sprintf("%s %s: %s → %s", time.Now().Format("15:04:05.000"), n.ID(), prev, now)
				fmt.Println("  " + line)
				seen = append(seen, line)
			}
			last[n.ID()] = now
		}
		select {
		case <-ctx.Done():
			return seen
		case <-tick.C:
		}
	}
}

// report prints the soak's figures and records its headline.
func (res soakResult) report(r *benchrun.Runner) {
	var rise uint64
	var changes float64
	for id, t := range res.terms {
		rise = max(rise, t)
		changes += res.changes[id]
	}
	rate := float64(res.writes) / res.duration.Seconds()
	fmt.Printf("soak of %v, %d writers, raft profile %s%s: %d writes (%.0f/s), %d failed", res.duration, res.clients, res.profile, niceNote(res.niceness), res.writes, rate, res.failed)
	if res.firstErr != "" {
		fmt.Printf(" (first: %s)", res.firstErr)
	}
	fmt.Printf("\n  raft term rose by %d; honua_raft_leader_changes_total rose by %v in all; %d changes of leader or term seen\n",
		rise, changes, len(res.seen))
	f := figures.Figure{Bench: "failover",
		Name:      fmt.Sprintf("leader changes in %v of load, %s%s", res.duration, res.profile, niceNote(res.niceness)),
		Measured:  fmt.Sprintf("%d, at %.0f writes/s", rise, rate),
		Reference: "heartbeat timeout " + seconds(res.timeouts.Heartbeat)}
	if !res.custom {
		f.Goal, f.Met = "0", rise == 0 && changes == 0 && len(res.seen) == 0
		fmt.Printf("%s: %s; goal %s: %s\n", f.Name, f.Measured, f.Goal, map[bool]string{true: "met", false: "MISSED"}[f.Met])
	}
	record(r, f)
}

// niceNote names the nodes' niceness when it is not the default.
func niceNote(niceness int) string {
	if niceness == 0 {
		return ""
	}
	return fmt.Sprintf(" (nodes at nice %d)", niceness)
}
