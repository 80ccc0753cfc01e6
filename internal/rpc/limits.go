package rpc

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// Limits bound what one client can hold of a node through the API. The
// http.Server's own timeouts (read, write, idle) and connection cap are set
// by its owner; these are what the handlers need to know of them.
type Limits struct {
	// ReadTimeout and WriteTimeout are the http.Server's. The endpoints
	// that legitimately run long (the event stream, backups) push the
	// connection's deadlines ahead by them as they make progress.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// MaxClientRequests bounds the requests one client address may have
	// in flight on each open endpoint (probes, metrics, webhooks); over it
	// the answer is 429 too_many_requests.
	MaxClientRequests int
	// WebhookRate and WebhookBurst bound the deliveries one client sends
	// to each webhook source; AuthFailureRate and AuthFailureBurst the
	// failed authentications of one client, after which its requests to
	// the authenticated endpoints are refused unchecked until the bucket
	// refills. Both answer 429 too_many_requests. rate.Inf turns one off.
	WebhookRate      rate.Limit
	WebhookBurst     int
	AuthFailureRate  rate.Limit
	AuthFailureBurst int
	// MaxForwarded bounds the requests this node forwards to the leader
	// at once; over it the answer is 503 busy.
	MaxForwarded int

	// maxTracked bounds the clients each rate table remembers (tests
	// lower it).
	maxTracked int
	// now is the rate limits' clock (tests advance their own).
	now func() time.Time
}

// Defaults of Limits.
const (
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultMaxClientRequests = 16
)

// bulkWork bounds the work of a backup endpoint before its first byte
// (save: barrier and encoding) or after its last (restore: applying it).
const bulkWork = 10 * time.Minute

// progressChunk is the most a long answer writes under one deadline.
const progressChunk = 64 << 10

func (l Limits) withDefaults() Limits {
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = DefaultReadTimeout
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = DefaultWriteTimeout
	}
	if l.MaxClientRequests <= 0 {
		l.MaxClientRequests = DefaultMaxClientRequests
	}
	if l.WebhookRate <= 0 {
		l.WebhookRate = DefaultWebhookRate
	}
	if l.WebhookBurst <= 0 {
		l.WebhookBurst = DefaultWebhookBurst
	}
	if l.AuthFailureRate <= 0 {
		l.AuthFailureRate = DefaultAuthFailureRate
	}
	if l.AuthFailureBurst <= 0 {
		l.AuthFailureBurst = DefaultAuthFailureBurst
	}
	if l.MaxForwarded <= 0 {
		l.MaxForwarded = DefaultMaxForwarded
	}
	if l.maxTracked <= 0 {
		l.maxTracked = defaultMaxTracked
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// longRunning are the endpoints that outlive the server's timeouts when
// they make progress, by pattern: the event stream writes for as long as
// the client listens; a backup moves up to 1 GiB each way.
var longRunning = map[string]struct{ stream, bulk bool }{
	"GET /v1/events":    {stream: true},
	"GET /v1/snapshot":  {bulk: true},
	"POST /v1/snapshot": {bulk: true},
}

// progress lets a long-running request live past the server's read and
// write timeouts for as long as it moves: each write (in chunks) pushes the
// write deadline WriteTimeout ahead, each read of a backup's body pushes
// the read deadline ReadTimeout ahead. A backup also gets bulkWork for the
// work before its answer. A client that stops reading or sending is still
// cut off after one timeout. Other requests are left as they are.
func (s *Server) progress(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
	_, pattern := s.mux.Handler(r)
	kind, ok := longRunning[pattern]
	if !ok {
		return w, r
	}
	rc := http.NewResponseController(w)
	if kind.bulk {
		_ = rc.SetWriteDeadline(time.Now().Add(bulkWork))
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &progressBody{ReadCloser: r.Body, rc: rc, read: s.cfg.Limits.ReadTimeout}
		}
	}
	return &progressWriter{ResponseWriter: w, rc: rc, timeout: s.cfg.Limits.WriteTimeout}, r
}

// progressWriter pushes the connection's write deadline ahead before each
// chunk it writes and each flush.
type progressWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (w *progressWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), progressChunk)]
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
		n, err := w.ResponseWriter.Write(chunk)
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// Flush implements http.Flusher, for the event stream.
func (w *progressWriter) Flush() {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	_ = w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *progressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// progressBody pushes the read deadline ahead before each read of a
// backup being uploaded, and the write deadline bulkWork ahead, for the
// restore that follows the last byte.
type progressBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	read time.Duration
}

func (b *progressBody) Read(p []byte) (int, error) {
	now := time.Now()
	_ = b.rc.SetReadDeadline(now.Add(b.read))
	_ = b.rc.SetWriteDeadline(now.Add(bulkWork))
	return b.ReadCloser.Read(p)
}

// perClient bounds the requests one client address has in flight on the
// open endpoint h: past Limits.MaxClientRequests it answers 429 with a
// Retry-After. Behind a proxy every request comes from the proxy's address,
// so the bound is per endpoint and generous.
func (s *Server) perClient(name string, h http.Handler) http.Handler {
	l := &clientLimit{max: s.cfg.Limits.MaxClientRequests, inFlight: map[string]int{}}
	throttled := s.metrics.throttled.WithLabelValues(name, "in_flight")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.forwardedByMember(r) {
			// Bounded by the forwarding node's MaxForwarded instead.
			h.ServeHTTP(w, r)
			return
		}
		addr := clientAddr(r)
		if !l.acquire(addr) {
			throttled.Inc()
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusTooManyRequests, "too_many_requests",
				fmt.Sprintf("%s has %d requests in flight on %s already; retry later", addr, l.max, name))
			return
		}
		defer l.release(addr)
		h.ServeHTTP(w, r)
	})
}

// clientLimit counts the requests in flight per client address.
type clientLimit struct {
	max      int
	mu       sync.Mutex
	inFlight map[string]int
}

func (l *clientLimit) acquire(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inFlight[addr] >= l.max {
		return false
	}
	l.inFlight[addr]++
	return true
}

func (l *clientLimit) release(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inFlight[addr] <= 1 {
		delete(l.inFlight, addr)
		return
	}
	l.inFlight[addr]--
}

// clientAddr is the IP address a request came from.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// newThrottledMetric counts the requests refused by a limit, by endpoint
// and reason.
func newThrottledMetric(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "honua_api_throttled_total",
		Help: "Requests refused by a limit, by endpoint and reason: 429 for in_flight (a client's requests in flight on an open endpoint), " +
			"rate (a client's webhook deliveries) and auth_failures (a client's failed authentications); 503 for forwarding (requests forwarded to the leader at once).",
	}, []string{"endpoint", "reason"})
	reg.MustRegister(c)
	return c
}
