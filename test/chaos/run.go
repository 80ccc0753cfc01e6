package chaos

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/rpc"
	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/harness"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// Bounds of the waits for the cluster. The machine is small and shared:
// they are generous, and the checks after a run print how long things took.
const (
	leaderTimeout = 60 * time.Second
	settleTimeout = 120 * time.Second
	opTimeout     = 10 * time.Second
	// workloadTimeout bounds one request of the workload: shorter than a
	// pause of the leader and than --leader-wait, so that some operations
	// end with an unknown outcome and take effect after their timeout.
	workloadTimeout = 3 * time.Second
)

// The identities of the API tokens: approvers (any of them may approve,
// reject, roll back and sync) and an admin (reads the debug state, removes
// members).
var approvers = []string{"alice", "bob", "carol", "dave"}

const adminName = "admin"

// Options configure a run.
type Options struct {
	// Nodes is the cluster's size: 3 (the default) or 5.
	Nodes int
	// Seed drives every random choice of the run: the workload's, which
	// node a fault hits, the order and spacing of faults.
	Seed int64
	// Gates, Rollbacks and Apps are how many environments of each kind
	// the repository has (defaults 4, 2 and 3).
	Gates, Rollbacks, Apps int
	// TmpfsDataDirs puts each node's data dir on a small tmpfs of its own,
	// so that the disk-full fault can fill it. It needs root; without it
	// the data dirs are ordinary directories and the fault is skipped.
	TmpfsDataDirs bool
	// Network runs every node in a network namespace of its own
	// (test/chaos/netns): raft, gossip and forwarding go over a peer
	// network where the network faults act, the test reaches each node
	// over a link of its own, and the git daemon and the proxies of the
	// target agents listen on an address every namespace reaches. It needs root and the ip and
	// nft commands; without them Start skips the test loudly. Without it
	// the nodes listen on loopback and the network faults are left out.
	Network bool
	// ArtifactsDir receives porcupine's visualization of a history that
	// fails the check; default <module root>/artifacts/chaos.
	ArtifactsDir string
	// Long runs the workload and the checker with the bounds of the full
	// suite.
	Long bool
	// TLS runs the nodes with TLS on: the API over https (the workload's
	// clients trust the cluster's CA), raft over mutual TLS and forwarding
	// over TLS.
	TLS bool
}

func (o Options) withDefaults() Options {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Gates == 0 {
		o.Gates = 4
	}
	if o.Rollbacks == 0 {
		o.Rollbacks = 2
	}
	if o.Apps == 0 {
		o.Apps = 3
	}
	return o
}

// Run is one chaos run: a cluster, its repository and targets, the
// workload and everything recorded of it.
type Run struct {
	t    *testing.T
	opts Options
	rng  *rand.Rand // the test goroutine's; workers have their own

	start   time.Time
	history *History
	repo    *repo
	daemon  *gitserver.Daemon
	cluster *harness.Cluster
	bin     string
	net     *network // nil unless Options.Network

	gates, rbs, apps []string
	agents           map[string]*agentTarget // environment → its http target
	dirs             map[string]string       // environment → its directory target
	tokens           map[string]string       // identity → bearer token
	tls              *tls.Config             // the API clients' with Options.TLS, else nil
	debugClient      *http.Client            // for GET /v1/debug/state
	tmpfs            map[string]string       // node id → the tmpfs its data dir is
	c0               string                  // the commit rb environments roll back to
	c1               string                  // rb environments' last commit

	events  *eventLog
	readers *dirReaders
	hook    *hookReceiver // receives the notifications

	bg       context.Context
	stopBg   context.CancelFunc
	bgWG     sync.WaitGroup
	workload *workload

	mu       sync.Mutex
	nodes    []*harness.Node // every node added, as the harness's Nodes, but safe to read from any goroutine
	removed  map[string]bool // node ids removed from the cluster
	outages  []outage
	faultLog []faultRecord
	notes    []string // figures worth printing at the end
}

// outage is a moment after which the cluster had to recover: a leader
// killed, the whole cluster restarted. The first write acknowledged after
// it is reported.
type outage struct {
	What string
	At   time.Duration
}

