package main

import (
	"context"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/test/harness"
)

// approvalPath is a sequence of approvals sent one at a time to one node.
type approvalPath struct {
	name    string // "via the leader", "via a follower"
	node    *harness.Node
	clients []*api.Client // one per identity
	res     outcomes
}

// latencyResult is the latency phase: the same number of sequential
// approvals through the leader and through a follower.
type latencyResult struct {
	leader, follower approvalPath
	warmup           int
	usage            usage
}

// benchLatency sends warmup+n approvals through the leader and as many
// through a follower, one request at a time, alternating between the two
// (leader first on even steps, follower first on odd ones) so that both see
// the same cluster: the same log length, the same deployment sizes, the
// same background. Approval k of a path is by identity k/D of its group for
// deployment k mod D (D deployments): each is a new approval, a real Raft
// write that changes the deployment. The first warmup of each path are not
// counted.
func benchLatency(b *bench, n, warmup int, leaderIDs, followerIDs identityGroup) latencyResult {
	b.checkLeader("latency")
	res := latencyResult{warmup: warmup,
		leader:   approvalPath{name: "via the leader", node: b.leader, clients: b.clients(leaderIDs, b.leader)},
		follower: approvalPath{name: "via a follower", node: b.followers[0], clients: b.clients(followerIDs, b.followers[0])},
	}
	ctx := context.Background()
	d := len(b.deployments)
	before := b.take()
	for k := range warmup + n {
		paths := []*approvalPath{&res.leader, &res.follower}
		if k%2 == 1 {
			paths[0], paths[1] = paths[1], paths[0]
		}
		for _, p := range paths {
			c, id := p.clients[(k/d)%len(p.clients)], b.deployments[k%d]
			start := time.Now()
			ar, err := c.Approve(ctx, id, "")
			took := time.Since(start)
			if k >= warmup {
				p.res.record(took, ar, err)
			}
		}
	}
	res.usage = b.take().since(before)
	b.checkLeader("latency")
	for _, p := range []approvalPath{res.leader, res.follower} {
		say("   %-15s %s: %s\n", p.name, p.node.ID(), p.res.describe())
	}
	say("   %s\n", res.usage)
	return res
}
