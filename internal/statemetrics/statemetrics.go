// Package statemetrics owns the Prometheus metrics every node derives from
// the replicated deployment state: deployments by environment and state,
// approvals pending, suspended and drifted environments, notifications by channel and state, transitions counted as they are applied, and the time
// from a commit being seen to its deployment completing. Labels stay
// bounded: environments and states, never deployment ids or commits.
package statemetrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// Store is the replicated state the metrics are derived from.
type Store interface {
	BriefEnvironments() []fsm.EnvironmentBrief
	CountDeployments() map[string]map[fsm.DeploymentState]int
	Deployment(id string) (*fsm.Deployment, bool)
	RecentEventsAfter(after fsm.EventID, env string) []fsm.Event
	Changed() <-chan struct{}
	Notifications(fsm.NotificationFilter) []fsm.Notification
}

// Metrics exports the state's metrics.
type Metrics struct {
	store        Store
	logger       *slog.Logger
	transitions  *prometheus.CounterVec
	commitToDone *prometheus.HistogramVec
	stateDesc    *prometheus.Desc
	pendingDesc  *prometheus.Desc
	notesDesc    *prometheus.Desc
	suspendDesc  *prometheus.Desc
	driftDesc    *prometheus.Desc
	// since: transitions made before it are not counted. A restarting
	// node replays its log, and would otherwise count every transition
	// of its history again.
	since time.Time
}

// New registers the metrics with reg. Call Run to count transitions.
func New(store Store, reg prometheus.Registerer, logger *slog.Logger) *Metrics {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		store:  store,
		logger: logger,
		since:  time.Now(),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "honua_deployments_total",
			Help: "Deployment transitions this node applied since it started, by environment and the state entered.",
		}, []string{"env", "state"}),
		commitToDone: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "honua_commit_to_deploy_seconds",
			Help:    "Time from the watcher seeing a commit (the deployment's creation) to the deployment Completed, by environment.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 18),
		}, []string{"env"}),
		stateDesc: prometheus.NewDesc("honua_deployment_state",
			"Deployments this node holds in history, by environment and state.", []string{"env", "state"}, nil),
		pendingDesc: prometheus.NewDesc("honua_approvals_pending",
			"Deployments waiting for approval, by environment.", []string{"env"}, nil),
		notesDesc: prometheus.NewDesc("honua_notifications",
			"Notifications in the outbox, by channel and state (pending, delivered, failed).", []string{"channel", "state"}, nil),
	}
	m.suspendDesc = prometheus.NewDesc("honua_environment_suspended",
		"1 while the environment is suspended (no deployment of it starts), 0 otherwise, by environment.", []string{"env"}, nil)
	m.driftDesc = prometheus.NewDesc("honua_environment_drifted",
		"1 while the environment's targets no longer hold the bundle deployed to them (drift recorded), 0 otherwise, by environment.", []string{"env"}, nil)
	reg.MustRegister(m.transitions, m.commitToDone, (*collector)(m))
	return m
}

// collector computes the state gauges at scrape time.
type collector Metrics

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.stateDesc
	ch <- c.pendingDesc
	ch <- c.notesDesc
	ch <- c.suspendDesc
	ch <- c.driftDesc
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counts := c.store.CountDeployments()
	for _, b := range c.store.BriefEnvironments() { // no history ids: 1.6 MB at 100k
		e := b.Environment
		ch <- prometheus.MustNewConstMetric(c.pendingDesc, prometheus.GaugeValue,
			float64(counts[e.Name][fsm.StateAwaitingApproval]), e.Name)
		suspended := 0.0
		if e.Suspended != nil {
			suspended = 1
		}
		ch <- prometheus.MustNewConstMetric(c.suspendDesc, prometheus.GaugeValue, suspended, e.Name)
		drifted := 0.0
		if e.Drift != nil {
			drifted = 1
		}
		ch <- prometheus.MustNewConstMetric(c.driftDesc, prometheus.GaugeValue, drifted, e.Name)
	}
	for env, states := range counts {
		for state, v := range states {
			ch <- prometheus.MustNewConstMetric(c.stateDesc, prometheus.GaugeValue, float64(v), env, state.String())
		}
	}
	type key struct{ channel, state string }
	notes := map[key]int{}
	for _, n := range c.store.Notifications(fsm.NotificationFilter{}) {
		notes[key{n.Channel, string(n.State)}]++
	}
	for k, v := range notes {
		ch <- prometheus.MustNewConstMetric(c.notesDesc, prometheus.GaugeValue, float64(v), k.channel, k.state)
	}
}

// Run counts the transitions made from the process's start on (by the time
// each records) until ctx ends.
func (m *Metrics) Run(ctx context.Context) {
	var after fsm.EventID
	for {
		changed := m.store.Changed()
		for _, e := range m.store.RecentEventsAfter(after, "") {
			after, _ = fsm.ParseEventID(e.ID)
			if e.Time.Before(m.since) {
				continue
			}
			m.transitions.WithLabelValues(e.Environment, e.To.String()).Inc()
			if e.To == fsm.StateCompleted {
				if d, ok := m.store.Deployment(e.DeploymentID); ok {
					m.commitToDone.WithLabelValues(e.Environment).Observe(e.Time.Sub(d.CreatedAt).Seconds())
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}
