package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

// throughputResult is one throughput run: concurrent clients approving for
// a fixed time.
type throughputResult struct {
	name      string
	clients   int
	placement string // how many clients talked to which node
	duration  time.Duration
	// elapsed is from the start until the last client's last answer (the
	// requests in flight at the deadline finish and count).
	elapsed time.Duration
	res     outcomes
	// wrapped counts approvals sent after a client had used up its new
	// (identity, deployment) pairs; they are duplicates.
	wrapped int
	usage   usage
}

// rate is acknowledged approvals per second.
func (t throughputResult) rate() float64 {
	if t.elapsed <= 0 {
		return 0
	}
	return float64(len(t.res.times)) / t.elapsed.Seconds()
}

// benchThroughput runs one client per identity group, client g talking only
// to nodes[g mod len(nodes)], each sending approvals one after another for
// duration. Client g's k-th approval is by identity k/D of its group (D
// deployments) for deployment (k + g·D/clients) mod D, so that every
// approval is a new one until a client has used up its identities, and the
// clients start on different deployments.
func benchThroughput(b *bench, name string, nodes []*harness.Node, groups []identityGroup, duration time.Duration) throughputResult {
	b.checkLeader(name)
	res := throughputResult{name: name, clients: len(groups), duration: duration}
	counts := map[*harness.Node]int{}
	for g := range groups {
		counts[nodes[g%len(nodes)]]++
	}
	var placement []string
	for _, n := range nodes {
		role := "follower"
		if n == b.leader {
			role = "leader"
		}
		placement = append(placement, fmt.Sprintf("%d on %s %s", counts[n], role, n.ID()))
	}
	res.placement = strings.Join(placement, ", ")

	d := len(b.deployments)
	per := make([]outcomes, len(groups))
	wrapped := make([]int, len(groups))
	var wg sync.WaitGroup
	ready := make(chan struct{})
	ctx := context.Background()
	before := b.take()
	start := time.Now()
	deadline := start.Add(duration)
	for g, group := range groups {
		clients := b.clients(group, nodes[g%len(nodes)])
		offset := g * d / len(groups)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			for k := 0; time.Now().Before(deadline); k++ {
				if k/d >= len(clients) {
					wrapped[g]++
				}
				c, id := clients[(k/d)%len(clients)], b.deployments[(k+offset)%d]
				t0 := time.Now()
				ar, err := c.Approve(ctx, id, "")
				per[g].record(time.Since(t0), ar, err)
			}
		}()
	}
	close(ready)
	wg.Wait()
	res.elapsed = time.Since(start)
	res.usage = b.take().since(before)
	for g := range groups {
		res.res.merge(per[g])
		res.wrapped += wrapped[g]
	}
	b.checkLeader(name)
	say("   %d clients (%s) for %v: %.0f acknowledged writes/s\n", res.clients, res.placement, duration, res.rate())
	say("   %s\n", res.res.describe())
	if res.wrapped > 0 {
		say("   note: %d approvals were sent after a client ran out of new (identity, deployment) pairs (raise -identities)\n", res.wrapped)
	}
	say("   %s\n", res.usage)
	return res
}
