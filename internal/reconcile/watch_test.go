package reconcile

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/test/gitserver"
)

// slowSource is a repository whose ls-remote takes at least delay, as a
// remote far away or a big repository does.
type slowSource struct {
	Source
	delay time.Duration
}

func (s slowSource) Head(ctx context.Context) (string, error) {
	t := time.NewTimer(s.delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case <-t.C:
	}
	return s.Source.Head(ctx)
}

// Polls asked for without end (a flood of webhooks, on the leader or
// forwarded to it) take at most PollShare of the leader's time once their
// PollBurst is spent: each lists the remote and reads every environment of
// the head, and back to back they would keep the leader from its other
// work. Each request is still followed by a poll.
func TestAskedForPollsTakeAShareOfTheTime(t *testing.T) {
	const (
		delay = 50 * time.Millisecond
		share = 0.2
	)
	repo := gitserver.NewRepo(t)
	repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "staging")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1, adjust: func(cfg *Config) {
		cfg.Source = slowSource{Source: cfg.Source, delay: delay}
		cfg.PollShare, cfg.PollBurst = share, time.Millisecond
	}})
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
	// Each poll takes at least delay, and is followed by at least
	// delay×(1-share)/share of rest. A lower bound: a slow machine only
	// makes it longer.
	if took, want := time.Since(start), time.Duration(3*float64(delay)/share); took < want {
		t.Errorf("4 polls asked for back to back took %v; want at least %v (3 polls of %v at most %.0f%% of the time)",
			took, want, delay, 100*share)
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

// A poll that finds a new head is not charged to the budget of the polls
// asked for: only a push makes one, and serving it is what webhooks are
// for. Pushes in a row each deploy at once, however small the budget; the
// polls that find nothing new (a flood, a forged delivery) still pay.
func TestPollsFindingANewHeadAreNotCharged(t *testing.T) {
	repo := gitserver.NewRepo(t)
	repo.Commit(merge(envFiles("staging", points), map[string]string{policyPath: testPolicy}), "staging")
	pc := startPipeline(t, repo, pipelineOptions{nodes: 1, adjust: func(cfg *Config) {
		// Charged, a poll of 50ms would keep the next one waiting 500s.
		cfg.Source = slowSource{Source: cfg.Source, delay: 50 * time.Millisecond}
		cfg.PollShare, cfg.PollBurst = 0.0001, time.Millisecond
	}})
	pc.deploymentOf("staging", repo.Head(), fsm.StateCompleted)
	for i, layers := range [][]layer{{roads}, {points}, {roads, points}} {
		c := repo.Commit(envFiles("staging", layers...), fmt.Sprintf("push %d", i+1))
		pc.recs[0].PollNow(fmt.Sprintf("webhook %d", i+1))
		pc.deploymentOf("staging", c, fsm.StateCompleted)
	}
}
