package chaos

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

var (
	seedFlag      = flag.Int64("chaos.seed", 0, "seed of the chaos runs (0: a new one, printed)")
	longFlag      = flag.Bool("chaos.long", false, "the full suite: every fault's own test and long schedules (or HONUA_CHAOS=full)")
	artifactsFlag = flag.String("chaos.artifacts", "", "where a failed linearizability check writes porcupine's visualization (default <repo>/artifacts/chaos)")
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBuild()
	os.Exit(code)
}

// long reports whether the full suite runs (make chaos).
func long() bool { return *longFlag || os.Getenv("HONUA_CHAOS") == "full" }

// newRun starts a run for t with the seed of -chaos.seed, or a new one. It
// prints the seed, and on failure the command that replays the run.
func newRun(t *testing.T, o Options) *Run {
	t.Helper()
	if testing.Short() {
		t.Skip("starts honuad clusters; skipped with -short")
	}
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano() % 1_000_000_000
	}
	o.Seed, o.Long, o.ArtifactsDir = seed, long(), *artifactsFlag
	t.Logf("chaos seed %d", seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with chaos seed %d; replay with:\n\t%s", seed, replayCommand(t, seed))
		}
	})
	return Start(t, o)
}

func replayCommand(t *testing.T, seed int64) string {
	top, _, _ := strings.Cut(t.Name(), "/")
	cmd := fmt.Sprintf("go test ./test/chaos -run '^%s$' -chaos.seed=%d -v", top, seed)
	if long() {
		cmd += " -chaos.long"
	}
	return cmd
}

// selected reports whether -run names tests: a fault's own test then runs
// even in the short suite.
func selected() bool {
	f := flag.Lookup("test.run")
	return f != nil && f.Value.String() != ""
}

// testFault runs one fault while the workload runs (three times in the
// full suite) and checks the history.
func testFault(t *testing.T, name string, nodes int) {
	if !long() && !selected() {
		t.Skip("a fault's own test runs with -chaos.long (or HONUA_CHAOS=full) or when -run names it; TestSchedule injects every fault in the short suite")
	}
	f, ok := FaultNamed(name)
	if !ok {
		t.Fatalf("no fault %q", name)
	}
	skipUnlessRoot(t, name == "disk-full", "disk-full: needs root to mount a tmpfs as a follower's data dir")
	// A network fault's test skips loudly in newRun without root, ip or
	// nft (netns.New).
	r := newRun(t, Options{Nodes: nodes, TmpfsDataDirs: name == "disk-full", Network: f.Network})
	if why := r.SkipReason(f); why != "" {
		skipLoudly(t, name+": "+why)
	}
	r.StartWorkload()
	r.idle(3 * time.Second)
	repeats := 1
	if long() {
		repeats = 2
	}
	for range repeats {
		r.Inject(f)
		r.idle(3 * time.Second)
	}
	r.Check()
}

// skipLoudly skips the test, saying why on stderr too, when why is not
// empty: what the machine lacks for it (root, ip, nft).
func skipLoudly(t *testing.T, why string) {
	t.Helper()
	if why != "" {
		fmt.Fprintln(os.Stderr, "SKIP:", t.Name()+":", why)
		t.Skip(why)
	}
}

// skipUnlessRoot skips the test loudly when needed and the process is not
// root.
func skipUnlessRoot(t *testing.T, needed bool, why string) {
	t.Helper()
	if needed && os.Geteuid() != 0 {
		skipLoudly(t, why)
	}
}

func TestKillLeader(t *testing.T)         { testFault(t, "kill-leader", 3) }
func TestKillLeaderApplying(t *testing.T) { testFault(t, "kill-leader-applying", 3) }
func TestKillLeaderSnapshot(t *testing.T) { testFault(t, "kill-leader-snapshot", 3) }
func TestKillFollower(t *testing.T)       { testFault(t, "kill-follower", 3) }
func TestKillTwoOfFive(t *testing.T)      { testFault(t, "kill-two-of-five", 5) }
func TestPauseLeader(t *testing.T)        { testFault(t, "pause-leader", 3) }
func TestRestartCluster(t *testing.T)     { testFault(t, "restart-cluster", 3) }
func TestReplaceMember(t *testing.T)      { testFault(t, "replace-member", 3) }
func TestFollowerDiskFull(t *testing.T)   { testFault(t, "disk-full", 3) }

