package cluster

import (
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
func (n *Node) Apply(c fsm.Command) (any, error) {
	b, err := fsm.Encode(c)
	if err != nil {
		return nil, err
	}
	if len(b) > n.cfg.MaxCommandSize {
		return nil, fmt.Errorf("apply %T: %d bytes encoded, over the limit of %d (max-command-size): %w",
			c, len(b), n.cfg.MaxCommandSize, ErrTooLarge)
	}
	start := time.Now()
	f := n.raft.Apply(b, n.cfg.ApplyTimeout)
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
