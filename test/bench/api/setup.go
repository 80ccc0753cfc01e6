package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/test/bench/benchrun"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/rpc"
	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/harness"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

const (
	clusterTimeout = 60 * time.Second
	// pipelineTimeout bounds the wait for every environment's first
	// deployment to reach AwaitingApproval.
	pipelineTimeout = 5 * time.Minute
	// requestTimeout bounds one API request of the benchmark.
	requestTimeout = 10 * time.Second
)

// adminIdentity reads the cluster's state between the phases.
const adminIdentity = "bench-admin"

// bench is the cluster under test and what the phases share.
type bench struct {
	r         *benchrun.Runner
	c         *harness.Cluster
	leader    *harness.Node
	followers []*harness.Node
	// deployments are the AwaitingApproval deployments, one per
	// environment, in environment order.
	deployments []string
	// required is the requiredApprovals of every environment: more than
	// the benchmark has identities, so no deployment ever clears.
	required int
	tokens   map[string]string // identity → bearer token
	admin    *api.Client       // the leader, as adminIdentity
	// statusClients read each node's /v1/status as adminIdentity.
	statusClients map[*harness.Node]*api.Client
	// tls is the clients' TLS config with -tls (one, so that the clients
	// of a node share connections as they do without it), else nil.
	tls *tls.Config
}

// identityGroup is a set of approver identities, named group-01 to
// group-NN, that one sequence of approvals uses.
type identityGroup struct {
	name  string
	count int
}

func (g identityGroup) names() []string {
	out := make([]string, g.count)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%02d", g.name, i+1)
	}
	return out
}

// newBench writes the configuration repository (envs environments, each
// of whose first deployment waits for more approvals than there are
// identities), a tokens file with an approver token for every identity of
// groups, and a honuad configuration; starts a three-node cluster on them;
// and waits until every environment's deployment is AwaitingApproval.
// withTLS runs the nodes with TLS; extra flags for every node are given by
// args.
func newBench(r *benchrun.Runner, envs int, groups []identityGroup, withTLS bool, args ...string) *bench {
	b := &bench{r: r, tokens: map[string]string{}}
	dir := r.TempDir()

	var entries strings.Builder
	entries.WriteString("tokens:\n")
	addToken := func(name string, role rpc.Role) {
		token, entry, err := rpc.NewToken(name, role, nil)
		if err != nil {
			r.Fatalf("token for %s: %v", name, err)
		}
		b.tokens[name] = token
		entries.WriteString(entry)
	}
	addToken(adminIdentity, rpc.RoleAdmin)
	for _, g := range groups {
		for _, name := range g.names() {
			addToken(name, rpc.RoleApprover)
		}
	}
	b.required = len(b.tokens) + 1000
	tokensFile := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokensFile, []byte(entries.String()), 0o600); err != nil {
		r.Fatalf("write tokens file: %v", err)
	}

	repo := gitserver.NewRepoIn(r.Git(), dir, "config.git")
	repo.Commit(repositoryFiles(envs, b.required), fmt.Sprintf("%d environments, each requiring approval", envs))

	cfgFile := filepath.Join(dir, "honuad.yaml")
	cfg := fmt.Sprintf("repository:\n  url: %s\n  branch: main\n  pollInterval: 1h\n  timeout: 30s\n", repo.Path())
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		r.Fatalf("write honuad config: %v", err)
	}

	started := time.Now()
	b.c = harness.Start(r, 3, harness.Options{TLS: withTLS, Args: append([]string{"--config", cfgFile, "--tokens-file", tokensFile}, args...)})
	b.tls = b.c.ClientTLS()
	// The harness's own waits read /v1/status without a token, which a
	// cluster with a tokens file refuses: these use the admin token.
	b.statusClients = map[*harness.Node]*api.Client{}
	for _, n := range b.c.Nodes() {
		b.statusClients[n] = b.client(adminIdentity, n)
	}
	leader, err := b.waitForLeader()
	if err != nil {
		r.Fatalf("start cluster: %v", err)
	}
	b.leader = leader
	for _, n := range b.c.Nodes() {
		if n != leader {
			b.followers = append(b.followers, n)
		}
	}
	b.admin = b.statusClients[leader]
	say("   cluster up after %v: leader %s, followers %s and %s\n", time.Since(started).Round(time.Millisecond),
		leader.ID(), b.followers[0].ID(), b.followers[1].ID())

	started = time.Now()
	if err := b.waitAwaiting(envs); err != nil {
		r.Fatalf("%v", err)
	}
	say("   all %d first deployments AwaitingApproval (%d approvals required each) after %v\n",
		envs, b.required, time.Since(started).Round(time.Millisecond))
	return b
}

// repositoryFiles is the configuration repository: environments env-001 to
// env-NNN, each a valid metadata.json (one service, one layer) and
// datasources.json, and a policy that makes each wait for required
// approvals.
func repositoryFiles(envs, required int) map[string]string {
	names := environmentNames(envs)
	files := sampleconfig.WithPolicy(sampleconfig.AlwaysApprove(required, names...))
	for _, env := range names {
		maps.Copy(files, sampleconfig.Env(env, sampleconfig.Points))
	}
	return files
}

func environmentNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("env-%03d", i+1)
	}
	return out
}

// waitAwaiting waits until the leader lists envs deployments
// AwaitingApproval, and records their ids in environment order. A
// deployment that failed ends the wait at once.
func (b *bench) waitAwaiting(envs int) error {
	ctx := context.Background()
	var waiting []api.DeploymentSummary
	err := harness.Poll(pipelineTimeout, fmt.Sprintf("%d deployments AwaitingApproval", envs), func() error {
		failed, err := b.admin.Deployments(ctx, api.DeploymentFilter{State: api.StateFailed, Limit: 1}, nil)
		if err != nil {
			return err
		}
		if len(failed) > 0 {
			return fmt.Errorf("deployment %s of %s failed: %s", failed[0].ID, failed[0].Environment, failed[0].Error)
		}
		waiting, err = b.admin.Deployments(ctx, api.DeploymentFilter{State: api.StateAwaitingApproval, Limit: 1000}, nil)
		if err != nil {
			return err
		}
		if len(waiting) != envs {
			return fmt.Errorf("%d of %d are", len(waiting), envs)
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(waiting, func(x, y api.DeploymentSummary) int { return strings.Compare(x.Environment, y.Environment) })
	for _, d := range waiting {
		b.deployments = append(b.deployments, d.ID)
	}
	return nil
}

// client returns a client of node n only (no failover to another node),
// acting as identity.
func (b *bench) client(identity string, n *harness.Node) *api.Client {
	token, ok := b.tokens[identity]
	if !ok {
		b.r.Fatalf("no token for identity %s", identity)
	}
	c, err := api.NewClient(api.Config{Addrs: []string{n.URL()}, Token: token, Timeout: requestTimeout, TLS: b.tls})
	if err != nil {
		b.r.Fatalf("client of %s: %v", n.ID(), err)
	}
	return c
}

// clients returns a client of n for each identity of g.
func (b *bench) clients(g identityGroup, n *harness.Node) []*api.Client {
	var out []*api.Client
	for _, name := range g.names() {
		out = append(out, b.client(name, n))
	}
	return out
}

// waitForLeader waits until every node names the same leader, which says
// it leads, and lists three alive members; it returns the leader.
func (b *bench) waitForLeader() (*harness.Node, error) {
	var leader *harness.Node
	err := harness.Poll(clusterTimeout, "every node to agree on one leader with 3 alive members", func() error {
		var err error
		leader, err = b.currentLeader()
		return err
	})
	return leader, err
}

// currentLeader returns the node every node names as leader, now, if it
// says it leads and every node lists three alive members.
func (b *bench) currentLeader() (*harness.Node, error) {
	ctx := context.Background()
	var leader *harness.Node
	for _, n := range b.c.Nodes() {
		st, err := b.statusClients[n].Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("status of %s: %w", n, err)
		}
		if st.Leader == nil {
			return nil, fmt.Errorf("%s knows no leader", n)
		}
		alive := 0
		for _, m := range st.Members {
			if m.Status == "alive" {
				alive++
			}
		}
		if alive != 3 {
			return nil, fmt.Errorf("%s lists %d alive members", n, alive)
		}
		l := b.c.Node(st.Leader.ID)
		if l == nil || (leader != nil && l != leader) {
			return nil, fmt.Errorf("nodes do not agree on a leader (%s names %s)", n, st.Leader.ID)
		}
		if n == l && st.State != "Leader" {
			return nil, fmt.Errorf("%s is named leader but is %s", n, st.State)
		}
		leader = l
	}
	return leader, nil
}

// commitIndex returns the leader's commit index.
func (b *bench) commitIndex() uint64 {
	st, err := b.admin.Status(context.Background())
	if err != nil {
		b.r.Fatalf("status of %s: %v", b.leader, err)
	}
	return st.CommitIndex
}

// checkLeader fails the run if leadership moved since the cluster started:
// the figures of a phase would not say what they claim.
func (b *bench) checkLeader(phase string) {
	leader, err := b.currentLeader()
	if err != nil {
		b.r.Fatalf("%s: %v", phase, err)
	}
	if leader != b.leader {
		b.r.Fatalf("%s: leadership moved from %s to %s", phase, b.leader.ID(), leader.ID())
	}
}

// stop stops the nodes gracefully, the leader first, and reports one that
// does not exit cleanly.
func (b *bench) stop() {
	for _, n := range append([]*harness.Node{b.leader}, b.followers...) {
		if !n.Running() {
			continue
		}
		start := time.Now()
		if code, err := n.Stop(); err != nil || code != 0 {
			say("note: stopping %s: exit %d after %v: %v\n", n.ID(), code, time.Since(start).Round(time.Millisecond), err)
		}
	}
}
