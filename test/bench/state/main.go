// Command state measures what a large history costs honuad: the resident
// memory of a honuad process holding it, and the size of the FSM snapshot
// and the time to save and restore it.
//
//	go run ./test/bench/state
//	go run ./test/bench/state -envs 100 -per-env 100 -runs 5 -keep
//
// Target (the issue): with 100 environments and 10,000 deployments in
// history, under 64 MiB resident, and a restore under 1 s.
//
// It runs in three parts:
//
//   - fill: an in-process one-node cluster (raft and raft-boltdb on disk,
//     as honuad runs them) is driven through the commands the leader's
//     pipeline applies: per deployment ObserveCommit, CreateDeployment,
//     Validating, Planning (with a real plan from internal/plan, computed
//     against the deployment before it), BackingUp, a fencing token,
//     Applying, PostValidating and Completed; every tenth waits in
//     AwaitingApproval for two approvals first. The state is then saved
//     as a backup with the cluster's own SaveBackup (header and FSM
//     snapshot, the format honuactl snapshot save writes).
//   - in process: the FSM snapshot is taken (Snapshot, under the lock)
//     and persisted into memory (Persist), and restored into a new FSM
//     (Restore), -runs times each; the median and the best are printed,
//     with the snapshot's size and the Go heap the restored state holds.
//   - process: a real one-node honuad is started (built from the module),
//     its resident memory (VmRSS in /proc/<pid>/status) read when idle;
//     the backup is restored into it with honuactl snapshot restore --yes
//     (timed end to end) and VmRSS read again, after a round of reads
//     (every environment, every environment's history, 1,000
//     deployments), and after a restart, when the process rebuilt the
//     state from its own raft snapshot (timed from start to ready) and
//     after one GET /metrics, as Prometheus scrapes it. The peak (VmHWM)
//     is printed too. Every reading is taken before the benchmark checks
//     the node's state with GET /v1/debug/state, which encodes the whole
//     state and so costs memory of its own.
//
// It never fails on a figure: a missed target is printed as NOT met, and
// the exit status is 0 unless the benchmark itself could not run.
package main

import (
	"flag"
	"fmt"
	"log"
	"slices"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/test/bench/benchrun"
	"github.com/honua-io/honua-gitops/test/bench/figures"
)

// Targets of the issue.
const (
	targetRSS     = 64 << 20
	targetRestore = time.Second
)

// waitTimeout bounds every wait for a node.
const waitTimeout = 2 * time.Minute

// nodeArgs are -node-args: more flags for the real node; nodeEnv are
// -node-env: more NAME=value variables for its environment.
var nodeArgs, nodeEnv []string

// profileDir is -profile: with -large, where the node's CPU and allocation
// profiles of serving the environments list go.
var profileDir string

// withNodeSettings is a figure's name, naming -node-env and -node-args when
// they were given: the figure is of a node so set.
func withNodeSettings(name string) string {
	if extra := append(slices.Clone(nodeEnv), nodeArgs...); len(extra) > 0 {
		return name + " (" + strings.Join(extra, " ") + ")"
	}
	return name
}