// The network faults' own tests: the nodes run in network namespaces
// (Options.Network), and without root, ip or nft the tests skip loudly.
func TestPartitionLeader(t *testing.T)           { testFault(t, "partition-leader", 3) }
func TestPartitionOneWayFromLeader(t *testing.T) { testFault(t, "partition-one-way-from-leader", 3) }
func TestPartitionOneWayToLeader(t *testing.T)   { testFault(t, "partition-one-way-to-leader", 3) }
func TestPartitionFlap(t *testing.T)             { testFault(t, "partition-flap", 3) }
func TestNetworkLoss(t *testing.T)               { testFault(t, "loss", 3) }
func TestNetworkDelay(t *testing.T)              { testFault(t, "delay", 3) }
func TestPartitionFollowerLong(t *testing.T)     { testFault(t, "partition-follower-long", 3) }

// TestSchedule injects every process fault a three-node cluster can take,
// in a random order, while the workload runs: each once in the short
// suite, round after round for several minutes in the full one. The nodes
// listen on loopback; TestNetworkSchedule runs the network faults.
func TestSchedule(t *testing.T) {
	r := newRun(t, Options{Nodes: 3, TmpfsDataDirs: true})
	var faults []Fault
	for _, f := range processFaults() {
		if f.Nodes == 0 {
			faults = append(faults, f)
		}
	}
	r.StartWorkload()
	r.idle(2 * time.Second)
	var d time.Duration
	if long() {
		d = 3 * time.Minute
	}
	r.Schedule(faults, d)
	r.Check()
}

// TestScheduleTLS runs the nodes with TLS on (API, raft and forwarding)
// and injects, in a random order, the faults that make nodes dial each
// other anew while the workload runs: the leader killed, the leader
// paused, the whole cluster restarted, and a member replaced by a new node
// that must prove its certificate to join (every process fault a
// three-node cluster takes in the full suite).
func TestScheduleTLS(t *testing.T) {
	r := newRun(t, Options{Nodes: 3, TLS: true, TmpfsDataDirs: long()})
	var faults []Fault
	for _, f := range processFaults() {
		if f.Nodes == 0 && (long() || slices.Contains([]string{"kill-leader", "pause-leader", "restart-cluster", "replace-member"}, f.Name)) {
			faults = append(faults, f)
		}
	}
	r.StartWorkload()
	r.idle(2 * time.Second)
	var d time.Duration
	if long() {
		d = 2 * time.Minute
	}
	r.Schedule(faults, d)
	r.Check()
}

// TestSchedule5 does the same on five nodes, where two may die at once:
// in the short suite, two of five and the leader; every fault in the full
// one.
func TestSchedule5(t *testing.T) {
	r := newRun(t, Options{Nodes: 5, TmpfsDataDirs: long()})
	faults := processFaults()
	var d time.Duration
	if long() {
		d = 2 * time.Minute
	} else {
		faults = slices.DeleteFunc(faults, func(f Fault) bool {
			return f.Name != "kill-two-of-five" && f.Name != "kill-leader"
		})
	}
	r.StartWorkload()
	r.idle(2 * time.Second)
	r.Schedule(faults, d)
	r.Check()
}

// TestNetworkSchedule runs the nodes in network namespaces and injects
// faults in a random order while the workload runs: in the short suite,
// the leader's partition, one of the two one-way partitions (by the seed),
// a flap, loss and delay (left out loudly where the kernel can delay no
// packet: neither netem nor nfqueue);
// in the full one, every fault a three-node cluster can take,
// network and process faults, round after round for three minutes.
// Without root, ip or nft it skips loudly.
func TestNetworkSchedule(t *testing.T) {
	r := newRun(t, Options{Nodes: 3, Network: true, TmpfsDataDirs: long()})
	var faults []Fault
	var d time.Duration
	if long() {
		for _, f := range Faults() {
			if f.Nodes == 0 {
				faults = append(faults, f)
			}
		}
		d = 3 * time.Minute
	} else {
		oneWay := "partition-one-way-from-leader"
		if r.rng.IntN(2) == 1 {
			oneWay = "partition-one-way-to-leader"
		}
		for _, name := range []string{"partition-leader", oneWay, "partition-flap", "loss", "delay"} {
			f, _ := FaultNamed(name)
			faults = append(faults, f)
		}
	}
	r.StartWorkload()
	r.idle(2 * time.Second)
	r.Schedule(faults, d)
	r.Check()
}
