package reconcile

import (
	"context"
	"errors"
	"testing"

	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// TestAbandonedRequests: Rollback and Approvers, which the API calls for a
// client, give up with the client's context: a rollback asked for by a
// client that went away is not created, and the approver groups are not
// fetched for it.
func TestAbandonedRequests(t *testing.T) {
	p := newMemPipeline(t)
	a := p.src.add("a", files("staging", sampleconfig.Policy))
	b := p.src.add("b", files("staging", sampleconfig.Policy))
	p.deployed("staging", a)
	p.deployed("staging", b)
	gone, cancel := context.WithCancel(context.Background())
	cancel()

	before := len(p.a.FSM.History("staging"))
	if d, err := p.r.Rollback(gone, "staging", "", "alice"); !errors.Is(err, context.Canceled) {
		t.Errorf("Rollback for a client that went away = %+v, %v; want context.Canceled", d, err)
	}
	if n := len(p.a.FSM.History("staging")); n != before {
		t.Errorf("Rollback for a client that went away created a deployment (%d deployments, was %d)", n, before)
	}
	if d, err := p.r.Rollback(context.Background(), "staging", "", "alice"); err != nil || d.Commit != a {
		t.Errorf("Rollback = %+v, %v; want a rollback to %s", d, err, a)
	}

	// The deployed commit is not in the local clone: the groups need a
	// fetch, which the caller's context stops.
	p.src.drop(b)
	if groups, err := p.r.Approvers(gone, "staging"); !errors.Is(err, context.Canceled) {
		t.Errorf("Approvers for a client that went away = %v, %v; want context.Canceled", groups, err)
	}
	if groups, err := p.r.Approvers(context.Background(), "staging"); err != nil || len(groups) != 0 {
		t.Errorf("Approvers = %v, %v; want the defaults' (any approver), the deployed commit being gone", groups, err)
	}
}
