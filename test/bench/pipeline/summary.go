package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/honua-io/honua-gitops/test/bench/figures"
)

// summary collects every part's results for the closing table.
type summary struct {
	deploy   []deployResult
	complete []completeResult
	lsRemote *lsRemoteResult
	plan     *planResult
	// fetchRef are the reference fetches of the headline figure.
	fetchRef []time.Duration
}

// headline is the figure: push → Completed on a follower, webhook.
const headline = "push → Completed on a follower, webhook"

// record hands the headline figure to -figures (make bench-all), when the
// complete part ran with the webhook.
func (s summary) record() error {
	for _, c := range s.complete {
		if !c.mode.webhook || len(c.listed) == 0 {
			continue
		}
		p50, p90 := median(c.listed), percentile(c.listed, 90)
		f := figures.Figure{
			Bench:    "pipeline",
			Name:     headline,
			Measured: fmt.Sprintf("p50 %s, p90 %s", msSpaced(p50), msSpaced(p90)),
			Goal:     fmt.Sprintf("p50 ≤ %s, p90 ≤ %s", msSpaced(webhookGoalP50), msSpaced(webhookGoalP90)),
			Met:      c.webhookGoalMet(),
		}
		if len(s.fetchRef) > 0 {
			ref := median(s.fetchRef)
			f.Reference = fmt.Sprintf("gitrepo Fetch of one commit from the same git daemon, p50 %s", msSpaced(ref))
			f.Ratio = float64(p50) / float64(ref)
		}
		return figures.Record(f)
	}
	return nil
}

