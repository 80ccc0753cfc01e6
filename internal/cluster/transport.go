package cluster

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// rpcTransport is raft's TCP transport with a look at every RPC it hands to
// raft. Only Consumer and Close differ from the embedded transport, so raft
// still finds the optional interfaces it looks for (pre-vote, peers,
// close).
//
// One goroutine takes each RPC from the transport as soon as it is decoded
// and shows it to heard, then queues it; another hands the queue to raft, in
// order. So heard sees an RPC when it arrives even while raft is busy: the
// TCP transport decodes a connection's next RPC only after raft answered the
// last, and the leader sends one AppendEntries at a time to a follower, so
// an RPC arrives about when the leader sent it. The queue holds at most one
// RPC per connection; its bound only matters if connections pile up.
//
// Heartbeats do not pass: the TCP transport hands them to raft's heartbeat
// handler directly, and they carry no commit index. That handler runs on the
// transport's connection goroutine, outside raft's shutdown, and writes the
// term to the log store; so Close waits for the heartbeats being handled and
// turns later ones away, and the store can be closed after it.
type rpcTransport struct {
	*raft.NetworkTransport
	heard func(raft.RPC)
	// hold, when set, sees each RPC before raft does and may delay it
	// (tests).
	hold  func(raft.RPC)
	queue chan raft.RPC
	out   chan raft.RPC
	done  chan struct{}
	once  sync.Once

	hbMu     sync.RWMutex // held for reading while a heartbeat is handled
	hbClosed bool
}

// rpcQueue bounds the RPCs taken from the transport and not yet handed to
// raft.
const rpcQueue = 64

// newRPCTransport wraps t. Nothing reaches raft before start.
func newRPCTransport(t *raft.NetworkTransport, heard, hold func(raft.RPC)) *rpcTransport {
	return &rpcTransport{NetworkTransport: t, heard: heard, hold: hold,
		queue: make(chan raft.RPC, rpcQueue), out: make(chan raft.RPC), done: make(chan struct{})}
}

// start begins handing RPCs to raft, once heard can look at them.
func (t *rpcTransport) start() {
	go t.receive()
	go t.feed()
}

func (t *rpcTransport) receive() {
	in := t.NetworkTransport.Consumer()
	for {
		select {
		case rpc := <-in:
			t.heard(rpc)
			select {
			case t.queue <- rpc:
			case <-t.done:
				return
			}
		case <-t.done:
			return
		}
	}
}

func (t *rpcTransport) feed() {
	for {
		select {
		case rpc := <-t.queue:
			if t.hold != nil {
				t.hold(rpc)
			}
			select {
			case t.out <- rpc:
			case <-t.done:
				return
			}
		case <-t.done:
			return
		}
	}
}

// Consumer implements raft.Transport.
func (t *rpcTransport) Consumer() <-chan raft.RPC { return t.out }

// SetHeartbeatHandler implements raft.Transport: fn is called for each
// heartbeat until Close.
func (t *rpcTransport) SetHeartbeatHandler(fn func(raft.RPC)) {
	if fn == nil {
		t.NetworkTransport.SetHeartbeatHandler(nil)
		return
	}
	t.NetworkTransport.SetHeartbeatHandler(func(rpc raft.RPC) {
		t.hbMu.RLock()
		defer t.hbMu.RUnlock()
		if t.hbClosed {
			rpc.Respond(nil, raft.ErrTransportShutdown)
			return
		}
		fn(rpc)
	})
}

// Close implements raft.WithClose: it stops passing RPCs, waits for the
// heartbeats being handled, and closes the transport.
func (t *rpcTransport) Close() error {
	t.once.Do(func() { close(t.done) })
	t.hbMu.Lock()
	t.hbClosed = true
	t.hbMu.Unlock()
	return t.NetworkTransport.Close()
}

// heardRPC notes the leader's commit index from an AppendEntries as it
// arrives.
func (n *Node) heardRPC(rpc raft.RPC) {
	if req, ok := rpc.Command.(*raft.AppendEntriesRequest); ok {
		n.ready.heardAppend(req, n.raft.AppliedIndex(), time.Now())
	}
}
