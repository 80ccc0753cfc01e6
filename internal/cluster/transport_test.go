package cluster

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// A heartbeat that arrived before Close must be finished when Close
// returns, and none may start after: raft's heartbeat handler runs on the
// transport's connection goroutine, outside raft's shutdown, and the log
// store is closed right after the transport. Without this, a late
// heartbeat wrote the term to a closed store ("failed to save current
// term: database not open", a panic) or into a store's unmapped pages.
func TestCloseWaitsForHeartbeats(t *testing.T) {
	server, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt := newRPCTransport(server, func(raft.RPC) {}, nil)
	rt.start()

	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var running, calls atomic.Int32
	rt.SetHeartbeatHandler(func(rpc raft.RPC) {
		running.Add(1)
		defer running.Add(-1)
		calls.Add(1)
		entered <- struct{}{}
		<-release
		rpc.Respond(&raft.AppendEntriesResponse{Success: true}, nil)
	})

	client, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	heartbeat := func() error {
		var resp raft.AppendEntriesResponse
		return client.AppendEntries("node1", server.LocalAddr(), &raft.AppendEntriesRequest{
			RPCHeader: raft.RPCHeader{ID: []byte("node2"), Addr: []byte(client.LocalAddr())}, Term: 2,
		}, &resp)
	}
	sent := make(chan error, 1)
	go func() { sent <- heartbeat() }()
	<-entered

	closed := make(chan struct{})
	go func() {
		rt.Close()
		close(closed)
	}()
	// Close must not return while the heartbeat is being handled. (A
	// negative check: a correct Close cannot return here at all, so this
	// wait cannot fail on a slow machine; a Close that does not wait
	// returns well within it.)
	select {
	case <-closed:
		t.Fatal("Close returned while a heartbeat was still being handled")
	case <-time.After(500 * time.Millisecond):
	}
	close(release)
	<-closed
	if n := running.Load(); n != 0 {
		t.Fatalf("%d heartbeats still running after Close", n)
	}
	<-sent

	// A heartbeat after Close never reaches the handler.
	if err := heartbeat(); err == nil {
		t.Error("a heartbeat after Close succeeded")
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("handler called %d times; want 1 (none after Close)", n)
	}
}
