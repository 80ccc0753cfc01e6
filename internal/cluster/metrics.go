package cluster

import (
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// nodeMetrics are the node's raft and membership metrics.
type nodeMetrics struct {
	applyDuration prometheus.Histogram
	leaderChanges prometheus.Counter
}

// RegisterMetrics registers the node's metrics: raft's state, term and
// indexes, apply latency, leader changes, members by status and the size
// of the gossip keyring.
func (n *Node) RegisterMetrics(reg prometheus.Registerer) {
	n.metrics.applyDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "honua_raft_apply_duration_seconds",
		Help:    "Time from a command handed to raft on this node (the leader) to its result, including commit by a quorum.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	})
	n.metrics.leaderChanges = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "honua_raft_leader_changes_total",
		Help: "Times this node saw the cluster's leader change (including to none).",
	})
	gauge := func(name, help string, f func() float64) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	reg.MustRegister(
		n.metrics.applyDuration, n.metrics.leaderChanges,
		gauge("honua_raft_state", "This node's raft state: 0 follower, 1 candidate, 2 leader, 3 shutdown.",
			func() float64 { return float64(n.raft.State()) }),
		gauge("honua_raft_term", "This node's current raft term.",
			func() float64 { return float64(n.raft.CurrentTerm()) }),
		gauge("honua_raft_commit_index", "The highest raft log index this node knows committed.",
			func() float64 { return float64(n.raft.CommitIndex()) }),
		gauge("honua_raft_applied_index", "The highest raft log index applied to this node's state.",
			func() float64 { return float64(n.raft.AppliedIndex()) }),
		gauge("honua_resources_exhausted", "1 while this node is out of file descriptors (it reports not ready, and a leader hands its leadership away), else 0.",
			func() float64 {
				if n.exhausted() {
					return 1
				}
				return 0
			}),
		gauge("honua_gossip_keys", "Keys in this node's gossip keyring (0: gossip is not encrypted); 2 during a rotation.",
			func() float64 { return float64(n.GossipKeyring().Count) }),
		&membersCollector{n: n, desc: prometheus.NewDesc("honua_cluster_members",
			"Servers this node knows of, by status (alive, suspect, dead, left).", []string{"status"}, nil)},
	)
	if n.stream != nil {
		reg.MustRegister(n.stream.refusals)
	}
	obs := make(chan raft.Observation, 16)
	n.raft.RegisterObserver(raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	}))
	n.spawn(func() {
		for {
			select {
			case <-n.shutdownCh:
				return
			case <-obs:
				n.metrics.leaderChanges.Inc()
			}
		}
	})
}

func (n *Node) observeApply(start time.Time) {
	if n.metrics.applyDuration != nil {
		n.metrics.applyDuration.Observe(time.Since(start).Seconds())
	}
}

// membersCollector reports the members by status at scrape time.
type membersCollector struct {
	n    *Node
	desc *prometheus.Desc
}

func (c *membersCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *membersCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[string]int{StatusAlive: 0, StatusSuspect: 0, StatusDead: 0, StatusLeft: 0}
	for _, m := range c.n.Members() {
		counts[m.Status]++
	}
	for status, v := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v), status)
	}
}
