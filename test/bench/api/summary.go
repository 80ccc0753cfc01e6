package main

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

// summary collects every phase's results for the closing table.
type summary struct {
	disk       diskResult
	latency    latencyResult
	throughput []throughputResult
}

// print writes the table: one row per figure, with its target and verdict
// where the issue sets one.
func (s summary) print(w io.Writer) {
	fmt.Fprintln(w, "== summary")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measure\tfigure\ttarget\tverdict")
	l := s.latency
	for _, p := range []approvalPath{l.leader, l.follower} {
		fmt.Fprintf(tw, "approve latency %s (%s), %d sequential\t%s\t\t\n", p.name, p.node.ID(), len(p.res.times)+p.res.failed(), spread(p.res))
	}
	if r, ok := s.latencyRatio(50); ok {
		fp, lp := percentile(l.follower.res.times, 50), percentile(l.leader.res.times, 50)
		fmt.Fprintf(tw, "follower/leader latency, p50\t%s / %s = %.2f×\t≤ %.1f×, p50 ≤ %s\t%s\n",
			ms(fp), ms(lp), r, ratioTarget, ms(latencyTarget), verdict(s.latencyMet()))
	} else {
		fmt.Fprintf(tw, "follower/leader latency, p50\tno figures\t≤ %.1f×, p50 ≤ %s\tNOT met\n", ratioTarget, ms(latencyTarget))
	}
	if r, ok := s.latencyRatio(99); ok {
		fmt.Fprintf(tw, "follower/leader latency, p99\t%s / %s = %.2f×\t\t-\n",
			ms(percentile(l.follower.res.times, 99)), ms(percentile(l.leader.res.times, 99)), r)
	}
	for i, t := range s.throughput {
		target, v := fmt.Sprintf("≥ %.0f/s, p99 ≤ %s", throughputTarget, ms(tailTarget)), verdict(throughputMet(t))
		if i > 0 {
			target, v = "(comparison)", "-"
		}
		fmt.Fprintf(tw, "writes/s, %d clients %s\t%.0f/s (%d acknowledged in %v)\t%s\t%s\n", t.clients, t.name,
			t.rate(), len(t.res.times), t.elapsed.Round(time.Millisecond), target, v)
		fmt.Fprintf(tw, "  latency under that load\t%s\t\t\n", spread(t.res))
		fmt.Fprintf(tw, "  clients\t%s\t\t\n", t.placement)
		fmt.Fprintf(tw, "  errors by code\t%s\t\t\n", errorCounts(t.res))
		fmt.Fprintf(tw, "  CPU, %% of one core\t%s\t\t\n", cpuLine(t.usage))
		fmt.Fprintf(tw, "  CPU per acknowledged approval\t%s\t\t\n", cpuPerApproval(t.usage, len(t.res.times)))
	}
	fmt.Fprintf(tw, "disk: raft-boltdb StoreLog of one entry\t%s\t(reference)\t-\n", spreadTimes(s.disk.times))
	tw.Flush()
	fmt.Fprintln(w, "Every acknowledged approval above is a new approval (a Raft write that changes the deployment) unless a")
	fmt.Fprintln(w, "duplicate count is shown; latencies are client-side, request sent to answer decoded.")
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// spread formats p50 and p99 of the acknowledged answers, and their
// duplicates.
func spread(o outcomes) string {
	s := spreadTimes(o.times)
	if o.duplicates > 0 {
		s += fmt.Sprintf(" (%d duplicates)", o.duplicates)
	}
	return s
}

func spreadTimes(ts []time.Duration) string {
	if len(ts) == 0 {
		return "no figures"
	}
	return fmt.Sprintf("p50 %s, p99 %s, max %s", ms(percentile(ts, 50)), ms(percentile(ts, 99)), ms(percentile(ts, 100)))
}

func errorCounts(o outcomes) string {
	if o.failed() == 0 {
		return "none"
	}
	codes := make([]string, 0, len(o.errors))
	for code := range o.errors {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	var parts []string
	for _, code := range codes {
		parts = append(parts, fmt.Sprintf("%s: %d", code, o.errors[code]))
	}
	return strings.Join(parts, ", ")
}

// cpuPerApproval is the CPU each process used per acknowledged approval:
// unlike the rate, it hardly moves with what else the machine runs.
func cpuPerApproval(u usage, acked int) string {
	if acked == 0 {
		return "n/a"
	}
	per := func(cpu time.Duration, ok bool) string {
		if !ok {
			return "n/a"
		}
		return fmt.Sprintf("%.0fµs", float64(cpu.Microseconds())/float64(acked))
	}
	var parts []string
	var nodes time.Duration
	nodesOK := true
	for _, n := range u.nodes {
		parts = append(parts, fmt.Sprintf("%s %s %s", n.role, n.id, per(n.cpu, n.cpuOK)))
		nodes += n.cpu
		nodesOK = nodesOK && n.cpuOK
	}
	parts = append(parts, "three nodes "+per(nodes, nodesOK), "benchmark "+per(u.self, u.selfOK))
	return strings.Join(parts, ", ")
}

func cpuLine(u usage) string {
	var parts []string
	for _, n := range u.nodes {
		parts = append(parts, fmt.Sprintf("%s %s %s", n.role, n.id, cpuShare(n.cpu, u.wall, n.cpuOK)))
	}
	parts = append(parts, "benchmark "+cpuShare(u.self, u.wall, u.selfOK))
	return strings.Join(parts, ", ")
}

// logLineRE picks the level, component and message out of a text-format
// slog line.
var logLineRE = regexp.MustCompile(`level=(WARN|ERROR)\b.*?msg=("(?:[^"\\]|\\.)*"|\S+)(?:.*?component=(\S+))?`)

// logMarks returns how much each node has logged so far, to tell the
// run's log lines from those of stopping.
func logMarks(b *bench) map[*harness.Node]int {
	marks := map[*harness.Node]int{}
	for _, n := range b.c.Nodes() {
		marks[n] = len(n.Log())
	}
	return marks
}

// printLogNotes prints, for each node, the distinct warnings and errors it
// logged with their counts: those logged before marks (the run) and those
// after (stopping the cluster).
func printLogNotes(w io.Writer, b *bench, marks map[*harness.Node]int) {
	fmt.Fprintln(w, "== honuad warnings and errors")
	for _, n := range append([]*harness.Node{b.leader}, b.followers...) {
		all := n.Log()
		mark := min(marks[n], len(all))
		for _, part := range []struct{ when, text string }{
			{"during the run", all[:mark]}, {"while stopping", all[mark:]},
		} {
			notes := logNotes(part.text)
			if len(notes) == 0 {
				fmt.Fprintf(w, "   %s %s: none\n", n.ID(), part.when)
				continue
			}
			fmt.Fprintf(w, "   %s %s:\n", n.ID(), part.when)
			for _, note := range notes {
				fmt.Fprintf(w, "      %s\n", note)
			}
		}
	}
}

// logNotes returns the distinct warnings and errors of a log, each with its
// count, in the order they first appear.
func logNotes(text string) []string {
	counts := map[string]int{}
	var order []string
	for line := range strings.SplitSeq(text, "\n") {
		m := logLineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		key := m[1] + " " + m[2]
		if m[3] != "" {
			key += " (" + m[3] + ")"
		}
		if counts[key] == 0 {
			order = append(order, key)
		}
		counts[key]++
	}
	out := make([]string, len(order))
	for i, k := range order {
		out[i] = fmt.Sprintf("%4d× %s", counts[k], k)
	}
	return out
}
