package agent

import (
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The API listener's fixed limits. The others are options.
const (
	// maxReadHeaderTimeout bounds the wait for a request's headers,
	// whatever --http-read-timeout allows for the whole request.
	maxReadHeaderTimeout = 10 * time.Second
	// maxHeaderBytes bounds a request's headers: a token, a request id and
	// a webhook's signature headers need a few hundred bytes.
	maxHeaderBytes = 64 << 10
	// forwardTimeout bounds a request a follower forwards to the leader;
	// --http-write-timeout must leave room for it after --leader-wait.
	forwardTimeout = 30 * time.Second
	// fdReserve is what the node needs of its file descriptors besides
	// the API's connections: raft and gossip connections, the log store,
	// snapshots, git and targets.
	fdReserve = 256
)

// newAPIServer returns the HTTP server of the API and the listener it
// serves: ln behind a cap of cfg.HTTPMaxConns connections, whose accept
// errors go to noteErr (the node watches them for running out of file
// descriptors).
func newAPIServer(cfg Config, ln net.Listener, h http.Handler, noteErr func(error), reg prometheus.Registerer, logger *slog.Logger) (*http.Server, net.Listener) {
	open := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "honua_http_connections",
		Help: "Connections the API listener holds open (at most --http-max-conns; more wait in the kernel's accept queue).",
	})
	reg.MustRegister(open)
	capped := newCapListener(acceptWatch{ln, noteErr}, cfg.HTTPMaxConns)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(maxReadHeaderTimeout, time.Duration(cfg.HTTPReadTimeout)),
		ReadTimeout:       time.Duration(cfg.HTTPReadTimeout),
		WriteTimeout:      time.Duration(cfg.HTTPWriteTimeout),
		IdleTimeout:       time.Duration(cfg.HTTPIdleTimeout),
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ConnState: func(c net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				open.Inc()
			case http.StateClosed, http.StateHijacked:
				open.Dec()
			}
			capped.connState(c, s)
		},
	}
	return srv, capped
}

// acceptWatch hands every accept error to noteErr; http.Server logs it and
// retries.
type acceptWatch struct {
	net.Listener
	noteErr func(error)
}

func (l acceptWatch) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		l.noteErr(err)
	}
	return c, err
}

// capListener serves at most max connections at once. It accepts one more
// and holds it until a slot frees: connections past that wait in the
// kernel's accept queue and cost no file descriptor. While a client waits,
// the connection idle the longest between two requests is closed to make
// room (nginx reuses idle keep-alive connections the same way), so a client
// waits only for busy connections, which the read and write timeouts bound,
// not for idle ones, which could hold every slot for the whole idle
// timeout. netutil.LimitListener waits for a slot before it accepts, so it
// cannot tell that anybody waits.
type capListener struct {
	net.Listener
	slots chan struct{}
	done  chan struct{}
	once  sync.Once

	mu      sync.Mutex
	idle    map[net.Conn]time.Time // since when each idle connection is
	waiting bool                   // an accepted connection waits for a slot
}

func newCapListener(ln net.Listener, max int) *capListener {
	return &capListener{Listener: ln, slots: make(chan struct{}, max), done: make(chan struct{}),
		idle: map[net.Conn]time.Time{}}
}

// Accept implements net.Listener.
func (l *capListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	select {
	case l.slots <- struct{}{}:
	default:
		l.mu.Lock()
		l.waiting = true
		victim := l.longestIdle()
		l.mu.Unlock()
		if victim != nil {
			victim.Close()
		}
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			c.Close()
			return nil, net.ErrClosed
		}
		l.mu.Lock()
		l.waiting = false
		l.mu.Unlock()
	}
	return &cappedConn{Conn: c, l: l}, nil
}

// Close implements net.Listener.
func (l *capListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// connState follows the server's connections: the idle ones may be closed
// for a waiting client, and one that turns idle while a client waits is.
func (l *capListener) connState(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	if s != http.StateIdle {
		delete(l.idle, c)
		l.mu.Unlock()
		return
	}
	if l.waiting {
		l.mu.Unlock()
		c.Close()
		return
	}
	l.idle[c] = time.Now()
	l.mu.Unlock()
}

// longestIdle removes and returns the connection idle the longest, or nil.
func (l *capListener) longestIdle() net.Conn {
	var oldest net.Conn
	var since time.Time
	for c, t := range l.idle {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	delete(l.idle, oldest)
	return oldest
}

// cappedConn gives its slot back when closed.
type cappedConn struct {
	net.Conn
	l    *capListener
	once sync.Once
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { <-c.l.slots })
	return err
}

// withDashboard serves the dashboard (package ui) under /ui/ and the API
// everywhere else, as before: every API path reaches the API's own handler
// unchanged. /ui is sent to /ui/.
func withDashboard(apiHandler, dashboard http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/ui" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
		case strings.HasPrefix(r.URL.Path, "/ui/"):
			dashboard.ServeHTTP(w, r)
		default:
			apiHandler.ServeHTTP(w, r)
		}
	})
}
