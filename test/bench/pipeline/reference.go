package main

import (
	"context"
	"fmt"
	"time"

	"github.com/honua-io/honua-gitops/internal/gitrepo"
	"github.com/honua-io/honua-gitops/test/bench/benchrun"
)

// benchFetchReference times runs fetches of one new development commit
// each, by gitrepo (honuad's own git client) into a clone of its own, from
// the daemon the clusters watched: the git step no push → Completed can do
// without, measured in the same run. It runs once the clusters are
// stopped, so that nothing else uses the machine meanwhile.
func benchFetchReference(r *benchrun.Runner, s *setup, runs int) []time.Duration {
	repo, err := gitrepo.Open(gitrepo.Config{URL: s.daemon.URL(s.config.Name()), Branch: "main",
		Dir: r.TempDir(), Timeout: 10 * time.Second})
	if err != nil {
		r.Fatalf("reference: %v", err)
	}
	// The first fetch clones: not timed.
	if _, err := repo.Fetch(context.Background()); err != nil {
		r.Fatalf("reference: first fetch: %v", err)
	}
	var took []time.Duration
	for i := range runs {
		commit := s.commitDevelopment()
		start := time.Now()
		head, err := repo.Fetch(context.Background())
		d := time.Since(start)
		if err != nil || head != commit {
			r.Fatalf("reference: fetch %d: head %s, error %v; want %s", i+1, short(head), err, short(commit))
		}
		took = append(took, d)
	}
	fmt.Fprintf(progress, "   gitrepo Fetch of one commit: %s over %d runs\n", spread(took), len(took))
	return took
}