// faultRecord is one fault as it happened, for the failure report and the
// visualization.
type faultRecord struct {
	Name       string
	Start, End time.Duration
	Detail     string
}

// Start builds honuad, starts the git daemon, the targets and the cluster,
// and brings every environment to its starting state (see the package
// documentation). The run's background work stops at the test's cleanup.
func Start(t *testing.T, o Options) *Run {
	t.Helper()
	o = o.withDefaults()
	gitserver.RequireGit(t)
	r := &Run{
		t: t, opts: o, rng: rand.New(rand.NewPCG(uint64(o.Seed), 0)),
		start: time.Now(), agents: map[string]*agentTarget{}, dirs: map[string]string{},
		tokens: map[string]string{}, tmpfs: map[string]string{}, removed: map[string]bool{},
	}
	r.history = newHistory(r.start)
	r.gates, r.rbs, r.apps = envNames(gatePrefix, o.Gates), envNames(rbPrefix, o.Rollbacks), envNames(appPrefix, o.Apps)
	if o.Network {
		r.net = newNetwork(t, o.Nodes)
	}
	dir := t.TempDir()
	var dataDirs []string
	if o.TmpfsDataDirs {
		var why string
		dataDirs, why = mountTmpfs(t, dir, o.Nodes)
		if why != "" {
			fmt.Fprintf(os.Stderr, "SKIP: %s: the disk-full fault is left out: data dirs are not on tmpfs (%s)\n", t.Name(), why)
			r.Logf("data dirs are not on tmpfs (%s): the disk-full fault is left out", why)
		}
	}

	r.repo = newRepo(t)
	r.c0 = r.repo.commit(r.initialFiles(), "initial configuration")
	r.daemon = gitserver.StartDaemonAt(t, r.repo.gr.Root(), r.net.serviceHost())
	r.bin = harness.Build(t)
	targets := filepath.Join(dir, "targets")
	if err := os.Mkdir(targets, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, env := range r.envs() {
		a := startAgentTarget(t, env, filepath.Join(dir, "agents", env), r.net.serviceHost())
		a.Identify(r.identify(a.Addr()))
		r.agents[env] = a
		r.dirs[env] = filepath.Join(targets, env)
	}
	tokensFile := filepath.Join(dir, "tokens.yaml")
	configFile := filepath.Join(dir, "honuad.yaml")
	var hookSecretFile string
	r.hook, hookSecretFile = startHookReceiver(r, r.net.serviceHost(), dir)
	r.writeTokens(tokensFile)
	r.writeConfig(configFile, tokensFile, hookSecretFile)

	r.cluster = harness.New(t, harness.Options{Token: r.tokens[adminName], TLS: o.TLS, Args: []string{
		"--config", configFile,
		"--raft-snapshot-threshold", "64",
		"--raft-trailing-logs", "32",
		"--raft-snapshot-interval", "250ms",
		"--history-retention", "100000",
	}})
	t.Cleanup(r.saveLogs)
	r.tls = r.cluster.ClientTLS()
	r.debugClient = &http.Client{Timeout: opTimeout, Transport: &http.Transport{TLSClientConfig: r.tls}}
	for i := range o.Nodes {
		cfg := harness.NodeConfig{BootstrapExpect: o.Nodes}
		if dataDirs != nil {
			cfg.DataDir = dataDirs[i]
		}
		n := r.addNode(cfg)
		if dataDirs != nil {
			r.tmpfs[n.ID()] = dataDirs[i]
		}
	}
	r.nodes = r.cluster.Nodes()
	r.bg, r.stopBg = context.WithCancel(context.Background())
	r.events = newEventLog()
	r.readers = newDirReaders(r)
	for _, n := range r.nodes {
		n.Start()
		r.watchEvents(n)
	}
	r.readers.start()
	r.hook.flap(r)
	// Registered last, so it runs first: nothing in the background may
	// outlive the test or use a node after the harness killed it.
	t.Cleanup(r.stopBackground)

	r.setUp()
	return r
}

// Logf logs with the run's offset, so that log lines line up with the
// history.
func (r *Run) Logf(format string, args ...any) {
	r.t.Helper()
	r.t.Logf("[%8.3fs] %s", r.history.Since().Seconds(), fmt.Sprintf(format, args...))
}

// Seed returns the run's seed.
func (r *Run) Seed() int64 { return r.opts.Seed }

// envs returns every environment, gates first.
func (r *Run) envs() []string {
	return slices.Concat(r.gates, r.rbs, r.apps)
}

// deploying returns the environments whose deployments reach targets.
func (r *Run) deploying() []string { return slices.Concat(r.rbs, r.apps) }

func (r *Run) isGate(env string) bool { return strings.HasPrefix(env, gatePrefix) }

func (r *Run) initialFiles() map[string]string {
	files := map[string]string{
		".gitops/deployment-policy.yaml":         policyYAML(r.gates, r.deploying()),
		"environments/common/shared-config.json": sharedConfigJSON,
	}
	for _, env := range r.envs() {
		files["environments/"+env+"/metadata.json"] = metadataJSON(env, 0)
		files["environments/"+env+"/datasources.json"] = sampleconfig.DataSources
	}
	return files
}

// writeTokens writes the tokens file: the approvers, all in one group,
// and the admin.
func (r *Run) writeTokens(path string) {
	r.t.Helper()
	var b strings.Builder
	b.WriteString("tokens:\n")
	add := func(name string, role rpc.Role) {
		tok, entry, err := rpc.NewToken(name, role, []string{"devops"})
		if err != nil {
			r.t.Fatal(err)
		}
		r.tokens[name] = tok
		b.WriteString(entry)
	}
	for _, a := range approvers {
		add(a, rpc.RoleApprover)
	}
	add(adminName, rpc.RoleAdmin)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

// writeConfig writes the nodes' configuration file: the repository, a
// directory target and an http target (a target agent, with its token
// file) for every environment, and notifications
// of every event to the run's receiver.
func (r *Run) writeConfig(path, tokensFile, hookSecretFile string) {
	r.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "repository:\n  url: %s\n  branch: main\n  pollInterval: 1s\n  timeout: 10s\nenvironments:\n",
		r.daemon.URL(r.repo.gr.Name()))
	for _, env := range r.envs() {
		a := r.agents[env]
		fmt.Fprintf(&b, "  %s:\n    targets:\n", env)
		fmt.Fprintf(&b, "      - type: directory\n        path: %s\n", r.dirs[env])
		fmt.Fprintf(&b, "      - type: http\n        url: %s\n        tokenFile: %s\n        healthChecks:\n          - url: %s\n",
			a.URL(), a.TokenFile(), a.HealthURL())
	}
	fmt.Fprintf(&b, "auth:\n  tokensFile: %s\n", tokensFile)
	b.WriteString(r.hook.configYAML(hookSecretFile))
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// identify returns the function an agent's proxy names the sender of a
// PUT with: the node whose process holds the connection, or, when the nodes
// run in namespaces, the node whose namespace it comes from.
func (r *Run) identify(server string) func(remote string) string {
	if r.net != nil {
		return r.net.identify
	}
	return func(remote string) string {
		id, err := harness.ConnOwner(r.bin, remote, server)
		if err != nil {
			return ""
		}
		return id
	}
}

// setUp waits for the first deployment of every environment, deploys a
// second commit to the rb environments, and registers the gate
// deployments with the workload.
func (r *Run) setUp() {
	r.t.Helper()
	if _, err := r.cluster.WaitForLeader(leaderTimeout); err != nil {
		r.t.Fatal(err)
	}
	r.waitEnvironments("the first deployment of every environment", func(e api.EnvironmentDetail) error {
		if r.isGate(e.Name) {
			return r.awaitingGate(e)
		}
		if e.DeployedCommit != r.c0 || e.Current != "" || e.Waiting != "" {
			return fmt.Errorf("%s: deployed %.12s (want %.12s), current %q, waiting %q", e.Name, e.DeployedCommit, r.c0, e.Current, e.Waiting)
		}
		return nil
	})
	files := map[string]string{}
	for _, env := range r.rbs {
		files["environments/"+env+"/metadata.json"] = metadataJSON(env, 1)
	}
	r.c1 = r.repo.commit(files, "rb environments: revision 1")
	r.repo.mu.Lock()
	for _, env := range r.rbs {
		r.repo.revs[env] = 1
	}
	r.repo.mu.Unlock()
	r.waitEnvironments("the rb environments to deploy their second commit", func(e api.EnvironmentDetail) error {
		switch {
		case r.isGate(e.Name):
			return r.awaitingGate(e)
		case strings.HasPrefix(e.Name, rbPrefix) && (e.DeployedCommit != r.c1 || e.Current != "" || e.Waiting != ""):
			return fmt.Errorf("%s: deployed %.12s (want %.12s), current %q, waiting %q", e.Name, e.DeployedCommit, r.c1, e.Current, e.Waiting)
		}
		return nil
	})
	r.Logf("set up: %d nodes, environments %v; rb environments deployed %.12s and roll back to %.12s",
		r.opts.Nodes, r.envs(), r.c1, r.c0)
}

// awaitingGate checks that a gate environment's deployment waits for
// approval.
func (r *Run) awaitingGate(e api.EnvironmentDetail) error {
	if w := e.WaitingDeployment; w == nil || w.State != api.DeploymentState("AwaitingApproval") {
		return fmt.Errorf("%s: waiting deployment %+v; want one AwaitingApproval", e.Name, w)
	}
	return nil
}

// waitEnvironments waits until check passes for every environment, by a
// consistent read.
func (r *Run) waitEnvironments(what string, check func(api.EnvironmentDetail) error) {
	r.t.Helper()
	cl := r.adminClient()
	err := harness.Poll(settleTimeout, what, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		envs, err := cl.Environments(ctx, &api.QueryOptions{Consistent: true})
		if err != nil {
			return err
		}
		if len(envs) != len(r.envs()) {
			return fmt.Errorf("%d environments; want %d", len(envs), len(r.envs()))
		}
		for _, e := range envs {
			if err := check(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

// addrs returns the API URL of every node not removed from the cluster,
// running or not, in a random order.
func (r *Run) addrs(rng *rand.Rand) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.nodes {
		if !r.removed[n.ID()] {
			out = append(out, n.URL())
		}
	}
	if rng != nil {
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	}
	return out
}

// nodeAt names the node serving an API URL.
func (r *Run) nodeAt(addr string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.nodes {
		if n.URL() == addr {
			return n.ID()
		}
	}
	return addr
}

// client returns an API client for who over every node in a random order,
// and the id of the node it tries first.
func (r *Run) client(who string, rng *rand.Rand) (*api.Client, string) {
	addrs := r.addrs(rng)
	cl, err := api.NewClient(api.Config{Addrs: addrs, Token: r.tokens[who], Timeout: workloadTimeout, TLS: r.tls})
	if err != nil {
		panic(err) // the addresses are ours
	}
	return cl, r.nodeAt(addrs[0])
}

// adminClient returns an admin's client over every node, in order.
func (r *Run) adminClient() *api.Client {
	cl, err := api.NewClient(api.Config{Addrs: r.addrs(nil), Token: r.tokens[adminName], Timeout: opTimeout, TLS: r.tls})
	if err != nil {
		panic(err)
	}
	return cl
}

// nodeClient returns an admin's client of one node only.
func (r *Run) nodeClient(n *harness.Node) *api.Client {
	cl, err := api.NewClient(api.Config{Addrs: []string{n.URL()}, Token: r.tokens[adminName], Timeout: opTimeout, TLS: r.tls})
	if err != nil {
		panic(err)
	}
	return cl
}

// members returns the nodes that were not removed and run (paused ones
// included).
func (r *Run) members() []*harness.Node {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*harness.Node
	for _, n := range r.nodes {
		if !r.removed[n.ID()] && n.Running() {
			out = append(out, n)
		}
	}
	return out
}

// note records a figure to print with the run's summary.
func (r *Run) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// idle lets the workload run for d: it paces the schedule, it waits for no
// condition.
func (r *Run) idle(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	<-t.C
}

// between returns a random duration in [lo, hi).
func (r *Run) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.rng.Int64N(int64(hi-lo)))
}

// stopBackground stops the workload, the event streams and the directory
// readers, and waits for them.
func (r *Run) stopBackground() {
	if r.workload != nil {
		r.workload.stop()
	}
	r.stopBg()
	r.bgWG.Wait()
}
