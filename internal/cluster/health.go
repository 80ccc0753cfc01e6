package cluster

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// A node that has run out of file descriptors keeps the raft connections it
// holds, so it keeps its leadership, or wins it, while it can accept no API
// connection, open no file, run no git command and reach no target: the
// cluster stops deploying and nothing fails over. The node watches for it:
// every ResourceCheckInterval it opens its data dir, and the agent reports
// the errors its HTTP listener meets (NoteResourceError). While either says
// "too many open files" (EMFILE, or ENFILE for the whole system) the node
// reports not ready; once it has lasted ResourceGrace, a leader hands its
// leadership to another voter (raft's leadership transfer), and tries again
// each ResourceGrace while it leads and the exhaustion lasts.
//
// Failures that are not local, such as git or a target being unreachable,
// never move leadership: every node would meet them, and moving leadership
// would only add elections to the outage.

// exhaustion is what the node knows of its own file descriptors.
type exhaustion struct {
	mu sync.Mutex
	// noted is an exhaustion error reported since the last check.
	noted error
	// since is the first check of the current run of failed checks; zero
	// while descriptors are available.
	since time.Time
	last  error
	// handedOff is when this node last handed its leadership away for it.
	handedOff time.Time
}

// isExhaustion reports whether err says the process or the system has no
// file descriptor left.
func isExhaustion(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// NoteResourceError tells the node of an error met while using a local
// resource, such as accepting a connection. It counts only errors that say
// the file descriptors ran out; it ignores others.
func (n *Node) NoteResourceError(err error) {
	if !isExhaustion(err) {
		return
	}
	n.exhaust.mu.Lock()
	n.exhaust.noted = err
	n.exhaust.mu.Unlock()
}

// watchResources checks the node's file descriptors until shutdown.
func (n *Node) watchResources() {
	t := time.NewTicker(n.cfg.ResourceCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-n.shutdownCh:
			return
		case <-t.C:
		}
		n.checkResources(time.Now())
	}
}

// checkResources opens the data dir, takes in what was noted since the last
// check, and hands leadership away when the exhaustion has lasted.
func (n *Node) checkResources(now time.Time) {
	err := openAndClose(n.cfg.DataDir)
	if !isExhaustion(err) {
		err = nil
	}
	e := &n.exhaust
	e.mu.Lock()
	if err == nil {
		err = e.noted
	}
	e.noted = nil
	switch {
	case err == nil && !e.since.IsZero():
		n.logger.Info("file descriptors are available again", "exhausted_for", now.Sub(e.since).Round(time.Millisecond))
		e.since, e.last = time.Time{}, nil
	case err != nil && e.since.IsZero():
		n.logger.Error("this node has run out of file descriptors: it reports not ready, and hands its leadership away if it lasts",
			"error", err, "grace", n.cfg.ResourceGrace)
		e.since, e.last = now, err
	case err != nil:
		e.last = err
	}
	handOff := !e.since.IsZero() && now.Sub(e.since) >= n.cfg.ResourceGrace &&
		now.Sub(e.handedOff) >= n.cfg.ResourceGrace && n.IsLeader()
	if handOff {
		e.handedOff = now
	}
	lasted, last := now.Sub(e.since), e.last
	e.mu.Unlock()
	if handOff {
		n.handOffLeadership(lasted, last)
	}
}

// handOffLeadership asks raft to make another voter the leader.
func (n *Node) handOffLeadership(lasted time.Duration, cause error) {
	if n.voterCount() < 2 {
		n.logger.Error("out of file descriptors, but this leader is the only voter: it keeps leading", "error", cause)
		return
	}
	n.logger.Warn("handing leadership to another voter: this node has been out of file descriptors",
		"for", lasted.Round(time.Millisecond), "error", cause)
	if err := n.raft.LeadershipTransfer().Error(); err != nil {
		n.logger.Error("leadership transfer failed; retrying while the exhaustion lasts",
			"error", translate(err), "retry_in", n.cfg.ResourceGrace)
		return
	}
	n.logger.Info("leadership handed to another voter")
}

// exhaustedReason is why the node is not ready for lack of file
// descriptors, or "".
func (n *Node) exhaustedReason() string {
	e := &n.exhaust
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.since.IsZero() {
		return ""
	}
	return fmt.Sprintf("out of file descriptors for %v: %v", time.Since(e.since).Round(100*time.Millisecond), e.last)
}

// exhausted reports whether the node is out of file descriptors now.
func (n *Node) exhausted() bool {
	n.exhaust.mu.Lock()
	defer n.exhaust.mu.Unlock()
	return !n.exhaust.since.IsZero()
}

func openAndClose(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}
