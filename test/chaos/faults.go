package chaos

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

// Fault is one kind of fault. Inject injects it while the workload runs,
// waits for the cluster to react, and heals it; it runs on the test's
// goroutine.
type Fault struct {
	Name string
	// Nodes is the cluster size the fault needs; 0 means any.
	Nodes int
	// Network is set for the faults of the peer network: they need the
	// nodes in network namespaces (Options.Network).
	Network bool
	// Skip says why the fault cannot run in r ("" when it can).
	Skip   func(r *Run) string
	Inject func(r *Run)
}

// Faults returns every kind of fault, process faults first, then network
// faults.
func Faults() []Fault {
	return []Fault{
		{Name: "kill-leader", Inject: (*Run).killLeader},
		{Name: "kill-leader-applying", Inject: (*Run).killLeaderApplying},
		{Name: "kill-leader-snapshot", Inject: (*Run).killLeaderSnapshot},
		{Name: "kill-follower", Inject: (*Run).killFollower},
		{Name: "kill-two-of-five", Nodes: 5, Inject: (*Run).killTwoOfFive},
		{Name: "pause-leader", Inject: (*Run).pauseLeader},
		{Name: "restart-cluster", Inject: (*Run).restartCluster},
		{Name: "replace-member", Inject: (*Run).replaceMember},
		{Name: "disk-full", Skip: (*Run).diskFullSkip, Inject: (*Run).diskFull},
		{Name: "partition-leader", Network: true, Skip: (*Run).networkSkip, Inject: (*Run).partitionLeader},
		{Name: "partition-one-way-from-leader", Network: true, Skip: (*Run).networkSkip, Inject: (*Run).partitionOneWayFromLeader},
		{Name: "partition-one-way-to-leader", Network: true, Skip: (*Run).networkSkip, Inject: (*Run).partitionOneWayToLeader},
		{Name: "partition-flap", Network: true, Skip: (*Run).networkSkip, Inject: (*Run).partitionFlap},
		{Name: "loss", Network: true, Skip: (*Run).networkSkip, Inject: (*Run).loss},
		{Name: "delay", Network: true, Skip: (*Run).delaySkip, Inject: (*Run).delayNetwork},
		{Name: "partition-follower-long", Network: true, Skip: (*Run).networkSkip, Inject: (*Run).partitionFollowerLong},
	}
}

// processFaults returns the faults that are not network faults.
func processFaults() []Fault {
	return slices.DeleteFunc(Faults(), func(f Fault) bool { return f.Network })
}

// FaultNamed returns the fault called name.
func FaultNamed(name string) (Fault, bool) {
	i := slices.IndexFunc(Faults(), func(f Fault) bool { return f.Name == name })
	if i < 0 {
		return Fault{}, false
	}
	return Faults()[i], true
}

// SkipReason says why f cannot run in r, or "".
func (r *Run) SkipReason(f Fault) string {
	if f.Nodes != 0 && f.Nodes != r.opts.Nodes {
		return fmt.Sprintf("needs a %d-node cluster", f.Nodes)
	}
	if f.Skip != nil {
		return f.Skip(r)
	}
	return ""
}

// Inject runs fault f and records it.
func (r *Run) Inject(f Fault) {
	r.t.Helper()
	rec := faultRecord{Name: f.Name, Start: r.history.Since()}
	r.Logf("fault %s: start", f.Name)
	f.Inject(r)
	rec.End = r.history.Since()
	r.mu.Lock()
	r.faultLog = append(r.faultLog, rec)
	r.mu.Unlock()
	r.Logf("fault %s: healed after %v", f.Name, (rec.End - rec.Start).Round(time.Millisecond))
}

// Schedule injects faults in a random order (by the run's seed), with a
// random pause between them, until every fault ran once and, when d is
// longer, until d has passed.
func (r *Run) Schedule(faults []Fault, d time.Duration) {
	r.t.Helper()
	var runnable []Fault
	for _, f := range faults {
		if why := r.SkipReason(f); why != "" {
			r.leaveOut(f, why)
			continue
		}
		runnable = append(runnable, f)
	}
	if len(runnable) == 0 {
		r.t.Fatal("schedule: no fault can run")
	}
	end := time.Now().Add(d)
	for round := 0; round == 0 || time.Now().Before(end); round++ {
		order := slices.Clone(runnable)
		r.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		names := make([]string, len(order))
		for i, f := range order {
			names[i] = f.Name
		}
		r.Logf("schedule round %d: %s", round+1, strings.Join(names, ", "))
		for _, f := range order {
			r.Inject(f)
			r.idle(r.between(time.Second, 2500*time.Millisecond))
		}
	}
}

