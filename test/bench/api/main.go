// Command api measures the write path of honuad's API on a three-node
// cluster of real honuad processes:
//
//	go run ./test/bench/api
//	go run ./test/bench/api -n 1000 -duration 30s -keep
//
// Run it from anywhere in the module; it needs git and builds honuad
// itself. The cluster watches a local repository of -envs environments
// (env-001, env-002, ...) whose policy requires more approvals than the
// benchmark has identities, so every environment's first deployment waits
// in AwaitingApproval for the whole run, and every approval the benchmark
// sends is a new approval by a new (identity, deployment) pair: a Raft
// write that changes the deployment, not a duplicate. The identities are
// approver tokens from a tokens file (--tokens-file).
//
//   - disk: the cost of making one small Raft log entry durable with
//     raft-boltdb on the disk the data dirs are on, for reference.
//   - latency: -n approvals sent one at a time through the leader and -n
//     through a follower (which forwards them to the leader), alternating
//     between the two, after -warmup uncounted ones each; p50 and p99 of
//     each, and the follower/leader ratio (goal ≤ 1.2×, p50 ≤ 5 ms).
//   - throughput: -clients concurrent clients, each with its own api.Client
//     of one node, spread evenly over the three, approving back to back for
//     -duration; acknowledged (2xx) writes per second (goal ≥ 3,000/s with
//     p99 ≤ 25 ms),
//     errors by code, p50 and p99. Then, for comparison, the same with every
//     client on the leader (-compare).
//
// Every phase also reports the Raft entries committed, the approvals each
// node answered and forwarded (from its /metrics), and the CPU each honuad
// process and the benchmark used (from /proc), since the nodes and the
// clients share one machine. Clients keep their connections alive: the
// benchmark lets http.DefaultTransport, which api.Client uses, keep as many
// idle connections per node as there are clients.
//
// With -flood it runs, instead of the latency and throughput phases, the
// flood mode (flood.go): -clients clients approving on the leader, without
// and then with -flood-clients clients flooding a follower, and compares.
//
// It prints every figure, then a table against the goals of issue #17;
// with -figures FILE it also appends its headline figures to FILE for
// make bench-all (package figures), and with -quiet it prints only the
// table on stdout. With -profile DIR it saves profiles of the leader and a
// follower during the spread throughput phase (profile.go). It never fails
// on a figure: a missed target is printed as NOT met, and the exit status
// is 0 unless the benchmark itself could not run. With -tls the nodes run
// with TLS on (the clients over https, raft over mutual TLS, forwarding
// over TLS), to measure its cost. Nodes and the repository
// live in one temporary directory, removed at the end unless -keep is
// given.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/test/bench/benchrun"

	"github.com/honua-io/honua-gitops/test/harness"
)

// Goals of issue #17.
const (
	ratioTarget      = 1.2                   // follower p50 within 1.2× of the leader's
	latencyTarget    = 5 * time.Millisecond  // approve p50, through either
	throughputTarget = 3000.0                // acknowledged writes per second, clients spread
	tailTarget       = 25 * time.Millisecond // p99 under that load
)

// progress is where the phases report as they go: stdout, or nowhere with
// -quiet. notes is where the honuad warnings and errors of the run go:
// stdout, or stderr with -quiet. The summary table always goes to stdout,
// and the runner's own log lines to stderr.
var progress, notes io.Writer = os.Stdout, os.Stdout

// say writes a progress line.
func say(format string, args ...any) { fmt.Fprintf(progress, format, args...) }

// options are the command's flags.
type options struct {
	envs         int
	n            int
	warmup       int
	clients      int
	duration     time.Duration
	identities   int
	compare      bool
	diskN        int
	keep         bool
	tls          bool
	flood        bool
	floodClients int
	abuseLimits  bool
	floodKinds   string
	priority     bool
	floodWorker  bool
	nodeArgs     string
	profile      string
	quiet        bool
}

