package rpc

import (
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// verifyCluster's VerifyLeader blocks until the test releases each call.
type verifyCluster struct {
	fakeCluster
	calls   atomic.Int32
	started chan int32
	release chan struct{}
}

func (c *verifyCluster) VerifyLeader() error {
	n := c.calls.Add(1)
	c.started <- n
	<-c.release
	return nil
}

// Consistent reads that arrive together share one confirmation of the
// leadership with a quorum, instead of asking raft once each; but none is
// answered by a confirmation that started before it arrived.
func TestConsistentReadsShareALeadershipCheck(t *testing.T) {
	c := &verifyCluster{fakeCluster: fakeCluster{leader: "node1"}, started: make(chan int32, 100), release: make(chan struct{})}
	s := NewServer(Config{Cluster: c, Store: newTestFSM(t).f})
	ts := httptest.NewServer(s)
	defer ts.Close()
	read := func(done chan<- answer) {
		done <- send(t, ts, "GET", "/v1/status?consistent=true", "", nil)
	}
	waitStart := func(want int32) {
		t.Helper()
		select {
		case n := <-c.started:
			if n != want {
				t.Fatalf("leadership check #%d started; want #%d", n, want)
			}
		case <-time.After(time.Minute):
			t.Fatalf("leadership check #%d never started", want)
		}
	}

	first := make(chan answer, 1)
	go read(first)
	waitStart(1)
	// 50 reads arrive while the first check runs: they must wait for the
	// next, and share it.
	later := make(chan answer, 50)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { read(later) })
	}
	deadline := time.Now().Add(time.Minute)
	for s.leaderCheck.waitingForNext() < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 50 reads wait for the next check after a minute", s.leaderCheck.waitingForNext())
		}
		waitPast(time.Now().Add(5 * time.Millisecond))
	}
	c.release <- struct{}{} // check #1 ends
	if a := <-first; a.status != 200 {
		t.Errorf("the first consistent read = %v; want 200", a)
	}
	waitStart(2)
	select {
	case a := <-later:
		t.Fatalf("a read that arrived during check #1 was answered (%v) before check #2 ended", a)
	default:
	}
	close(c.release) // check #2 and any later ones end at once
	wg.Wait()
	close(later)
	for a := range later {
		if a.status != 200 {
			t.Errorf("a later consistent read = %v; want 200", a)
		}
	}
	if n := c.calls.Load(); n != 2 {
		t.Errorf("51 consistent reads made %d leadership checks; want 2", n)
	}
}
