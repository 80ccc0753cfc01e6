package cluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// acceptEMFILE is the error net/http's Serve loop gets from Accept when the
// process is out of file descriptors.
var acceptEMFILE = &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}

// keepNoting reports err to n every few milliseconds until the returned
// stop is called.
func keepNoting(n *Node, err error) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			n.NoteResourceError(err)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-finished }) }
}

func TestLeaderOutOfFileDescriptorsHandsLeadershipAway(t *testing.T) {
	tc := newTestCluster(t, 3)
	old := tc.waitForLeader()
	stop := keepNoting(old.node, acceptEMFILE)
	defer stop()

	waitFor(t, old.id()+" to report not ready", func() error {
		ok, why := old.node.Ready()
		if ok {
			return errors.New("still ready")
		}
		if !strings.Contains(why, "too many open files") {
			return fmt.Errorf("not ready for another reason: %s", why)
		}
		return nil
	})
	_, why := old.node.Ready()
	t.Logf("exhausted leader: not ready: %s", why)
	waitFor(t, "another node to lead", func() error {
		for _, tn := range tc.running() {
			if tn != old && tn.node.LeaderReady() {
				return nil
			}
		}
		return errors.New("no other leader yet")
	})
	stop()
	tc.waitForLeader()
	waitReady(t, old)
}

// Only errors that say the descriptors ran out count: a connection reset
// or a refused dial is someone else's trouble. A check without such an
// error ends the exhaustion.
func TestExhaustionCheck(t *testing.T) {
	tc := newUnstartedCluster(t, 1)
	n := tc.nodes[0].node
	t0 := time.Now()
	for _, err := range []error{
		&net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.ECONNABORTED)},
		&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)},
		errors.New("too many open files, says a message"),
	} {
		n.NoteResourceError(err)
		n.checkResources(t0)
		if n.exhausted() {
			t.Errorf("NoteResourceError(%v) made the node exhausted", err)
		}
	}
	for _, err := range []error{acceptEMFILE, &os.PathError{Op: "open", Path: "x", Err: syscall.ENFILE}} {
		n.NoteResourceError(err)
		n.checkResources(t0)
		if !n.exhausted() {
			t.Errorf("NoteResourceError(%v) did not make the node exhausted", err)
		}
		if ok, why := n.Ready(); ok || !strings.Contains(why, "out of file descriptors") {
			t.Errorf("exhausted node: Ready() = %v, %q; want false, out of file descriptors", ok, why)
		}
		n.checkResources(t0.Add(time.Second))
		if n.exhausted() {
			t.Errorf("a check without error after %v did not end the exhaustion", err)
		}
	}
}