func main() {
	var o options
	flag.IntVar(&o.envs, "envs", 200, "environments, each with one deployment AwaitingApproval")
	flag.IntVar(&o.n, "n", 500, "latency: approvals timed through the leader, and as many through a follower")
	flag.IntVar(&o.warmup, "warmup", 20, "latency: uncounted approvals through each before the timed ones")
	flag.IntVar(&o.clients, "clients", 16, "throughput: concurrent clients")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "throughput: how long the clients approve")
	flag.IntVar(&o.identities, "identities", 10, "throughput: approver identities per client; each approves every deployment once")
	flag.BoolVar(&o.compare, "compare", true, "throughput: also run with every client on the leader")
	flag.IntVar(&o.diskN, "disk", 200, "disk: StoreLog calls timed")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (node logs, repository, tokens) and print its path")
	flag.BoolVar(&o.tls, "tls", false, "run the nodes with TLS: clients over https, raft over mutual TLS, forwarding over TLS")
	flag.BoolVar(&o.flood, "flood", false, "measure the leader without and with a flood on a follower, instead of the latency and throughput phases")
	flag.IntVar(&o.floodClients, "flood-clients", 512, "flood: clients flooding the follower, each from its own loopback address")
	flag.StringVar(&o.floodKinds, "flood-kinds", strings.Join(floodKinds, ","), "flood: the kinds of request the flood clients send, taken in turn")
	flag.BoolVar(&o.priority, "priority", true, "flood: run the leader, the other follower and the measuring clients at nice -10 (Linux, needs the privilege)")
	flag.StringVar(&o.nodeArgs, "node-args", "", "flood: extra honuad flags for every node, space-separated (--http-max-forwarded 64)")
	flag.StringVar(&o.profile, "profile", "", "save a CPU profile and an execution trace of the leader and a follower during the first throughput phase in this directory (runs the nodes with --enable-debug)")
	flag.BoolVar(&o.quiet, "quiet", false, "print only the summary table on stdout (the nodes' warnings and errors go to stderr, progress nowhere)")
	flag.BoolVar(&o.floodWorker, "flood-worker", false, "run as the flood's worker process (used by -flood)")
	flag.BoolVar(&o.abuseLimits, "abuse-limits", true, "flood: false runs the nodes with the webhook and authentication-failure rates off and no bound on forwarding, for comparison")
	flag.Parse()
	if o.floodWorker {
		floodWorker()
		return
	}
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if o.quiet {
		progress, notes = io.Discard, os.Stderr
	}
	switch {
	case o.envs < 1 || o.envs > 1000:
		log.Fatal("-envs must be from 1 to 1000 (the API lists at most 1000 deployments)")
	case o.n < 1, o.warmup < 0, o.clients < 1, o.identities < 1, o.diskN < 1:
		log.Fatal("-n, -clients, -identities and -disk must be at least 1, -warmup at least 0")
	case o.flood && o.floodClients < 1:
		log.Fatal("-flood-clients must be at least 1")
	case o.duration < time.Second:
		log.Fatal("-duration must be at least 1s")
	case o.profile != "" && o.duration < profileDelay+profileSeconds*time.Second+time.Second:
		log.Fatalf("-profile takes %ds of profiles %v into the throughput phase: give -duration of at least %v",
			profileSeconds, profileDelay, profileDelay+profileSeconds*time.Second+time.Second)
	}
	// api.Client uses http.DefaultTransport, which keeps 2 idle
	// connections per host: with more concurrent clients per node than
	// that, connections would be closed and redialled all the time.
	http.DefaultTransport.(*http.Transport).MaxIdleConnsPerHost = max(o.clients, 2)

	r := benchrun.New("api", o.keep)
	defer r.Finish()

	start := time.Now()
	say("API write benchmark: %s, %s/%s, %d CPUs\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())

	say("\n== 1. disk: one Raft log entry made durable, in the directory of the nodes' data dirs\n")
	disk := probeDisk(r, r.TempDir(), o.diskN)

	if o.flood {
		runFlood(r, o, disk, start)
		return
	}

	perPath := (o.warmup + o.n + o.envs - 1) / o.envs
	leaderIDs := identityGroup{name: "latency-leader", count: perPath}
	followerIDs := identityGroup{name: "latency-follower", count: perPath}
	spreadIDs := clientGroups("spread", o.clients, o.identities)
	onLeaderIDs := clientGroups("on-leader", o.clients, o.identities)
	groups := append([]identityGroup{leaderIDs, followerIDs}, spreadIDs...)
	if o.compare {
		groups = append(groups, onLeaderIDs...)
	}
	say("\n== 2. setup: 3 honuad processes, %d environments, %d approver identities, TLS %v\n", o.envs, identityCount(groups), o.tls)
	prof := newProfiler(o.profile)
	var args []string
	if prof != nil {
		args = append(args, "--enable-debug")
	}
	b := newBench(r, o.envs, groups, o.tls, args...)
	for _, u := range b.take().nodes {
		say("   %s %s: pid %d\n", u.role, u.id, u.pid)
	}

	var sum summary
	sum.disk = disk
	say("\n== 3. latency: %d sequential approvals through the leader and %d through a follower, alternating (+%d warm-up each)\n",
		o.n, o.n, o.warmup)
	sum.latency = benchLatency(b, o.n, o.warmup, leaderIDs, followerIDs)

	say("\n== 4. throughput: %d concurrent clients spread over the three nodes, %v\n", o.clients, o.duration)
	prof.start(b)
	sum.throughput = append(sum.throughput, benchThroughput(b, "spread over the three nodes",
		append([]*harness.Node{b.leader}, b.followers...), spreadIDs, o.duration))
	prof.wait()
	if o.compare {
		say("\n== 5. throughput, for comparison: %d concurrent clients all on the leader, %v\n", o.clients, o.duration)
		sum.throughput = append(sum.throughput, benchThroughput(b, "all on the leader",
			[]*harness.Node{b.leader}, onLeaderIDs, o.duration))
	}

	marks := logMarks(b)
	b.stop()
	say("\n")
	sum.print(os.Stdout)
	sum.record(o.clients)
	say("\n")
	printLogNotes(notes, b, marks)
	say("\ntotal run time %v\n", time.Since(start).Round(time.Second))
}

