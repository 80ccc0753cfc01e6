package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/test/bench/benchrun"
	"github.com/honua-io/honua-gitops/test/bench/figures"
)

// goal is the goal for a profile's failover: a median, and a
// maximum when it has one.
type goal struct {
	median, max time.Duration
}

// goals are the failover goals of issue #17, by profile.
var goals = map[string]goal{
	cluster.ProfileDefault: {median: 1500 * time.Millisecond},
	cluster.ProfileLAN:     {median: 500 * time.Millisecond, max: time.Second},
}

func (g goal) String() string {
	s := "median ≤ " + seconds(g.median)
	if g.max > 0 {
		s += ", max ≤ " + seconds(g.max)
	}
	return s
}

func (g goal) met(med, worst time.Duration) bool {
	return med <= g.median && (g.max == 0 || worst <= g.max)
}

// seconds writes d as the figures table does: "1.41 s", "350 ms".
func seconds(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
	}
	return fmt.Sprintf("%.3g s", d.Seconds())
}

// report prints the profile's figures and records them.
func (res failoverResult) report(r *benchrun.Runner) {
	hb := res.timeouts.Heartbeat
	ref := "heartbeat timeout " + seconds(hb)
	if len(res.kills) > 0 {
		med, worst := median(res.kills), slices.Max(res.kills)
		f := figures.Figure{Bench: "failover", Name: "leader SIGKILL → new leader, " + res.profile,
			Measured:  fmt.Sprintf("median %s, max %s", seconds(med), seconds(worst)),
			Reference: ref, Ratio: float64(med) / float64(hb)}
		verdict := ""
		if g, ok := goals[res.profile]; ok && !res.custom {
			f.Goal, f.Met = g.String(), g.met(med, worst)
			verdict = "; goal " + g.String() + ": met"
			if !f.Met {
				verdict = "; goal " + g.String() + ": MISSED"
			}
		}
		fmt.Printf("%s over %d kills: min %s, median %s, max %s (%.2f× the %s)%s\n", f.Name, len(res.kills),
			seconds(slices.Min(res.kills)), seconds(med), seconds(worst), f.Ratio, ref, verdict)
		record(r, f)
	}
	if len(res.transfers) > 0 {
		med, worst := median(res.transfers), slices.Max(res.transfers)
		f := figures.Figure{Bench: "failover", Name: "leader SIGTERM → new leader (transfer), " + res.profile,
			Measured:  fmt.Sprintf("median %s, max %s", seconds(med), seconds(worst)),
			Reference: ref, Ratio: float64(med) / float64(hb)}
		fmt.Printf("%s over %d stops: min %s, median %s, max %s (%.2f× the %s)\n", f.Name, len(res.transfers),
			seconds(slices.Min(res.transfers)), seconds(med), seconds(worst), f.Ratio, ref)
		record(r, f)
	}
}

func record(r *benchrun.Runner, f figures.Figure) {
	if err := figures.Record(f); err != nil {
		r.Fatalf("%v", err)
	}
}
