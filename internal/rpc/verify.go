package rpc

import "sync"

// leaderCheck lets the consistent reads that arrive together share one
// confirmation of the leadership with a quorum (raft's VerifyLeader, a
// round of heartbeats through the leader's main loop) instead of asking
// for one each: under a flood of consistent reads, those requests would
// crowd out the writes in that loop. A read never rides on a confirmation
// that had started before it arrived, which could predate a write it must
// see: it joins the next round, which starts when the running one ends. At
// most one round runs at a time.
type leaderCheck struct {
	mu      sync.Mutex
	next    *checkRound // the round that starts next; nil when none is waited for
	running bool
}

// checkRound is one confirmation and the reads waiting for it.
type checkRound struct {
	done    chan struct{}
	err     error
	waiting int // reads that joined it
}

// confirm returns the result of a confirmation by verify that started
// after confirm was called.
func (c *leaderCheck) confirm(verify func() error) error {
	c.mu.Lock()
	if c.next == nil {
		c.next = &checkRound{done: make(chan struct{})}
	}
	round := c.next
	round.waiting++
	if !c.running {
		c.running = true
		go c.run(verify)
	}
	c.mu.Unlock()
	<-round.done
	return round.err
}

// run runs rounds while reads wait for one.
func (c *leaderCheck) run(verify func() error) {
	for {
		c.mu.Lock()
		round := c.next
		c.next = nil
		if round == nil {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		round.err = verify()
		close(round.done)
	}
}

// waitingForNext returns how many reads wait for the round that starts
// next.
func (c *leaderCheck) waitingForNext() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next == nil {
		return 0
	}
	return c.next.waiting
}
