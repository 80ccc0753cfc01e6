package main

import (
	"fmt"
	"log"
	"time"

	"github.com/honua-io/honua-gitops/test/bench/figures"
)

// latencyRatio is the follower's p-th percentile approve latency over the
// leader's; false without figures for both.
func (s summary) latencyRatio(p int) (float64, bool) {
	lt, ft := s.latency.leader.res.times, s.latency.follower.res.times
	if len(lt) == 0 || len(ft) == 0 {
		return 0, false
	}
	return float64(percentile(ft, p)) / float64(percentile(lt, p)), true
}

// latencyMet: the follower's p50 within ratioTarget of the leader's, and
// both within latencyTarget.
func (s summary) latencyMet() bool {
	r, ok := s.latencyRatio(50)
	return ok && r <= ratioTarget &&
		percentile(s.latency.leader.res.times, 50) <= latencyTarget &&
		percentile(s.latency.follower.res.times, 50) <= latencyTarget
}

// throughputMet: at least throughputTarget acknowledged writes per second
// with a p99 within tailTarget.
func throughputMet(t throughputResult) bool {
	return len(t.res.times) > 0 && t.rate() >= throughputTarget && percentile(t.res.times, 99) <= tailTarget
}

// record hands the headline figures to -figures (see package figures): the
// spread throughput against the leader-only one (or, without -compare,
// against the disk's one-entry StoreLog), and the follower/leader p50.
func (s summary) record(clients int) {
	var all []figures.Figure
	if len(s.throughput) > 0 {
		t := s.throughput[0]
		f := figures.Figure{Bench: "api", Name: fmt.Sprintf("approvals/s, %d clients over 3 nodes", clients),
			Measured: fmt.Sprintf("%s/s, p99 %s", thousands(t.rate()), msFigure(percentile(t.res.times, 99))),
			Goal:     fmt.Sprintf("≥ %s/s, p99 ≤ %s", thousands(throughputTarget), msFigure(tailTarget)),
			Met:      throughputMet(t)}
		if len(s.throughput) > 1 && s.throughput[1].rate() > 0 {
			l := s.throughput[1]
			f.Reference = fmt.Sprintf("%d clients all on the leader %s/s", l.clients, thousands(l.rate()))
			f.Ratio = t.rate() / l.rate()
		} else if d := percentile(s.disk.times, 50); d > 0 {
			// Entries per second if each were made durable alone.
			f.Reference = fmt.Sprintf("disk StoreLog p50 %s (%s entries/s one at a time)", msFigure(d), thousands(float64(time.Second)/float64(d)))
			f.Ratio = t.rate() * d.Seconds()
		}
		all = append(all, f)
	}
	if r, ok := s.latencyRatio(50); ok {
		fp, lp := percentile(s.latency.follower.res.times, 50), percentile(s.latency.leader.res.times, 50)
		all = append(all, figures.Figure{Bench: "api", Name: "approve p50 follower/leader",
			Measured:  fmt.Sprintf("%.2f×, p50 %s", r, msFigure(max(fp, lp))),
			Goal:      fmt.Sprintf("≤ %.1f×, p50 ≤ %s", ratioTarget, msFigure(latencyTarget)),
			Met:       s.latencyMet(),
			Reference: "leader p50 " + msFigure(lp),
			Ratio:     r})
	}
	for _, f := range all {
		if err := figures.Record(f); err != nil {
			log.Printf("%v", err)
		}
	}
}

// thousands formats f rounded to a whole number with thousands separators
// ("3,120").
func thousands(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// msFigure formats a duration as the goals table does ("18 ms", "3.2 ms").
func msFigure(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	if f >= 10 || f == float64(int64(f)) {
		return fmt.Sprintf("%.0f ms", f)
	}
	return fmt.Sprintf("%.1f ms", f)
}