// leaveOut says loudly, on stderr, in the log and in the run's summary,
// that the schedule leaves fault f out.
func (r *Run) leaveOut(f Fault, why string) {
	r.t.Helper()
	fmt.Fprintf(os.Stderr, "SKIP: %s: fault %s left out of the schedule: %s\n", r.t.Name(), f.Name, why)
	r.Logf("%s\n\tSCHEDULE LEAVES OUT %s: %s\n\t%s", banner, f.Name, why, banner)
	r.note("LEFT OUT of the schedule: %s: %s", f.Name, why)
}

var banner = strings.Repeat("!", 72)

func (r *Run) faults() []faultRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.faultLog)
}

func (r *Run) outage(what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outages = append(r.outages, outage{What: what, At: r.history.Since()})
}

// leader returns the leader every live node agrees on, or fails the test.
func (r *Run) leader() *harness.Node {
	r.t.Helper()
	l, err := r.cluster.WaitForLeader(leaderTimeout)
	if err != nil {
		r.t.Fatal(err)
	}
	return l
}

// follower returns a random follower, or fails the test.
func (r *Run) follower(among func(*harness.Node) bool) *harness.Node {
	r.t.Helper()
	leader := r.leader()
	var fs []*harness.Node
	for _, n := range r.members() {
		if n != leader && !n.Paused() && (among == nil || among(n)) {
			fs = append(fs, n)
		}
	}
	if len(fs) == 0 {
		r.t.Fatal("no follower to fault")
	}
	return pick(r.rng, fs)
}

// restart starts a stopped node again and waits until it has caught up
// with the leader.
func (r *Run) restart(nodes ...*harness.Node) {
	r.t.Helper()
	for _, n := range nodes {
		n.Restart()
	}
	r.waitCaughtUp(nodes...)
}

// waitCaughtUp waits until every node knows the leader and has applied
// what the leader had committed when the wait began.
func (r *Run) waitCaughtUp(nodes ...*harness.Node) {
	r.t.Helper()
	leader, err := r.catchUp(settleTimeout, nodes...)
	if err != nil {
		r.dumpStacks(leader)
		for _, n := range nodes {
			r.dumpStacks(n)
		}
		r.t.Fatal(err)
	}
}

// catchUp waits up to timeout for every node to know the leader and to
// apply what the leader had committed when the wait began. It returns the
// leader.
func (r *Run) catchUp(timeout time.Duration, nodes ...*harness.Node) (*harness.Node, error) {
	r.t.Helper()
	leader := r.leader()
	st, err := leader.Status()
	if err != nil {
		return leader, err
	}
	start := time.Now()
	for _, n := range nodes {
		err := harness.Poll(timeout, fmt.Sprintf("%s to follow a leader and apply index %d", n, st.CommitIndex), func() error {
			s, err := n.Status()
			if err == nil && (s.LeaderID() == "" || s.AppliedIndex < st.CommitIndex) {
				err = fmt.Errorf("%s", s)
			}
			return err
		})
		if err != nil {
			return leader, err
		}
	}
	r.Logf("%v caught up with index %d in %v", nodes, st.CommitIndex, time.Since(start).Round(time.Millisecond))
	return leader, nil
}

// dumpStacks makes a node print its goroutines into its log and exit
// (SIGQUIT), so that the saved log shows where it was stuck.
func (r *Run) dumpStacks(n *harness.Node) {
	pid, err := harness.PIDOf(r.bin, n.ID())
	if err != nil {
		r.Logf("cannot dump %s's goroutines: %v", n.ID(), err)
		return
	}
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		r.Logf("cannot dump %s's goroutines: %v", n.ID(), err)
		return
	}
	_, _ = n.Wait(10 * time.Second)
	r.Logf("sent SIGQUIT to %s (pid %d): its goroutines are at the end of its log", n.ID(), pid)
}
