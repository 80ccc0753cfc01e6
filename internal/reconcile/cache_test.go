package reconcile

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// TestPolicyCacheIsBounded: the policy read at each commit is cached, and
// a leader that runs for months sees a commit after another: the cache
// keeps the maxCachedPolicies used most recently, and reads again what it
// forgot.
func TestPolicyCacheIsBounded(t *testing.T) {
	p := newMemPipeline(t)
	ctx := context.Background()
	const commits = 10 * maxCachedPolicies
	for i := range commits {
		c := p.src.add(fmt.Sprintf("c%04d", i), files("staging", sampleconfig.Policy))
		if _, err := p.r.policyAt(ctx, c, "commit "+c); err != nil {
			t.Fatalf("policyAt(%s) = %v", c, err)
		}
	}
	if n := p.r.policies.Len(); n > maxCachedPolicies {
		t.Errorf("after reading the policy of %d commits, %d are cached; want at most %d", commits, n, maxCachedPolicies)
	}
	// The newest is cached: its answer holds though the commit is gone.
	last := fmt.Sprintf("c%04d", commits-1)
	p.src.drop(last)
	if pa, err := p.r.policyAt(ctx, last, "the last commit"); err != nil || pa.from != "the last commit" {
		t.Errorf("policyAt(%s) after its commit went = %+v, %v; want the cached policy", last, pa, err)
	}
	// The oldest was forgotten: it is read again, and now the commit is
	// gone the defaults apply.
	p.src.drop("c0000")
	if pa, err := p.r.policyAt(ctx, "c0000", "the first commit"); err != nil || !strings.Contains(pa.from, "is gone from the repository") {
		t.Errorf("policyAt(c0000) after its commit went = %+v, %v; want it read again: the defaults", pa, err)
	}
}
