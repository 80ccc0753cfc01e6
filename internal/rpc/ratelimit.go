package rpc

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// The abuse limits beside perClient's cap on requests in flight: a rate of
// webhook deliveries per client and source, a rate of authentication
// failures per client, and a bound on the requests this node forwards to
// the leader at once. A client is its address, or for IPv6 its /64 (a host
// picks any address of its prefix at will); X-Forwarded-For is never
// trusted for it. A request a cluster member forwarded is not counted
// against the member's address: the member applied these limits to its own
// clients.

// Defaults of Limits' rates and bounds.
const (
	// A push makes GitHub or GitLab send one delivery; 10/s with a burst
	// of 20 leaves room for a burst of pushes and redeliveries.
	DefaultWebhookRate  rate.Limit = 10
	DefaultWebhookBurst            = 20
	// Ten mistyped tokens in a row, then one guess every 12 s.
	DefaultAuthFailureRate  = rate.Limit(5.0 / 60)
	DefaultAuthFailureBurst = 10
	// DefaultMaxForwarded bounds the requests a follower has forwarded to
	// the leader and not yet seen answered.
	DefaultMaxForwarded = 256
	// defaultMaxTracked bounds the clients a rate table remembers: about
	// 200 bytes each.
	defaultMaxTracked = 10_000
)

// Sweeps of a rate table, which drop the buckets that have refilled (the
// same as having none): at most this often while it is full, and at least
// this often otherwise.
const (
	fullSweepEvery = time.Second
	idleSweepEvery = time.Minute
)

// rateTable holds a token bucket per client key, for at most max keys. A
// key without a bucket has a full one; a bucket that has refilled (burst/
// limit after its client's last event) is dropped by the next sweep, which
// a lookup of a key without a bucket runs when the last is a minute old, or
// a second old when the table is full.
//
// When the table is full of buckets that have not refilled, a key without
// one shares a single overflow bucket with every other such key, and the
// entries in the table stay. Evicting one instead (the least recently seen,
// as an LRU would) would let a client with many addresses flush its own
// limited entries by spraying new ones, and go on; the overflow makes a
// spray cost every new client the same small allowance, until the buckets
// refill. For authentication failures this refuses new clients' requests
// while such a spray lasts: a denial of service we prefer to a brute force
// that cannot be stopped.
type rateTable struct {
	limit rate.Limit
	burst int
	max   int
	now   func() time.Time

	mu       sync.Mutex
	buckets  map[string]*rate.Limiter
	overflow *rate.Limiter
	swept    time.Time
}

// newRateTable returns a table of buckets of limit events per second and
// burst; nil, which limits nothing, when limit is rate.Inf.
func newRateTable(limit rate.Limit, burst, max int, now func() time.Time) *rateTable {
	if limit == rate.Inf {
		return nil
	}
	return &rateTable{limit: limit, burst: burst, max: max, now: now,
		buckets: map[string]*rate.Limiter{}, overflow: rate.NewLimiter(limit, burst), swept: now()}
}

// wait returns how long key must wait for an event to be allowed, without
// taking one: 0 when it need not.
func (t *rateTable) wait(key string) time.Duration {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	b := t.bucket(key, now, false)
	if b == nil || b.TokensAt(now) >= 1 {
		return 0
	}
	return delay(b, now)
}

// take takes an event from key's bucket and returns 0, or, when the bucket
// is empty, how long key must wait for one.
func (t *rateTable) take(key string) time.Duration {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	b := t.bucket(key, now, true)
	if b.AllowN(now, 1) {
		return 0
	}
	return delay(b, now)
}

// delay returns when b allows an event, from a reservation it cancels.
func delay(b *rate.Limiter, now time.Time) time.Duration {
	r := b.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return d
}

// bucket returns key's bucket; with create, a new one when the table has
// room; otherwise nil (key's bucket is full). When the table is full it is
// the shared overflow bucket. Called with t.mu held.
func (t *rateTable) bucket(key string, now time.Time, create bool) *rate.Limiter {
	if b, ok := t.buckets[key]; ok {
		return b
	}
	if since := now.Sub(t.swept); since >= idleSweepEvery || len(t.buckets) >= t.max && since >= fullSweepEvery {
		t.sweep(now)
	}
	if len(t.buckets) >= t.max {
		return t.overflow
	}
	if !create {
		return nil
	}
	b := rate.NewLimiter(t.limit, t.burst)
	t.buckets[key] = b
	return b
}

// sweep drops the buckets that have refilled.
func (t *rateTable) sweep(now time.Time) {
	for key, b := range t.buckets {
		if b.TokensAt(now) >= float64(t.burst) {
			delete(t.buckets, key)
		}
	}
	t.swept = now
}

// len returns the number of buckets held.
func (t *rateTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.buckets)
}

// clientKey is who a request comes from, for the rate limits: its IP
// address, or the /64 of an IPv6 address.
func clientKey(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return clientAddr(r)
	}
	addr := ap.Addr().Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// retryAfter sets Retry-After to d in whole seconds, at least 1, and