func main() {
	envs := flag.Int("envs", 100, "environments")
	perEnv := flag.Int("per-env", 100, "deployments in each environment's history")
	runs := flag.Int("runs", 5, "in-process snapshot and restore runs")
	keep := flag.Bool("keep", false, "keep the data dirs, the backup and the node's log")
	large := flag.Bool("large", false, "measure 1,000 environments × 100 deployments instead (see large.go)")
	reuse := flag.String("large-backup", "", "with -large, restore this backup (large.snap, kept by an earlier -large -keep) instead of generating one")
	flag.Func("node-args", "more flags for the real honuad node, space-separated (e.g. \"--raft-profile lan\": restart to ready then waits a lan election timeout)",
		func(v string) error { nodeArgs = append(nodeArgs, strings.Fields(v)...); return nil })
	flag.Func("node-env", "more NAME=value variables for the real honuad node's environment, space-separated (e.g. \"GOMEMLIMIT=240MiB\")",
		func(v string) error { nodeEnv = append(nodeEnv, strings.Fields(v)...); return nil })
	flag.StringVar(&profileDir, "profile", "", "with -large, save the node's CPU and allocation profiles while it serves GET /v1/environments (5 s of it) in this directory (runs the node with --enable-debug)")
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)

	r := benchrun.New("state", *keep)
	defer r.Finish()
	if *large {
		runLarge(r, 1000, 100, *reuse)
		return
	}

	backup, fill := fillState(r, *envs, *perEnv)
	fmt.Printf("fill: %d environments × %d deployments = %d deployments through raft in %v (%d commands, %.0f/s)\n",
		*envs, *perEnv, fill.deployments, fill.took.Round(time.Millisecond), fill.commands,
		float64(fill.commands)/fill.took.Seconds())
	fmt.Printf("backup: %d bytes (header and FSM snapshot), %s\n", len(backup.bytes), backup.path)

	in := measureInProcess(r, backup.path, backup.state, *runs)
	fmt.Printf("in process, %d runs: snapshot %s; persist %s; restore %s\n", *runs, in.snapshot, in.persist, in.restore)
	fmt.Printf("in process: snapshot size %s (%d bytes); restored state holds %s of Go heap; %d deployments, %d environments\n",
		mib(int64(in.size)), in.size, mib(int64(in.heap)), in.deployments, in.environments)

	p := measureProcess(r, backup, *envs, *perEnv)
	fmt.Printf("process: honuad pid %d, VmRSS idle %s\n", p.pid, mib(p.idle))
	fmt.Printf("process: honuactl snapshot restore --yes took %v; VmRSS after it %s\n",
		p.restore.Round(time.Millisecond), mib(p.afterRestore))
	fmt.Printf("process: VmRSS after reading every environment, every history and 1,000 deployments %s\n", mib(p.afterReads))
	fmt.Printf("process: restarted (state rebuilt from its own raft snapshot) ready in %v; VmRSS %s\n",
		p.startup.Round(time.Millisecond), mib(p.afterRestart))
	fmt.Printf("process: of it, anonymous %s (Go heap in use %s), file pages %s (the binary, and the raft log's mmapped bolt file)\n",
		mib(p.restartAnon), mib(p.heapInuse), mib(p.restartFile))
	fmt.Printf("process: VmRSS after one GET /metrics (a Prometheus scrape, %d bytes) %s\n", p.metricsBytes, mib(p.afterScrape))
	fmt.Printf("process: peak VmHWM %s in the first run, %s after the restart\n", mib(p.peak), mib(p.peakRestart))
	fmt.Printf("process: honuactl snapshot save took %v; VmHWM over it %s, VmRSS after it %s\n",
		p.save.Round(time.Millisecond), mib(p.peakSave), mib(p.afterSave))
	fmt.Printf("process: steady VmRSS (restarted, after a round of reads) %s\n", mib(p.steady))
	fmt.Printf("process: restore, from the node's log: %s\n",
		steps(p.restoreSteps, "raft writes the snapshot", "the FSM restores it", "RestoreBackup returns"))
	fmt.Printf("process: restart, from the node's log: %s\n",
		steps(p.restartSteps, "FSM restore", "raft follower", "election (heartbeat timeout)", "leader barrier"))
	if !p.hwmReset {
		fmt.Println("process: could not reset VmHWM (/proc/<pid>/clear_refs): the peaks are since the process started")
	}

	fmt.Println()
	fmt.Printf("%-58s %12s %12s  %s\n", "figure", "measured", "target", "")
	row := func(name, measured, target string, ok bool) {
		verdict := "met"
		if !ok {
			verdict = "NOT met"
		}
		fmt.Printf("%-58s %12s %12s  %s\n", name, measured, target, verdict)
	}
	row("resident memory holding the state (after restore)", mib(p.afterRestore), mib(targetRSS), p.afterRestore < targetRSS)
	row("resident memory holding the state (after reads)", mib(p.afterReads), mib(targetRSS), p.afterReads < targetRSS)
	row("resident memory holding the state (fresh process)", mib(p.afterRestart), mib(targetRSS), p.afterRestart < targetRSS)
	row("resident memory holding the state (after a scrape)", mib(p.afterScrape), mib(targetRSS), p.afterScrape < targetRSS)
	row("FSM restore, in process (median)", in.restore.median().Round(time.Millisecond).String(), targetRestore.String(), in.restore.median() < targetRestore)
	row("honuactl snapshot restore, end to end", p.restore.Round(time.Millisecond).String(), targetRestore.String(), p.restore < targetRestore)
	fmt.Printf("%-58s %12s %12s\n", "FSM snapshot size", mib(int64(in.size)), "-")
	fmt.Printf("%-58s %12s %12s\n", "FSM snapshot + persist, in process (median)",
		(in.snapshot.median() + in.persist.median()).Round(time.Millisecond).String(), "-")
	fmt.Printf("%-58s %12s %12s\n", "resident memory idle, empty state", mib(p.idle), "-")
	fmt.Printf("%-58s %12s %12s\n", "peak resident memory (VmHWM), restore", mib(p.peak), "-")
	fmt.Printf("%-58s %12s %12s\n", "reference: read the backup and decode it as generic JSON", in.reference.median().Round(time.Millisecond).String(), "-")
	recordFigures(r, in, p)
}

// recordFigures hands the headline figures to -figures.
func recordFigures(r *benchrun.Runner, in inProcess, p processFigures) {
	ref := in.reference.median()
	peak := max(p.peak, p.peakSave, p.peakRestart)
	for _, f := range []figures.Figure{{
		Bench: "state", Name: "snapshot restore end to end / restart to ready, 10k",
		Measured: fmt.Sprintf("%s / %s", secs(p.restore), secs(p.startup)),
		Goal:     "≤ 0.5 s / ≤ 1 s", Met: p.restore <= 500*time.Millisecond && p.startup <= time.Second,
		Reference: fmt.Sprintf("restore / read + generic JSON decode of the backup %s", secs(ref)),
		Ratio:     ratio(float64(p.restore), float64(ref)),
	}, {
		Bench: "state", Name: "peak RSS during snapshot or restore / steady",
		Measured: fmt.Sprintf("%.2f× (%s / %s)", float64(peak)/float64(p.steady), mib(peak), mib(p.steady)),
		Goal:     "≤ 1.3×", Met: float64(peak) <= 1.3*float64(p.steady),
		Reference: "steady RSS " + mib(p.steady), Ratio: ratio(float64(peak), float64(p.steady)),
	}} {
		f.Name = withNodeSettings(f.Name)
		if err := figures.Record(f); err != nil {
			r.Fatalf("%v", err)
		}
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// secs formats a duration in seconds.
func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// steps formats the durations of logSteps as the steps between them.
func steps(ts []time.Duration, names ...string) string {
	var parts []string
	for i, name := range names {
		if i+1 >= len(ts) || ts[i] < 0 || ts[i+1] < 0 {
			parts = append(parts, name+" ?")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %v", name, (ts[i+1]-ts[i]).Round(time.Millisecond)))
	}
	return strings.Join(parts, ", ")
}

// mib formats a byte count in MiB.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
