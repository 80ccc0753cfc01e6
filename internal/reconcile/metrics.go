package reconcile

import "github.com/prometheus/client_golang/prometheus"

// metrics are the reconciler's Prometheus metrics. Only the leader moves
// them.
type metrics struct {
	gitRequests    *prometheus.CounterVec
	pollDuration   prometheus.Histogram
	lastGitSuccess prometheus.Gauge
	stepDuration   *prometheus.HistogramVec
	rolloutMetrics
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		gitRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "honua_git_requests_total",
			Help: "Git requests the leader made to the configuration repository, by op (ls-remote, fetch) and result (ok, error).",
		}, []string{"op", "result"}),
		pollDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "honua_git_poll_duration_seconds",
			Help:    "Time of one poll of the configuration repository: ls-remote, and fetch when the head moved.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		lastGitSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "honua_git_last_success_timestamp_seconds",
			Help: "Unix time of the last poll of the configuration repository that succeeded.",
		}),
	}
	m.stepDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "honua_reconcile_duration_seconds",
		Help:    "Time the leader took to step an environment's deployment (validate, plan, gate, deploy), by environment.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	}, []string{"env"})
	reg.MustRegister(m.gitRequests, m.pollDuration, m.lastGitSuccess, m.stepDuration)
	m.rolloutMetrics = newRolloutMetrics(reg)
	return m
}

func (m *metrics) gitRequest(op string, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.gitRequests.WithLabelValues(op, result).Inc()
}
