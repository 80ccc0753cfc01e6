package reconcile

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/cluster/clustertest"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/test/gitserver"
)

// countingSource counts the ls-remote steps and fetches of a real
// repository.
type countingSource struct {
	Source
	heads, fetches *atomic.Int64
}

func (s countingSource) Head(ctx context.Context) (string, error) {
	s.heads.Add(1)
	return s.Source.Head(ctx)
}

func (s countingSource) Fetch(ctx context.Context) (string, error) {
	s.fetches.Add(1)
	return s.Source.Fetch(ctx)
}

// startCounted starts a one-node pipeline on repo whose git calls are
// counted, and waits for the first deployment of staging at the head.
func startCounted(t *testing.T, repo *gitserver.Repo) (pc *pipelineCluster, heads, fetches *atomic.Int64) {
	t.Helper()
	heads, fetches = new(atomic.Int64), new(atomic.Int64)
	pc = startPipeline(t, repo, pipelineOptions{nodes: 1, adjust: func(cfg *Config) {
		cfg.Source = countingSource{Source: cfg.Source, heads: heads, fetches: fetches}
	}})
	pc.deploymentOf("staging", repo.Head(), fsm.StateCompleted)
	return pc, heads, fetches
}

// A poll asked for with the pushed commit (a push webhook's) fetches at
// once: the fetch learns the head from the remote itself, so the ls-remote
// step before it would only cost a round trip.
func TestPollNamingANewCommitFetchesAtOnce(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "staging")
	pc, heads, fetches := startCounted(t, repo)
	h0, f0 := heads.Load(), fetches.Load()

	c := repo.Commit(envFiles("staging", roads), "roads")
	pc.recs[0].PollCommit("webhook test", c)
	pc.deploymentOf("staging", c, fsm.StateCompleted)
	if h, f := heads.Load()-h0, fetches.Load()-f0; h != 0 || f != 1 {
		t.Errorf("a poll naming the new commit made %d ls-remote steps and %d fetches; want 0 and 1", h, f)
	}

	// A commit the clone holds already (a delivery sent twice) is no
	// reason to fetch: the poll asks the remote for its head first.
	h0, f0 = heads.Load(), fetches.Load()
	pc.recs[0].PollCommit("webhook again", c)
	waitCount(t, heads, h0+1, "the ls-remote step of a poll naming a commit already fetched")
	if f := fetches.Load() - f0; f != 0 {
		t.Errorf("a poll naming a commit already fetched made %d fetches; want 0", f)
	}
}

// The commit a poll request names is a hint, never what is deployed: a
// forged id, a commit of another branch, or an older commit of the branch
// each lead to a deployment of the branch head the remote reports, and of
// nothing else.
func TestPollNamingAnotherCommitDeploysOnlyTheHead(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "staging")
	pc, _, _ := startCounted(t, repo)

	// Each case pushes a head whose staging files differ from the
	// deployed ones (points, roads, points...).
	cases := []struct {
		name string
		push func() (hint, head string)
	}{
		{"a forged id", func() (string, string) {
			return "0123456789abcdef0123456789abcdef01234567", repo.Commit(envFiles("staging", roads), "roads")
		}},
		{"a commit of another branch", func() (string, string) {
			other := repo.CommitOnBranch("feature", envFiles("staging", roads, points), "a feature")
			return other, repo.Commit(envFiles("staging", points), "points")
		}},
		{"an older commit of the branch", func() (string, string) {
			older := repo.Commit(envFiles("staging", roads, points), "both")
			return older, repo.Commit(envFiles("staging", roads), "roads")
		}},
	}
	for _, tc := range cases {
		hint, head := tc.push()
		pc.recs[0].PollCommit("webhook naming "+tc.name, hint)
		pc.deploymentOf("staging", head, fsm.StateCompleted)
		for _, d := range pc.Leader().FSM.History("staging") {
			if d.Commit == hint {
				t.Errorf("%s: deployment %s of the named commit %s; want only the head %s deployed",
					tc.name, d.ID, short(hint), short(head))
			}
		}
	}
}

// waitCount waits until c reaches want.
func waitCount(t *testing.T, c *atomic.Int64, want int64, what string) {
	t.Helper()
	clustertest.WaitFor(t, what, func() error {
		if n := c.Load(); n < want {
			return fmt.Errorf("%d of %d", n, want)
		}
		return nil
	})
}

// losingCluster fails the first command of a type as a leader that lost
// office just then would, without proposing it.
type losingCluster struct {
	Cluster
	lose func(fsm.Command) bool
	lost atomic.Bool
}

func (c *losingCluster) Apply(ctx context.Context, cmd fsm.Command) (any, error) {
	if c.lose(cmd) && c.lost.CompareAndSwap(false, true) {
		return nil, cluster.ErrLeadershipLost
	}
	return c.Cluster.Apply(ctx, cmd)
}

// startLosing starts a one-node pipeline whose first command that lose
// picks fails, and waits until it has.
func startLosing(t *testing.T, repo *gitserver.Repo, lose func(fsm.Command) bool) *pipelineCluster {
	t.Helper()
	losing := &losingCluster{lose: lose}
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1, wrap: func(c Cluster) Cluster {
		losing.Cluster = c
		return losing
	}})
	clustertest.WaitFor(t, "the lost command", func() error {
		if !losing.lost.Load() {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	return pc
}

// A leader lost between seeing a new commit and creating its deployment
// leaves the commit to the next poll: the commit is recorded as seen only
// once what it calls for is done.
func TestCommitSeenOnlyOnceItsDeploymentIsCreated(t *testing.T) {
	repo := gitserver.NewRepo(t)
	first := repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "staging")
	pc := startLosing(t, repo, func(c fsm.Command) bool { _, ok := c.(*fsm.CreateDeployment); return ok })
	pc.pollNow()
	pc.deploymentOf("staging", first, fsm.StateCompleted)
}

// A leader lost between creating a deployment and recording its commit as
// seen leaves a deployment of the head: the next poll records the commit
// and creates no second one, even when the first has left the waiting
// states (here it failed validation).
func TestCommitWithADeploymentIsNotDeployedTwice(t *testing.T) {
	repo := gitserver.NewRepo(t)
	head := repo.Commit(merge(envFiles("staging", points), map[string]string{
		policyPath: testPolicy, "environments/staging/metadata.json": "{",
	}), "broken staging")
	pc := startLosing(t, repo, func(c fsm.Command) bool { _, ok := c.(*fsm.ObserveCommit); return ok })
	pc.deploymentOf("staging", head, fsm.StateFailed)
	pc.pollNow()
	pc.WaitForState("the head recorded as seen", func(f *fsm.FSM) error {
		if e, _ := f.Environment("staging"); e == nil || e.LatestSeenCommit != head {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if n := pc.historyLen("staging"); n != 1 {
		t.Errorf("staging has %d deployments of its one commit; want 1", n)
	}
}
