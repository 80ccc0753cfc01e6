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
	ok, bad   float64
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
	bad := RequestsPerScrape * s.metrics.errorRate
	s.metrics.bad += bad
	s.metrics.ok += RequestsPerScrape - bad
	ok, errs := s.metrics.ok, s.metrics.bad
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# HELP http_requests_total Requests served, by status.\n# TYPE http_requests_total counter\n")
	fmt.Fprintf(w, "http_requests_total{status=\"200\"} %g\nhttp_requests_total{status=\"500\"} %g\n", ok, errs)
}
