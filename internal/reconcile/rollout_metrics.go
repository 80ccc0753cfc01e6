package reconcile

import "github.com/prometheus/client_golang/prometheus"

// rolloutMetrics count the waves of rollouts (docs/domain.md#rollouts).
// Only the leader moves them.
type rolloutMetrics struct {
	wavesApplied    *prometheus.CounterVec
	analyses        *prometheus.CounterVec
	analysesFailed  *prometheus.CounterVec
	rolloutsAborted *prometheus.CounterVec
	rolloutDuration *prometheus.HistogramVec
}

func newRolloutMetrics(reg prometheus.Registerer) rolloutMetrics {
	m := rolloutMetrics{
		wavesApplied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "honua_rollout_waves_passed_total",
			Help: "Waves of rollouts that were applied, baked and passed, by environment.",
		}, []string{"env"}),
		analyses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "honua_rollout_analyses_total",
			Help: "Analysis rounds run during the bakes of rollout waves, by environment.",
		}, []string{"env"}),
		analysesFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "honua_rollout_analyses_failed_total",
			Help: "Analysis rounds that failed (a check out of bounds, or unanswered under onError fail), by environment.",
		}, []string{"env"}),
		rolloutsAborted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "honua_rollouts_aborted_total",
			Help: "Rollouts stopped by a failed wave (health check or analysis), by environment; each then rolls back.",
		}, []string{"env"}),
		rolloutDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "honua_rollout_duration_seconds",
			Help:    "Time from the first wave's start to the last wave passing, of rollouts that passed, by environment.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}, []string{"env"}),
	}
	reg.MustRegister(m.wavesApplied, m.analyses, m.analysesFailed, m.rolloutsAborted, m.rolloutDuration)
	return m
}

// start gives every counter a series of 0 for each configured
// environment, so that an alert on an increase sees the first one.
func (m rolloutMetrics) start(envs map[string]EnvironmentSettings) {
	for env := range envs {
		m.wavesApplied.WithLabelValues(env)
		m.analyses.WithLabelValues(env)
		m.analysesFailed.WithLabelValues(env)
		m.rolloutsAborted.WithLabelValues(env)
	}
}
