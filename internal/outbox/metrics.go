package outbox

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the deliverer's Prometheus metrics.
type Metrics struct {
	sentTotal   *prometheus.CounterVec
	failedTotal *prometheus.CounterVec
	latency     *prometheus.HistogramVec
}

// NewMetrics registers the deliverer's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sentTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "honua_notifications_sent_total", Help: "Notifications delivered, by channel.",
		}, []string{"channel"}),
		failedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "honua_notifications_failed_total",
			Help: "Failed delivery attempts, by channel; final is true for the attempt after which the notification failed for good.",
		}, []string{"channel", "final"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "honua_notification_delivery_seconds",
			Help:    "Time from a notification's event to its delivery, by channel.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}, []string{"channel"}),
	}
	reg.MustRegister(m.sentTotal, m.failedTotal, m.latency)
	return m
}

func (m *Metrics) sent(channel string, sinceEvent time.Duration) {
	m.sentTotal.WithLabelValues(channel).Inc()
	m.latency.WithLabelValues(channel).Observe(sinceEvent.Seconds())
}

func (m *Metrics) failedAttempt(channel string, final bool) {
	f := "false"
	if final {
		f = "true"
	}
	m.failedTotal.WithLabelValues(channel, f).Inc()
}
