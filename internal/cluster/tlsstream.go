package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// RaftTLS makes raft use mutual TLS. The agent builds both configs from
// its certs.Store (PeerServer and PeerClient), which verify a peer's
// certificate against the current CA and for the name every node's
// certificate carries, at every handshake.
type RaftTLS struct {
	// Server accepts raft connections: it must insist on a client
	// certificate and verify it.
	Server *tls.Config
	// Client dials peers: it presents this node's certificate and
	// verifies the peer's, whatever address was dialled.
	Client *tls.Config
	// HandshakeTimeout bounds the handshake of a connection a peer opens,
	// and of a probe of a new member; default DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
}

// DefaultHandshakeTimeout bounds a raft TLS handshake. Peers complete one
// in milliseconds; a client that sends nothing, or not TLS, is dropped
// then at the latest.
const DefaultHandshakeTimeout = 5 * time.Second

// maxHandshakes bounds the incoming raft connections in their handshake at
// once: a flood of connections that send nothing costs at most this many
// goroutines and descriptors, each for at most the handshake timeout.
// Peers open a few connections each (raft pools three per peer).
const maxHandshakes = 64

// refusedLogEvery is how often a refused raft connection is logged: the
// first one, then a count of the others at most this often.
const refusedLogEvery = 30 * time.Second

// tlsStream is raft's stream layer over mutual TLS. A goroutine accepts TCP
// connections and hands each to a handshake of its own, under a deadline
// and within maxHandshakes; Accept returns only connections whose peer
// proved a certificate Server accepts. Dial completes the handshake before
// it returns, so raft never writes to a peer it has not verified.
type tlsStream struct {
	ln        net.Listener
	advertise net.Addr
	cfg       RaftTLS
	refused   *rateLog
	// refusals counts the connections refused (exported as a metric).
	refusals prometheus.Counter

	conns      chan net.Conn
	handshakes chan struct{}
	// ctx ends when the stream is closed; done is its Done channel.
	ctx       context.Context
	cancel    context.CancelFunc
	done      <-chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

var _ raft.StreamLayer = (*tlsStream)(nil)

// newTLSStream listens on bind. Raft advertises advertise, or the bound
// address when it is nil, which must then be one other nodes can dial.
func newTLSStream(bind string, advertise net.Addr, cfg RaftTLS, logger *slog.Logger) (*tlsStream, error) {
	if cfg.Server == nil || cfg.Client == nil {
		return nil, errors.New("raft tls: both a server and a client config are needed")
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	addr := advertise
	if addr == nil {
		addr = ln.Addr()
	}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP == nil || tcp.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("local bind address %s is not advertisable: give an advertise address", addr)
	}
	s := &tlsStream{
		ln: ln, advertise: addr, cfg: cfg,
		refused: &rateLog{logger: logger, every: refusedLogEvery},
		refusals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "honua_raft_tls_refused_total",
			Help: "Raft connections refused: no TLS, a failed or late handshake, or a certificate that is not a node's of the cluster's CA.",
		}),
		conns:      make(chan net.Conn),
		handshakes: make(chan struct{}, maxHandshakes),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.done = s.ctx.Done()
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// acceptLoop accepts TCP connections until Close and starts a handshake
// for each, backing off on errors (out of file descriptors) as net/http
// does.
func (s *tlsStream) acceptLoop() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.refused.note("raft accept failed; retrying", "error", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-s.done:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		delay = 0
		select {
		case s.handshakes <- struct{}{}:
		default:
			s.refuse(c, errors.New("too many raft handshakes in progress"))
			continue
		}
		s.wg.Add(1)
		go s.handshake(c)
	}
}

// handshake completes the TLS handshake of an accepted connection within
// the handshake timeout and hands it to Accept, or closes it.
func (s *tlsStream) handshake(c net.Conn) {
	defer s.wg.Done()
	defer func() { <-s.handshakes }()
	tc := tls.Server(c, s.cfg.Server)
	// Abandoned at the deadline, or at once when the stream closes.
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		s.refuse(c, err)
		return
	}
	select {
	case s.conns <- tc:
	case <-s.done:
		tc.Close()
	}
}

// refuse closes a connection that did not prove a node's certificate and
// notes it.
func (s *tlsStream) refuse(c net.Conn, why error) {
	c.Close()
	s.refusals.Inc()
	s.refused.note("raft connection refused", "remote_addr", c.RemoteAddr().String(), "error", why)
}

// Accept implements net.Listener: the next connection whose handshake
// succeeded.
func (s *tlsStream) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener. Handshakes in progress are abandoned.
func (s *tlsStream) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.cancel()
		err = s.ln.Close()
		s.wg.Wait()
	})
	return err
}

// Addr implements net.Listener: the advertised address.
func (s *tlsStream) Addr() net.Addr { return s.advertise }

// Dial implements raft.StreamLayer: it connects and completes the TLS
// handshake, verifying the peer's certificate, within timeout.
func (s *tlsStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: s.cfg.Client}
	c, err := d.DialContext(ctx, "tcp", string(address))
	if err != nil {
		return nil, fmt.Errorf("raft tls dial %s: %w", address, err)
	}
	return c, nil
}

// rateLog logs a warning at most once per period, with how many it left
// out since the last: a stream of refused connections costs one line.
type rateLog struct {
	logger *slog.Logger
	every  time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (l *rateLog) note(msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "not_logged_since_last", n)
	}
	l.logger.Warn(msg, args...)
}
