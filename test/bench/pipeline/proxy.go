package main

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/honua-io/honua-gitops/test/bench/benchrun"
)

// countingProxy forwards TCP connections to a target and counts the bytes
// that cross it in each direction.
type countingProxy struct {
	ln     net.Listener
	target string
	up     atomic.Int64 // client → server
	down   atomic.Int64 // server → client
	open   atomic.Int64 // connections not yet closed
}

// startProxy listens on a loopback port and forwards every connection to
// target until the runner's cleanup.
func startProxy(r *benchrun.Runner, target string) *countingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.Fatalf("proxy: %v", err)
	}
	p := &countingProxy{ln: ln, target: target}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.open.Add(1)
			go p.serve(c)
		}
	}()
	r.Cleanup(func() {
		ln.Close()
		<-done
	})
	return p
}

// Addr is the proxy's host:port.
func (p *countingProxy) Addr() string { return p.ln.Addr().String() }

func (p *countingProxy) serve(client net.Conn) {
	defer p.open.Add(-1)
	defer client.Close()
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	defer server.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		p.pipe(server, client, &p.up)
	}()
	go func() {
		defer wg.Done()
		p.pipe(client, server, &p.down)
	}()
	wg.Wait()
}

// pipe copies src to dst, counting as it goes, and passes src's end of
// stream on as a half-close so that the other direction can finish.
func (p *countingProxy) pipe(dst, src net.Conn, n *atomic.Int64) {
	_, _ = io.Copy(counter{dst, n}, src)
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// counter counts what is written through it.
type counter struct {
	w io.Writer
	n *atomic.Int64
}

func (c counter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// traffic is what one operation sent and received through the proxy.
type traffic struct {
	up, down int64
}

func (t traffic) total() int64 { return t.up + t.down }

func (t traffic) String() string {
	return fmt.Sprintf("%d B (%d sent, %d received)", t.total(), t.up, t.down)
}

// measure runs fn, which must be the only user of the proxy meanwhile,
// waits for the connections it opened to close, and returns the bytes they
// carried. closed is false when a connection was still open after a few
// seconds (its bytes so far are counted).
func (p *countingProxy) measure(fn func() error) (t traffic, closed bool, err error) {
	up0, down0 := p.up.Load(), p.down.Load()
	err = fn()
	// Every connection fn made was accepted (and counted in open) before fn
	// could hear back from the server, so waiting for open to drop to zero
	// covers them.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if closed = p.open.Load() == 0; closed || time.Now().After(deadline) {
			break
		}
		<-tick.C
	}
	return traffic{up: p.up.Load() - up0, down: p.down.Load() - down0}, closed, err
}