// returns that number.
func retryAfter(w http.ResponseWriter, d time.Duration) int64 {
	secs := max(1, int64((d+time.Second-1)/time.Second))
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	return secs
}

// webhookSources are the webhook endpoints' sources; any other shares one
// key, so that a client cannot make keys up.
var webhookSources = map[string]bool{"github": true, "gitlab": true, "generic": true}

// webhookRate limits the deliveries one client sends to each webhook
// source (Limits.WebhookRate and WebhookBurst): past them, 429 with a
// Retry-After, before the body is read.
func (s *Server) webhookRate(h http.Handler) http.Handler {
	throttled := s.metrics.throttled.WithLabelValues("webhooks", "rate")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.forwardedByMember(r) {
			h.ServeHTTP(w, r)
			return
		}
		source := r.PathValue("source")
		if !webhookSources[source] {
			source = "other"
		}
		client := clientKey(r)
		if d := s.webhookLimits.take(source + " " + client); d > 0 {
			throttled.Inc()
			secs := retryAfter(w, d)
			writeError(w, http.StatusTooManyRequests, "too_many_requests",
				fmt.Sprintf("%s sent more %s webhook deliveries than its limit (%g/s, burst %d); retry in %ds",
					client, source, float64(s.cfg.Limits.WebhookRate), s.cfg.Limits.WebhookBurst, secs))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// authLimited answers 429, and reports true, when the request's client has
// used up its authentication failures (Limits.AuthFailureRate and
// AuthFailureBurst): its token is then not even checked, so that guessing
// cannot go on. name is the endpoint's, for the metrics.
func (s *Server) authLimited(w http.ResponseWriter, r *http.Request, name string) bool {
	if s.cfg.Tokens == nil || s.forwardedByMember(r) {
		return false
	}
	client := clientKey(r)
	d := s.authFailures.wait(client)
	if d <= 0 {
		return false
	}
	s.metrics.throttled.WithLabelValues(name, "auth_failures").Inc()
	secs := retryAfter(w, d)
	writeError(w, http.StatusTooManyRequests, "too_many_requests",
		fmt.Sprintf("too many authentication failures from %s; no token is checked from it for %ds", client, secs))
	return true
}

// authFailed counts a failed authentication against the request's client.
func (s *Server) authFailed(r *http.Request) {
	if !s.forwardedByMember(r) {
		s.authFailures.take(clientKey(r))
	}
}

// forwardSlot takes one of the Limits.MaxForwarded slots of requests this
// node forwards to the leader at once, and returns its release. When none
// is free it answers 503 busy with a Retry-After and reports false: the
// bound is the node's, shared by all its clients, so the client did nothing
// wrong (not a 429); nothing was sent, so retrying, here or on the leader,
// is safe.
func (s *Server) forwardSlot(w http.ResponseWriter, leader string) (release func(), ok bool) {
	select {
	case s.forwardSlots <- struct{}{}:
		return func() { <-s.forwardSlots }, true
	default:
		s.metrics.throttled.WithLabelValues("forward", "forwarding").Inc()
		retryAfter(w, time.Second)
		writeError(w, http.StatusServiceUnavailable, "busy",
			fmt.Sprintf("%s has %d requests forwarded to the leader %s in flight already; nothing was applied; retry, or send it to the leader",
				s.cfg.Cluster.ID(), cap(s.forwardSlots), leader))
		return nil, false
	}
}

// forwardedByMember reports whether r was forwarded by a cluster member:
// it is marked so (forwardedHeader) and comes from the host of a member's
// API, raft or gossip address. Until the nodes authenticate each other,
// the mark alone proves nothing.
func (s *Server) forwardedByMember(r *http.Request) bool {
	if r.Header.Get(forwardedHeader) == "" {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && s.members.has(ap.Addr().Unmap())
}

// memberHosts are the IP addresses of the cluster's members, read from the
// member list at most once a second. Lookups take no lock.
type memberHosts struct {
	c    Cluster
	mu   sync.Mutex // held while the list is read again
	last atomic.Pointer[hostSet]
}

// hostSet is one read of the member list.
type hostSet struct {
	at    time.Time
	hosts map[netip.Addr]bool
}

// memberHostsTTL is how long a read of the member list is used.
const memberHostsTTL = time.Second

func (m *memberHosts) has(addr netip.Addr) bool {
	now := time.Now()
	set := m.last.Load()
	if set == nil || now.Sub(set.at) >= memberHostsTTL {
		m.mu.Lock()
		if set = m.last.Load(); set == nil || now.Sub(set.at) >= memberHostsTTL {
			set = &hostSet{at: now, hosts: map[netip.Addr]bool{}}
			for _, mem := range m.c.Members() {
				for _, a := range []string{mem.APIAddr, mem.RaftAddr, mem.GossipAddr} {
					// Hosts given by name are not resolved: their
					// forwarded requests are counted like any other.
					if ap, err := netip.ParseAddrPort(a); err == nil {
						set.hosts[ap.Addr().Unmap()] = true
					}
				}
			}
			m.last.Store(set)
		}
		m.mu.Unlock()
	}
	return set.hosts[addr]
}
