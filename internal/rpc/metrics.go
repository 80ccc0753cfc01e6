package rpc

import "github.com/prometheus/client_golang/prometheus"

// metrics are the API's Prometheus metrics.
type metrics struct {
	webhooks *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "honua_webhook_requests_total",
			Help: "Webhook deliveries received by this node, by source (github, gitlab, generic) and result " +
				"(accepted, forwarded, ignored, unauthorized, too_large, bad_request, unavailable).",
		}, []string{"source", "result"}),
	}
	reg.MustRegister(m.webhooks)
	return m
}
