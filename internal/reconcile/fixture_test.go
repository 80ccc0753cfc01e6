package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/cluster/clustertest"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/gitrepo"
	"github.com/honua-io/honua-gitops/internal/plan"
	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// The sample configuration (test/sampleconfig), under the short names
// these tests use.
type layer = sampleconfig.Layer

const testPolicy = sampleconfig.Policy

// Variants of testPolicy that several tests commit.
var (
	// loosenedPolicy lets production deploy without approval: a commit
	// carrying it loosens production's policy.
	loosenedPolicy = strings.Replace(testPolicy, "requireApproval: onRisk", "requireApproval: never", 1)
	// quickHealthPolicy gives staging's health check 300ms, so that a
	// failing one rolls back soon.
	quickHealthPolicy = strings.Replace(testPolicy, "  staging:\n    requireApproval: never\n",
		"  staging:\n    requireApproval: never\n    healthCheckTimeout: 300ms\n", 1)
)

var (
	envFiles = sampleconfig.Env
	merge    = sampleconfig.Merge
	points   = sampleconfig.Points
	roads    = sampleconfig.Roads
)

// clock is a settable clock shared by the reconcilers of a test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// pipelineCluster is an in-process cluster whose nodes run the reconciler
// against one real repository.
type pipelineCluster struct {
	*clustertest.Cluster
	t        *testing.T
	repo     *gitserver.Repo
	clock    *clock
	recs     []*Reconciler
	registry []*prometheus.Registry
}

type pipelineOptions struct {
	url    string // default: the repository's path
	nodes  int
	adjust func(*Config)
	// clusterAdjust changes each node's cluster configuration.
	clusterAdjust func(*cluster.Config)
	startAt       time.Time
	envs          map[string]EnvironmentSettings
	// wrap, when set, stands between each reconciler and its node.
	wrap func(Cluster) Cluster
}

func startPipeline(t *testing.T, repo *gitserver.Repo, opts pipelineOptions) *pipelineCluster {
	t.Helper()
	if opts.nodes == 0 {
		opts.nodes = 3
	}
	if opts.url == "" {
		opts.url = repo.Path()
	}
	if opts.startAt.IsZero() {
		opts.startAt = time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC) // a Wednesday afternoon
	}
	pc := &pipelineCluster{t: t, repo: repo, clock: &clock{now: opts.startAt}}
	pc.recs = make([]*Reconciler, opts.nodes)
	pc.registry = make([]*prometheus.Registry, opts.nodes)
	var clusterAdjust func(int, *cluster.Config)
	if opts.clusterAdjust != nil {
		clusterAdjust = func(_ int, c *cluster.Config) { opts.clusterAdjust(c) }
	}
	pc.Cluster = clustertest.Start(t, opts.nodes, clustertest.Options{
		Adjust: clusterAdjust,
		Setup: func(i int, n *cluster.Node, f *fsm.FSM) {
			src, err := gitrepo.Open(gitrepo.Config{URL: opts.url, Branch: "main",
				Dir: filepath.Join(t.TempDir(), "repo"), Timeout: 10 * time.Second})
			if err != nil {
				t.Fatalf("open repository: %v", err)
			}
			cfg := Config{Source: src, Branch: "main", PollInterval: time.Hour, GitTimeout: 10 * time.Second,
				Now: pc.clock.Now, Registry: prometheus.NewRegistry(), Environments: opts.envs}
			if opts.adjust != nil {
				opts.adjust(&cfg)
			}
			pc.registry[i] = cfg.Registry.(*prometheus.Registry)
			var c Cluster = n
			if opts.wrap != nil {
				c = opts.wrap(n)
			}
			pc.recs[i] = New(cfg, c, f)
			n.RegisterLeaderWork("reconcile", pc.recs[i].Run)
		},
	})
	return pc
}

// commit commits files and makes the leader poll at once.
func (pc *pipelineCluster) commit(files map[string]string, msg string) string {
	pc.t.Helper()
	c := pc.repo.Commit(files, msg)
	pc.pollNow()
	return c
}

// pollNow asks every reconciler to poll; only the leader's is running.
func (pc *pipelineCluster) pollNow() {
	for _, r := range pc.recs {
		r.PollNow("test")
	}
}

// wake makes every pipeline re-evaluate now (after the clock moved).
func (pc *pipelineCluster) wake() {
	for _, r := range pc.recs {
		r.Wake()
	}
}

// deploymentOf waits until env has a deployment of commit in state (on
// every node) and returns it.
func (pc *pipelineCluster) deploymentOf(env, commit string, state fsm.DeploymentState) *fsm.Deployment {
	pc.t.Helper()
	var found *fsm.Deployment
	pc.WaitForState(fmt.Sprintf("a deployment of %s at %s in %s", env, short(commit), state), func(f *fsm.FSM) error {
		for _, d := range f.History(env) {
			if d.Commit == commit {
				if d.State != state {
					return fmt.Errorf("deployment %s is %s (%s)", d.ID, d.State, lastMessage(d))
				}
				found = d
				return nil
			}
		}
		return fmt.Errorf("no deployment of %s yet", short(commit))
	})
	return found
}

func lastMessage(d *fsm.Deployment) string {
	if n := len(d.Transitions); n > 0 {
		return d.Transitions[n-1].Message
	}
	return ""
}

// complete plays the deploy stage: it takes a cleared deployment through
// to Completed.
func (pc *pipelineCluster) complete(d *fsm.Deployment) {
	pc.t.Helper()
	for _, s := range []fsm.DeploymentState{fsm.StateBackingUp, fsm.StateApplying, fsm.StatePostValidating, fsm.StateCompleted} {
		if _, err := pc.Apply(&fsm.TransitionDeployment{ID: d.ID, To: s, Time: pc.clock.Now(), Message: "test deploy stage"}); err != nil {
			pc.t.Fatalf("move %s to %s: %v", d.ID, s, err)
		}
	}
}

// approve applies an approval and returns the FSM's answer.
func (pc *pipelineCluster) approve(id, who string, groups ...string) (*fsm.ApproveResult, error) {
	res, err := pc.Apply(&fsm.Approve{ID: id, Identity: who, Groups: groups, Time: pc.clock.Now(), Comment: "lgtm"})
	if err != nil {
		return nil, err
	}
	return res.(*fsm.ApproveResult), nil
}

// planOf decodes a deployment's plan.
func planOf(t *testing.T, d *fsm.Deployment) plan.Document {
	t.Helper()
	var rec plan.Document
	if err := json.Unmarshal(d.Plan.JSON(), &rec); err != nil || rec.Plan == nil {
		t.Fatalf("deployment %s plan %s: %v", d.ID, d.Plan, err)
	}
	return rec
}

// historyLen returns how many deployments env has on the leader.
func (pc *pipelineCluster) historyLen(env string) int {
	return len(pc.Leader().FSM.History(env))
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), clustertest.Timeout)
	t.Cleanup(cancel)
	return ctx
}