// runFlood is the flood mode, after the disk phase.
func runFlood(r *benchrun.Runner, o options, disk diskResult, start time.Time) {
	if o.tls {
		// The flood's worker process speaks plain http.
		r.Fatalf("-flood measures a cluster without TLS; leave out -tls")
	}
	kinds, err := parseFloodKinds(o.floodKinds)
	if err != nil {
		r.Fatalf("%v", err)
	}
	quietIDs := clientGroups("quiet", o.clients, o.identities)
	floodedIDs := clientGroups("flooded", o.clients, o.identities)
	legitQuiet := identityGroup{name: "legit-quiet", count: 10}
	legitFlooded := identityGroup{name: "legit-flooded", count: 10}
	floodIDs := identityGroup{name: "flood", count: 2}
	groups := append(append(slices.Clone(quietIDs), floodedIDs...), legitQuiet, legitFlooded, floodIDs)
	say("\n== 2. setup: 3 honuad processes, %d environments, %d approver identities\n", o.envs, identityCount(groups))
	args := strings.Fields(o.nodeArgs)
	if !o.abuseLimits {
		off := []string{"--http-webhook-rate", "off", "--http-auth-failure-rate", "off", "--http-max-forwarded", "1000000"}
		say("   abuse limits off: %s\n", strings.Join(off, " "))
		args = append(args, off...)
	}
	b := newBench(r, o.envs, groups, o.tls, args...)
	for _, u := range b.take().nodes {
		say("   %s %s: pid %d\n", u.role, u.id, u.pid)
	}
	names := floodIDs.names()
	spec := &floodSpec{Target: b.followers[0].APIAddr(), Clients: o.floodClients, Kinds: kinds,
		Reader: b.tokens[names[0]], Writer: b.tokens[names[1]], Deployments: b.deployments}
	priority, nice := "all at the same niceness", false
	if o.priority {
		pids := map[string]int{}
		for _, u := range b.take().nodes {
			pids[u.id] = u.pid
		}
		err := setNice(os.Getpid(), -10)
		for _, n := range []*harness.Node{b.leader, b.followers[1]} {
			if err == nil {
				err = setNice(pids[n.ID()], -10)
			}
		}
		if err != nil {
			say("   note: could not raise priorities (%v); all run at the same niceness\n", err)
		} else {
			priority, nice = fmt.Sprintf("leader %s, follower %s and the measuring clients at nice -10; flooded follower %s and the flood at 0",
				b.leader.ID(), b.followers[1].ID(), b.followers[0].ID()), true
			say("   %s\n", priority)
		}
	}

	say("\n== 3. no flood: %d clients approving on the leader for %v\n", o.clients, o.duration)
	quiet := benchFlood(b, "no flood", quietIDs, legitQuiet, o.duration, nil, nice)
	say("\n== 4. flood: the same while %d clients flood follower %s (%s)\n", o.floodClients, b.followers[0].ID(), o.floodKinds)
	flooded := benchFlood(b, "follower flooded", floodedIDs, legitFlooded, o.duration, spec, nice)

	marks := logMarks(b)
	b.stop()
	say("\n")
	printFloodSummary(os.Stdout, quiet, flooded, priority)
	fmt.Printf("disk: raft-boltdb StoreLog of one entry: %s\n", spreadTimes(disk.times))
	say("\n")
	printLogNotes(notes, b, marks)
	say("\ntotal run time %v\n", time.Since(start).Round(time.Second))
}

// clientGroups returns one identity group per client.
func clientGroups(prefix string, clients, identities int) []identityGroup {
	out := make([]identityGroup, clients)
	for i := range out {
		out[i] = identityGroup{name: fmt.Sprintf("%s-c%02d", prefix, i+1), count: identities}
	}
	return out
}

func identityCount(groups []identityGroup) int {
	n := 0
	for _, g := range groups {
		n += g.count
	}
	return n
}

// percentile returns the p-th percentile of ds by the nearest-rank method
// (p99 of 500 figures is the 495th smallest); 0 for none.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := (p*len(s) + 99) / 100 // ceil(p/100 * n)
	return s[max(rank, 1)-1]
}

// ms formats a duration in milliseconds with a precision that suits it.
func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	switch {
	case f >= 100:
		return fmt.Sprintf("%.0fms", f)
	case f >= 10:
		return fmt.Sprintf("%.1fms", f)
	}
	return fmt.Sprintf("%.2fms", f)
}
