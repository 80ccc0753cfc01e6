package honuaserver

import (
	"fmt"
	"net/http"
)

// RequestsPerScrape is how many requests the server counts between two
// reads of its metrics.
const RequestsPerScrape = 100

// metrics is the request counter a Server exposes at GET /metrics, in the
// Prometheus text format: http_requests_total{status="200"} and
// {status="500"}. Each read counts RequestsPerScrape more requests, of
// which the error rate's share failed, so a Prometheus scraping it sees
// exactly the error rate the test set (Server.SetErrorRate).
type metrics struct {
	errorRate float64
	// rateOf, when set, gives the error rate of the bundle served (the
	// last PUT accepted), overriding errorRate.
	rateOf  func(Doc) float64
	ok, bad float64
}

// SetErrorRateOf makes the error rate depend on the bundle the server
// serves: f is called with the last PUT it accepted (a server that
// accepted none fails no request).
func (s *Server) SetErrorRateOf(f func(Doc) float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.metrics.rateOf = f
}

// SetErrorRate sets the share of requests (0 to 1) that fail from the next
// read of the metrics on.
func (s *Server) SetErrorRate(rate float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.metrics.errorRate = rate
}

// MetricsAddr is the host:port a Prometheus scrapes the server's metrics
// at (GET /metrics).
func (s *Server) MetricsAddr() string { return s.Addr() }

func (s *Server) serveMetrics(w http.ResponseWriter) {
	s.mu.Lock()
	rate := s.metrics.errorRate
	if f := s.metrics.rateOf; f != nil {
		rate = 0
		if n := len(s.order); n > 0 {
			rate = f(s.order[n-1].Doc)
		}
	}
	bad := RequestsPerScrape * rate
	s.metrics.bad += bad
	s.metrics.ok += RequestsPerScrape - bad
	ok, errs := s.metrics.ok, s.metrics.bad
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# HELP http_requests_total Requests served, by status.\n# TYPE http_requests_total counter\n")
	fmt.Fprintf(w, "http_requests_total{status=\"200\"} %g\nhttp_requests_total{status=\"500\"} %g\n", ok, errs)
}
