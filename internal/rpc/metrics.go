package rpc

import "github.com/prometheus/client_golang/prometheus"

// metrics are the API's Prometheus metrics.
type metrics struct {
	webhooks  *prometheus.CounterVec
	requests  *prometheus.CounterVec
	forwarded prometheus.Counter
	throttled *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "honua_webhook_requests_total",
			Help: "Webhook deliveries received by this node, by source (github, gitlab, generic) and result " +
				"(accepted, forwarded, ignored, unauthorized, too_large, bad_request, unavailable).",
		}, []string{"source", "result"}),
	}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "honua_api_requests_total",
		Help: "API requests answered by this node, by route and status code.",
	}, []string{"route", "code"})
	m.forwarded = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "honua_api_forwarded_total",
		Help: "Requests this node forwarded to the leader (writes, consistent reads, webhooks).",
	})
	reg.MustRegister(m.webhooks, m.requests, m.forwarded)
	m.throttled = newThrottledMetric(reg)
	return m
}