// msSpaced formats a duration as the figures table does: "74 ms".
func msSpaced(d time.Duration) string {
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

// print writes the table: one row per figure, with its target and verdict
// where the issue sets one.
func (s summary) print(w io.Writer) {
	fmt.Fprintln(w, "== summary (medians unless stated)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tfigure\ttarget\tverdict")
	var after []string // lines printed below the table
	for _, d := range s.deploy {
		fig := "no figures"
		if len(d.figures) > 0 {
			fig = fmt.Sprintf("median %s, max %s", ms(median(d.figures)), ms(slices.Max(d.figures)))
		}
		fig += fmt.Sprintf(" (%d of %d commits)", len(d.figures), len(d.figures)+d.missed)
		fmt.Fprintf(tw, "1 push → deployment listed, %s (pollInterval %v)\t%s\t(none set)\t-\n", d.mode.name, d.mode.pollInterval, fig)
	}
	for _, c := range s.complete {
		mode := fmt.Sprintf("%s (pollInterval %v)", c.mode.name, c.mode.pollInterval)
		if len(c.listed) == 0 {
			fmt.Fprintf(tw, "2 push → Completed, %s\tno figures (%d missed)\tp50 < %s\tNOT met\n", mode, c.missed, ms(c.limit()))
			continue
		}
		for _, f := range []struct {
			what string
			ds   []time.Duration
		}{{"Completed on a follower", c.listed}, {"deployment.json on the target", c.served}} {
			goal, verdict := "p50 < "+ms(c.limit()), within(median(f.ds), c.limit())
			if c.mode.webhook {
				goal, verdict = c.goal(), c.goalVerdict(f.ds)
			}
			fmt.Fprintf(tw, "2 push → %s, %s\t%s (%d of %d commits)\t%s\t%s\n", f.what, mode, spread(f.ds),
				len(f.ds), len(f.ds)+c.missed, goal, verdict)
		}
		if c.mode.webhook && len(s.fetchRef) > 0 {
			ref := median(s.fetchRef)
			fmt.Fprintf(tw, "  reference: gitrepo Fetch of one commit, same daemon\t%s; Completed p50 = %.1f× it\t(info)\t-\n",
				spread(s.fetchRef), float64(median(c.listed))/float64(ref))
		}
		if !c.mode.webhook {
			worst := slices.Max(c.listed)
			fmt.Fprintf(tw, "  every commit, with honuad's poll jitter (up to %.0f%%)\tmax %s on a follower\tmax < %s\t%s\n",
				pollJitter*100, ms(worst), ms(c.worstCase()), within(worst, c.worstCase()))
		}
		if c.missed > 0 {
			fmt.Fprintf(tw, "  missed\t%d commit(s) did not complete in time\t\tNOT met\n", c.missed)
		}
		// Too wide for the table: printed below it.
		after = append(after, fmt.Sprintf("2 %s, phases (medians): %s", c.mode.name, formatPhases(medianPhases(c.phases))))
		if len(c.pollSteps) > 0 {
			after = append(after, fmt.Sprintf("2 %s, the leader's poll steps (medians, its debug log): %s", c.mode.name, formatPhases(medianPhases(c.pollSteps))))
		}
		for _, n := range c.notes {
			after = append(after, fmt.Sprintf("2 %s, note: %s", c.mode.name, n))
		}
	}
	if l := s.lsRemote; l != nil {
		head := l.clients[0]
		ht, hb := median(head.times), medianInt(head.bytes)
		for _, g := range l.clients[1:] {
			gt, gb := median(g.times), medianInt(g.bytes)
			tr, br := float64(ht)/float64(gt), float64(hb)/float64(gb)
			fmt.Fprintf(tw, "3 no-change poll, wall time\tHead %s vs %s %s = %.2fx\t≤ %.1fx\t%s\n",
				ms(ht), g.name, ms(gt), tr, lsRemoteTarget, verdict(tr, lsRemoteTarget))
			fmt.Fprintf(tw, "3 no-change poll, bytes both ways\tHead %d B vs %s %d B = %.2fx\t≤ %.1fx\t%s\n",
				hb, g.name, gb, br, lsRemoteTarget, verdict(br, lsRemoteTarget))
			if g.waits.count > 0 {
				est := gt - g.waits.total
				fmt.Fprintf(tw, "  estimate without git's %d TCP wait(s)\tHead %s vs %s ~%s = %.2fx\t(info)\t-\n",
					g.waits.count, ms(ht), g.name, ms(est), float64(ht)/float64(est))
			}
		}
	}
	if p := s.plan; p != nil {
		gt := median(p.goTotal)
		for _, g := range p.git {
			ct := median(g.total)
			r := float64(gt) / float64(ct)
			fmt.Fprintf(tw, "4 one-file change: fetch + changed + load + plan\tgo-git %s vs %s fetch + diff %s = %.2fx\t≤ %.1fx\t%s\n",
				ms(gt), g.name, ms(ct), r, planTarget, verdict(r, planTarget))
			if g.waits.count > 0 {
				est := ct - g.waits.total
				fmt.Fprintf(tw, "  estimate without git's %d TCP wait(s)\tgo-git %s vs %s ~%s = %.2fx\t(info)\t-\n",
					g.waits.count, ms(gt), g.name, ms(est), float64(gt)/float64(est))
			}
		}
		fmt.Fprintf(tw, "  go-git steps\tfetch %s, Changed of %d environments %s, load + plan %s; fetch traffic %s\t\t\n",
			ms(median(p.fetch)), p.envs, ms(median(p.changed)), ms(median(p.plan)), medianTraffic(p.goBytes))
		for _, g := range p.git {
			fmt.Fprintf(tw, "  %s steps\tfetch %s, diff %s; fetch traffic %s\t\t\n",
				g.name, ms(median(g.fetch)), ms(median(g.diff)), medianTraffic(g.bytes))
		}
	}
	tw.Flush()
	for _, l := range after {
		fmt.Fprintln(w, l)
	}
}

// medianTraffic is the run with the median total.
func medianTraffic(ts []traffic) traffic {
	if len(ts) == 0 {
		return traffic{}
	}
	s := slices.Clone(ts)
	slices.SortFunc(s, func(a, b traffic) int { return int(a.total() - b.total()) })
	return s[len(s)/2]
}
