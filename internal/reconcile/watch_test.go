package reconcile

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/test/gitserver"
)

// Polls asked for without end (a flood of webhooks, on the leader or
// forwarded to it) are spaced by MinPollGap: each poll lists the remote and
// reads every environment of the head, so back to back they would keep the
// leader from its other work. Each request is still followed by a poll.
func TestAskedForPollsAreSpaced(t *testing.T) {
	const gap = 300 * time.Millisecond
	repo := gitserver.NewRepo(t)
	repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "staging")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1, adjust: func(cfg *Config) { cfg.MinPollGap = gap }})
	r := pc.recs[0]
	polls := func() float64 { return testutil.ToFloat64(r.metrics.gitRequests.WithLabelValues("ls-remote", "ok")) }
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for polls() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no first poll after a minute")
		}
		<-tick.C
	}

	first := polls()
	start := time.Now()
	for polls() < first+4 {
		if time.Now().After(deadline) {
			t.Fatalf("%v polls in a minute of PollNow every 5ms; want 4", polls()-first)
		}
		r.PollNow("flood")
		<-tick.C
	}
	// A lower bound: a slow machine only makes it longer.
	if took := time.Since(start); took < 3*gap {
		t.Errorf("4 polls asked for back to back took %v; want at least 3 gaps of %v between them", took, gap)
	}

	// One more request after the flood is still served.
	n := polls()
	c := repo.Commit(envFiles("development", points), "development")
	r.PollNow("after the flood")
	pc.deploymentOf("development", c, fsm.StateCompleted)
	if polls() <= n {
		t.Errorf("no poll after the last request")
	}
}
