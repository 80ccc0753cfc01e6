package rpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/honua-io/honua-gitops/internal/cluster"
)

// forwardedHeader marks a request one node forwarded to the leader; a node
// that receives one and is not the leader refuses it rather than forward it
// again.
const forwardedHeader = "X-Honua-Forwarded-By"

// newForwardClient returns the pooled client writes are forwarded with:
// over TLS with peer when it is set (see Config.PeerTLS).
func newForwardClient(timeout time.Duration, peer *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 64
	tr.MaxIdleConnsPerHost = 32
	tr.IdleConnTimeout = 90 * time.Second
	if peer != nil {
		tr.DialTLSContext = dialPeer(peer)
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// forwardHandshakeTimeout bounds the TLS handshake with the leader.
const forwardHandshakeTimeout = 10 * time.Second

// dialPeer returns a dialer that completes the TLS handshake with the
// leader before the request is written, so the client's token goes only to
// an address whose certificate peer accepted. A refused handshake is a
// failed dial: nothing was sent, and the follower answers no_leader.
func dialPeer(peer *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, forwardHandshakeTimeout)
		defer cancel()
		d := tls.Dialer{Config: peer}
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				return nil, err
			}
			return nil, &net.OpError{Op: "dial", Net: network, Addr: tcpAddr(addr),
				Err: fmt.Errorf("tls handshake with the leader's api: %w", err)}
		}
		return c, nil
	}
}

// tcpAddr names addr in a net.OpError.
type tcpAddr string

func (a tcpAddr) Network() string { return "tcp" }
func (a tcpAddr) String() string  { return string(a) }

// forwardToLeader replays r on the leader and copies its answer back. While
// no leader is known it waits up to LeaderWait, then answers 503 no_leader.
// A body of at most maxBody is read first, so that the forward client may
// send it again on a fresh connection; a larger one (a backup) is streamed
// to the leader as it arrives, never held whole.
func (s *Server) forwardToLeader(w http.ResponseWriter, r *http.Request) {
	head, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		writeErr(w, fmt.Errorf("read request body: %w", err))
		return
	}
	if len(head) <= maxBody {
		s.forwardBody(w, r, head)
		return
	}
	s.forwardTo(w, r, nil, &streamedBody{r: io.MultiReader(bytes.NewReader(head), r.Body)})
}

// forwardBody is forwardToLeader with the body already read.
func (s *Server) forwardBody(w http.ResponseWriter, r *http.Request, body []byte) {
	s.forwardTo(w, r, body, nil)
}

// streamedBody is a request body forwarded as it arrives. It keeps the
// error that cut it short, if any.
type streamedBody struct {
	r   io.Reader
	mu  sync.Mutex
	err error
}

func (b *streamedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.mu.Lock()
		b.err = err
		b.mu.Unlock()
	}
	return n, err
}

// readErr returns the error that cut the body short, or nil.
func (b *streamedBody) readErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// forwardTo sends r to the leader with body, or with stream when it is not
// nil. Sending a stream takes as long as the client does; the leader then
// has ForwardTimeout and the time a restore may take to answer.
func (s *Server) forwardTo(w http.ResponseWriter, r *http.Request, body []byte, stream *streamedBody) {
	if by := r.Header.Get(forwardedHeader); by != "" {
		// We were chosen as the leader but are not: leadership moved.
		writeError(w, http.StatusServiceUnavailable, "no_leader",
			fmt.Sprintf("forwarded by %s, but %s is not the leader (leadership moved); retry", by, s.cfg.Cluster.ID()))
		return
	}
	leader, addr, err := s.waitForLeader(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "no_leader", err.Error())
		return
	}
	if leader == s.cfg.Cluster.ID() {
		// We became the leader while waiting: serve it here.
		if stream != nil {
			r.Body = readCloser{Reader: stream, Closer: r.Body}
		} else {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		s.mux.ServeHTTP(w, r)
		return
	}
	release, ok := s.forwardSlot(w, leader)
	if !ok {
		return
	}
	defer release()
	var reqBody io.Reader = bytes.NewReader(body)
	client := s.forward
	if stream != nil {
		reqBody = stream
		// No bound on the whole exchange, which includes the client's
		// upload; the leader's answer is bounded once the body is sent.
		tr := s.forward.Transport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = s.cfg.ForwardTimeout + cluster.RestoreTimeout
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr}
	}
	scheme := "http://"
	if s.cfg.PeerTLS != nil {
		scheme = "https://"
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, scheme+addr+r.URL.RequestURI(), reqBody)
	if err != nil {
		writeErr(w, err)
		return
	}
	if stream != nil && r.ContentLength > 0 {
		req.ContentLength = r.ContentLength
	}
	for k, vs := range r.Header {
		if strings.EqualFold(k, "Connection") || strings.EqualFold(k, "Content-Length") {
			continue
		}
		req.Header[k] = vs
	}
	req.Header.Set(forwardedHeader, s.cfg.Cluster.ID())
	// For the Host the client used, which the leader checks Origin against.
	req.Host = r.Host
	resp, err := client.Do(req)
	s.metrics.forwarded.Inc()
	if err != nil && stream != nil && stream.readErr() != nil {
		// The client's body was cut short (or is over its limit): the
		// leader got a truncated body and applied nothing.
		writeErr(w, fmt.Errorf("read request body: %w", stream.readErr()))
		return
	}
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			writeError(w, http.StatusServiceUnavailable, "no_leader",
				fmt.Sprintf("leader %s at %s cannot be reached (%v); nothing was applied; retry", leader, addr, op.Err))
			return
		}
		writeError(w, http.StatusServiceUnavailable, "unknown_outcome",
			fmt.Sprintf("leader %s did not answer (%v); the request may or may not have been applied; retrying it is safe", leader, err))
		return
	}
	defer resp.Body.Close()
	for _, k := range []string{"Content-Type", "X-Honua-Index", "X-Honua-Last-Contact", "Cache-Control"} {
		if v := resp.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.Header().Set("X-Honua-Forwarded-To", leader)
	w.WriteHeader(resp.StatusCode)
	if f, ok := w.(http.Flusher); ok && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		copyFlushing(w, f, resp.Body)
		return
	}
	_, _ = io.Copy(w, resp.Body)
}

// waitForLeader returns the leader, waiting up to LeaderWait for one to be
// known.
func (s *Server) waitForLeader(ctx context.Context) (id, addr string, err error) {
	// The common case, a leader known, without the timers.
	if id, addr = s.cfg.Cluster.Leader(); id != "" && (addr != "" || id == s.cfg.Cluster.ID()) {
		return id, addr, nil
	}
	deadline := time.NewTimer(s.cfg.LeaderWait)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if id, addr = s.cfg.Cluster.Leader(); id != "" && (addr != "" || id == s.cfg.Cluster.ID()) {
			return id, addr, nil
		}
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-deadline.C:
			return "", "", fmt.Errorf("no leader is known after waiting %v; the cluster may have lost its quorum", s.cfg.LeaderWait)
		case <-tick.C:
		}
	}
}

func copyFlushing(w io.Writer, f http.Flusher, r io.Reader) {
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			f.Flush()
		}
		if err != nil {
			return
		}
	}
}
