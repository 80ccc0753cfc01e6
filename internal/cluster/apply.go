package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// Errors of the consensus layer. Every layer above reuses these values so
// that errors.Is works from the FSM up to the HTTP status code.
var (
	// ErrNotLeader: this node is not the leader; the command was not
	// applied.
	ErrNotLeader = errors.New("not the leader")
	// ErrNoLeader: no leader is known right now.
	ErrNoLeader = errors.New("no leader")
	// ErrLeadershipLost: leadership was lost while the command was in
	// flight. It may or may not have been applied.
	ErrLeadershipLost = errors.New("leadership lost; the outcome is unknown")
	// ErrTimeout: the command could not be started in time; it was not
	// applied.
	ErrTimeout = errors.New("timed out")
	// ErrShutdown: the node is shutting down.
	ErrShutdown = errors.New("node is shutting down")
	// ErrUnknownMember: no server with that id is in the configuration.
	ErrUnknownMember = errors.New("no such member")
	// ErrMemberAlive: the member to remove is alive; stop it (it leaves
	// gracefully) or remove it once it has failed.
	ErrMemberAlive = errors.New("the member is alive: stop it, and it leaves by itself; remove a member only once it has failed")
	// ErrRemoveLeader: the leader cannot remove itself; stop it (it hands
	// leadership over) or remove it from another leader.
	ErrRemoveLeader = errors.New("the leader cannot remove itself; stop it gracefully or transfer leadership first")
	// ErrTooLarge: the command is larger than Config.MaxCommandSize; it
	// was not proposed.
	ErrTooLarge = errors.New("command too large to replicate")
)

// translate maps raft's errors onto ours, keeping the original in the chain.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %w", ErrNotLeader, err)
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w: %w", ErrLeadershipLost, err)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %w", ErrShutdown, err)
	}
	return err
}

// Apply replicates c through raft and returns what the FSM returned for it.
// A command the FSM refused comes back as the FSM's error value (see the fsm
// package's Err* values); a command raft could not commit comes back as one
// of this package's errors. A command whose encoding is over
// Config.MaxCommandSize is refused with ErrTooLarge and never proposed.
//
// ctx lets the caller abandon the request: once it is done, Apply returns
// ctx.Err() promptly. A command not yet proposed then never is; one already
// handed to raft may still commit and be applied on every node — as with
// ErrLeadershipLost, the outcome is unknown to the caller, and the FSM's
// commands are written so that a retry is safe.
func (n *Node) Apply(ctx context.Context, c fsm.Command) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("apply %T: %w", c, err)
	}
	b, err := fsm.Encode(c)
	if err != nil {
		return nil, err
	}
	if len(b) > n.cfg.MaxCommandSize {
		return nil, fmt.Errorf("apply %T: %d bytes encoded, over the limit of %d (max-command-size): %w",
			c, len(b), n.cfg.MaxCommandSize, ErrTooLarge)
	}
	timeout := n.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(min(timeout, time.Until(dl)), time.Millisecond)
	}
	start := time.Now()
	f := n.raft.Apply(b, timeout)
	if ctx.Done() != nil {
		done := make(chan struct{})
		go func() {
			// Error blocks until raft commits the entry, refuses it or
			// shuts down; the goroutine ends then, whether or not the
			// caller still waits.
			f.Error()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			return nil, fmt.Errorf("apply %T: abandoned, the command may still commit: %w", c, ctx.Err())
		}
	}
	err = f.Error()
	n.observeApply(start)
	if err != nil {
		return nil, fmt.Errorf("apply %T: %w", c, translate(err))
	}
	resp := f.Response()
	if err, ok := resp.(error); ok {
		return nil, err
	}
	return resp, nil
}
