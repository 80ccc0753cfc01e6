package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

func TestLeaderElected(t *testing.T) {
	tc := newTestCluster(t, 3)
	leader := tc.waitForLeader()
	// A follower learns the configuration and the leader from the
	// leader's first AppendEntries, which may come after the election.
	for _, tn := range tc.running() {
		waitFor(t, tn.id()+" to know three voters and the leader", func() error {
			vs, err := voters(tn.node)
			if err != nil {
				return err
			}
			if len(vs) != 3 {
				return fmt.Errorf("voters = %v; want 3", vs)
			}
			if st := tn.node.Status(); st.Leader == nil || st.Leader.ID != leader.id() {
				return fmt.Errorf("Status().Leader = %+v; want %s", st.Leader, leader.id())
			}
			return nil
		})
	}
}

func TestApplySeenOnFollowers(t *testing.T) {
	tc := newTestCluster(t, 3)
	_, idx := tc.apply(observe("production", "abc123"))
	tc.waitForApplied(idx)
	for _, tn := range tc.running() {
		e, ok := tn.fsm.Environment("production")
		if !ok || e.LatestSeenCommit != "abc123" {
			t.Errorf("%s: Environment(production) = %+v, %v; want latest seen abc123", tn.id(), e, ok)
		}
	}
}

func TestApplyErrors(t *testing.T) {
	tc := newTestCluster(t, 3)
	follower := tc.followers()[0]
	_, err := follower.node.Apply(context.Background(), observe("production", "abc"))
	if !errors.Is(err, ErrNotLeader) {
		t.Errorf("Apply on follower = %v; want ErrNotLeader", err)
	}
	leader := tc.waitForLeader()
	_, err = leader.node.Apply(context.Background(), &fsm.TransitionDeployment{ID: "nope", To: fsm.StateValidating, Time: time.Now()})
	if !errors.Is(err, fsm.ErrNotFound) {
		t.Errorf("Apply(transition of unknown deployment) = %v; want fsm.ErrNotFound", err)
	}
}

func TestLeaderStopElectsAnotherWithStateIntact(t *testing.T) {
	tc := newTestCluster(t, 3)
	_, idx := tc.apply(observe("staging", "c1"))
	tc.waitForApplied(idx)
	old := tc.waitForLeader()
	tc.stop(old, false)
	leader := tc.waitForNewLeader(old)
	if leader == old {
		t.Fatal("stopped node is still the leader")
	}
	for _, tn := range tc.running() {
		if e, ok := tn.fsm.Environment("staging"); !ok || e.LatestSeenCommit != "c1" {
			t.Errorf("%s lost state: Environment(staging) = %+v, %v", tn.id(), e, ok)
		}
	}
	_, idx = tc.apply(observe("staging", "c2"))
	tc.waitForApplied(idx)
	if e, _ := leader.fsm.Environment("staging"); e.LatestSeenCommit != "c2" {
		t.Errorf("new leader: latest seen = %q; want c2", e.LatestSeenCommit)
	}
}

func TestRestartedNodeCatchesUp(t *testing.T) {
	tc := newTestCluster(t, 3)
	_, idx := tc.apply(observe("development", "before"))
	tc.waitForApplied(idx)
	f := tc.followers()[0]
	tc.stop(f, false)
	var last uint64
	for i := range 20 {
		_, last = tc.apply(observe("development", fmt.Sprintf("while-down-%d", i)))
	}
	tc.restart(f)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := f.fsm.WaitForIndex(ctx, last); err != nil {
		t.Fatalf("restarted node did not catch up: %v", err)
	}
	if e, _ := f.fsm.Environment("development"); e.LatestSeenCommit != "while-down-19" {
		t.Errorf("restarted node: latest seen = %q; want while-down-19", e.LatestSeenCommit)
	}
	assertSameState(t, tc, last)
}

func TestFollowerFarBehindGetsSnapshot(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) {
		c.SnapshotThreshold = 16
		c.SnapshotInterval = 50 * time.Millisecond
		c.TrailingLogs = 4
	})
	f := tc.followers()[0]
	held := f.node.raft.LastIndex()
	tc.stop(f, false)
	var last uint64
	for i := range 200 {
		_, last = tc.apply(observe(fmt.Sprintf("env-%d", i%7), fmt.Sprintf("c%d", i)))
	}
	leader := tc.waitForLeader()
	// The leader must have compacted past what the follower holds, so
	// that only a snapshot can bring it up.
	waitFor(t, "the leader to compact its log", func() error {
		first, err := leader.node.store.FirstIndex()
		if err != nil {
			return err
		}
		if first <= held+1 {
			return fmt.Errorf("leader's first log index is %d; the follower holds up to %d", first, held)
		}
		return nil
	})
	tc.restart(f)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := f.fsm.WaitForIndex(ctx, last); err != nil {
		t.Fatalf("follower did not catch up: %v", err)
	}
	assertSameState(t, tc, last)
}

// assertSameState checks that every running node applied index and holds
// byte-identical state.
func assertSameState(t *testing.T, tc *testCluster, index uint64) {
	t.Helper()
	tc.waitForApplied(index)
	// Later entries (leader no-ops are not FSM commands) may be applied
	// meanwhile; compare once all agree on the FSM's applied index.
	waitFor(t, "identical FSM state on every node", func() error {
		var first []byte
		var firstID string
		for _, tn := range tc.running() {
			b, err := tn.fsm.Dump()
			if err != nil {
				return err
			}
			if first == nil {
				first, firstID = b, tn.id()
				continue
			}
			if !bytes.Equal(first, b) {
				return fmt.Errorf("%s and %s hold different state", firstID, tn.id())
			}
		}
		return nil
	})
}

func TestSimultaneousStartBootstrapsOneCluster(t *testing.T) {
	for i := range 20 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			tc := newUnstartedCluster(t, 3)
			tc.startAll()
			leader := tc.waitForLeader()
			want, err := voters(leader.node)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) != 3 {
				t.Fatalf("leader's voters = %v; want all three", want)
			}
			_, idx := tc.apply(observe("production", "x"))
			tc.waitForApplied(idx)
			for _, tn := range tc.running() {
				got, err := voters(tn.node)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s: voters = %v; want %v", tn.id(), got, want)
				}
			}
			tc.shutdownAll()
		})
	}
}

func TestBootstrapExpectMismatchIsFatal(t *testing.T) {
	tc := &testCluster{t: t}
	tc.nodes = append(tc.nodes, tc.open(testConfig(t, "node1", 2)), tc.open(testConfig(t, "node2", 3)))
	t.Cleanup(tc.shutdownAll)
	tc.joinAll()
	tc.startAll()
	for _, tn := range tc.nodes {
		select {
		case err := <-tn.node.Fatal():
			if !errors.Is(err, ErrBootstrapMismatch) {
				t.Errorf("%s: fatal = %v; want ErrBootstrapMismatch", tn.id(), err)
			}
		case <-time.After(testTimeout):
			t.Fatalf("%s: no fatal error for mismatched bootstrap-expect", tn.id())
		}
		if tn.node.hasRaftState() {
			t.Errorf("%s bootstrapped despite the mismatch", tn.id())
		}
	}
}

func TestDuplicateNodeIDIsFatalForTheNewcomer(t *testing.T) {
	tc := newTestCluster(t, 3)
	cfg := testConfig(t, "node1", 0)
	cfg.Join = []string{tc.nodes[1].node.GossipAddr()}
	dup := tc.open(cfg)
	defer dup.node.Shutdown(false)
	dup.node.Start()
	select {
	case err := <-dup.node.Fatal():
		var de *DuplicateIDError
		if !errors.As(err, &de) {
			t.Fatalf("fatal = %v; want *DuplicateIDError", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("newcomer with a taken id did not stop")
	}
	select {
	case err := <-tc.nodes[0].node.Fatal():
		t.Fatalf("the original node1 got a fatal error: %v", err)
	default:
	}
	leader := tc.waitForLeader()
	vs, _ := voters(leader.node)
	if addr := vs["node1"]; addr != tc.nodes[0].node.RaftAddr() {
		t.Errorf("node1's raft address = %q; want the original %q", addr, tc.nodes[0].node.RaftAddr())
	}
}

func TestJoinRetriesUntilPeerAppears(t *testing.T) {
	later := freeGossipAddr(t)
	first := testConfig(t, "node1", 2)
	first.Join = []string{later}
	tc := &testCluster{t: t}
	n1 := tc.open(first)
	tc.nodes = append(tc.nodes, n1)
	second := testConfig(t, "node2", 2)
	second.GossipBind = later
	t.Cleanup(tc.shutdownAll)
	n1.node.Start()
	waitFor(t, "node1 to fail joining twice", func() error {
		if a := n1.node.joinAttempts.Load(); a < 2 {
			return fmt.Errorf("%d attempts", a)
		}
		return nil
	})
	n2 := tc.open(second)
	tc.nodes = append(tc.nodes, n2)
	n2.node.Start()
	tc.waitForLeader()
	vs, _ := voters(n1.node)
	if len(vs) != 2 {
		t.Errorf("voters = %v; want node1 and node2", vs)
	}
}

func TestGracefulLeaveRemovesVoter(t *testing.T) {
	tc := newTestCluster(t, 4)
	f := tc.followers()[0]
	tc.stop(f, true)
	leader := tc.waitForLeader()
	waitFor(t, f.id()+" to be removed from the raft configuration", func() error {
		vs, err := voters(leader.node)
		if err != nil {
			return err
		}
		if _, ok := vs[f.id()]; ok {
			return fmt.Errorf("voters = %v", vs)
		}
		return nil
	})
	if m := memberByID(leader.node, f.id()); m == nil || m.Status != StatusLeft {
		t.Errorf("member %s = %+v; want status left", f.id(), m)
	}
	// It comes back as a voter when it restarts.
	tc.restart(f)
	waitFor(t, f.id()+" to be a voter again", func() error {
		vs, err := voters(tc.waitForLeader().node)
		if err != nil {
			return err
		}
		if _, ok := vs[f.id()]; !ok {
			return fmt.Errorf("voters = %v", vs)
		}
		return nil
	})
}

func TestGracefulLeaveKeepsMinimumVoters(t *testing.T) {
	tc := newTestCluster(t, 3)
	f := tc.followers()[0]
	tc.stop(f, true)
	leader := tc.waitForLeader()
	waitMemberStatus(t, leader.node, f.id(), StatusLeft)
	for range 3 {
		leader.node.reconcileMembers()
	}
	vs, _ := voters(leader.node)
	if _, ok := vs[f.id()]; !ok || len(vs) != 3 {
		t.Errorf("voters = %v; want all three kept (removing %s would go below MinVoters)", vs, f.id())
	}
	// The other two can still lose one more member and keep a quorum of
	// the three-voter configuration when it returns.
	tc.restart(f)
	tc.waitForLeader()
}

func TestFailedMemberStaysVoter(t *testing.T) {
	tc := newTestCluster(t, 3)
	f := tc.followers()[0]
	tc.stop(f, false)
	leader := tc.waitForLeader()
	waitMemberStatus(t, leader.node, f.id(), StatusDead)
	// Several reconcile rounds pass; it must stay a voter.
	for range 3 {
		leader.node.reconcileMembers()
	}
	vs, _ := voters(leader.node)
	if _, ok := vs[f.id()]; !ok {
		t.Errorf("failed member %s was removed without cleanup enabled: voters = %v", f.id(), vs)
	}
	if err := leader.node.RemoveMember(f.id()); err != nil {
		t.Fatalf("RemoveMember(%s): %v", f.id(), err)
	}
	vs, _ = voters(leader.node)
	if _, ok := vs[f.id()]; ok {
		t.Errorf("RemoveMember(%s) left it a voter: %v", f.id(), vs)
	}
	if err := leader.node.RemoveMember("ghost"); !errors.Is(err, ErrUnknownMember) {
		t.Errorf("RemoveMember(ghost) = %v; want ErrUnknownMember", err)
	}
}

func TestDeadServerCleanup(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) {
		c.DeadServerCleanup = true
		c.DeadServerGrace = 300 * time.Millisecond
	})
	f := tc.followers()[0]
	tc.stop(f, false)
	waitFor(t, "dead server "+f.id()+" to be removed after its grace", func() error {
		vs, err := voters(tc.waitForLeader().node)
		if err != nil {
			return err
		}
		if _, ok := vs[f.id()]; ok {
			return fmt.Errorf("voters = %v", vs)
		}
		return nil
	})
}

func TestDeadServerCleanupKeepsQuorum(t *testing.T) {
	tests := []struct {
		voters, dead, want int
	}{
		{3, 1, 1}, {3, 2, 1}, {5, 2, 2}, {5, 3, 2}, {5, 4, 2}, {1, 1, 0}, {2, 1, 0}, {7, 5, 3},
	}
	for _, tt := range tests {
		if got := cleanupAllowance(tt.voters, tt.dead); got != tt.want {
			t.Errorf("cleanupAllowance(voters=%d, dead=%d) = %d; want %d", tt.voters, tt.dead, got, tt.want)
		}
	}
}

func TestLeaderWorkRunsAfterBarrierAndNeverOverlaps(t *testing.T) {
	type run struct {
		node      string
		sawMarker bool
	}
	var mu sync.Mutex
	var runs []run
	var overlaps atomic.Int32
	active := map[string]*atomic.Int32{}
	tc := newUnstartedCluster(t, 3)
	for _, tn := range tc.nodes {
		active[tn.id()] = &atomic.Int32{}
		tn.node.RegisterLeaderWork("probe", func(ctx context.Context) {
			if active[tn.id()].Add(1) > 1 {
				overlaps.Add(1)
			}
			defer active[tn.id()].Add(-1)
			e, _ := tn.fsm.Environment("marker")
			mu.Lock()
			runs = append(runs, run{node: tn.id(), sawMarker: e != nil})
			mu.Unlock()
			<-ctx.Done()
		})
	}
	tc.startAll()
	tc.apply(observe("marker", "m1"))
	for range 3 {
		old := tc.waitForLeader()
		if err := old.node.raft.LeadershipTransfer().Error(); err != nil {
			t.Logf("leadership transfer from %s: %v", old.id(), err)
		}
		waitFor(t, "leadership to move away from "+old.id(), func() error {
			if old.node.IsLeader() {
				return errors.New("still leader")
			}
			return nil
		})
		waitFor(t, "the old leader's work to stop", func() error {
			if n := active[old.id()].Load(); n != 0 {
				return fmt.Errorf("%d runs still active", n)
			}
			return nil
		})
	}
	tc.waitForLeader()
	// The last leader's work starts once its Barrier is applied, which
	// may be after a leader is known.
	waitFor(t, "the fourth leader's work to start", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(runs) < 4 {
			return fmt.Errorf("leader work ran %d times over 4 leaderships; want at least 4", len(runs))
		}
		return nil
	})
	if n := overlaps.Load(); n != 0 {
		t.Errorf("leader work overlapped %d times on one node", n)
	}
	mu.Lock()
	defer mu.Unlock()
	// The first leader's run may start before the marker was written;
	// every later leader starts after a Barrier and must see it.
	for i, r := range runs[1:] {
		if !r.sawMarker {
			t.Errorf("run %d (on %s) did not see the entry committed before it took over", i+1, r.node)
		}
	}
}

func TestReadiness(t *testing.T) {
	tc := newTestCluster(t, 3)
	for _, tn := range tc.running() {
		waitFor(t, tn.id()+" to be ready", func() error {
			if ok, why := tn.node.Ready(); !ok {
				return errors.New(why)
			}
			return nil
		})
	}
	// A lone node of a three-node cluster knows no leader: not ready.
	for _, tn := range tc.followers() {
		tc.stop(tn, false)
	}
	lone := tc.running()[0]
	waitFor(t, "the lone node to report no leader", func() error {
		if ok, _ := lone.node.Ready(); ok {
			return errors.New("still ready")
		}
		return nil
	})
	if _, why := lone.node.Ready(); why != "no leader known" {
		t.Errorf("Ready() reason = %q; want %q", why, "no leader known")
	}
}

// waitMemberStatus waits until n sees member id with status.
func waitMemberStatus(t *testing.T, n *Node, id, status string) {
	t.Helper()
	waitFor(t, id+" to be seen "+status, func() error {
		if m := memberByID(n, id); m == nil || m.Status != status {
			return fmt.Errorf("member = %+v", m)
		}
		return nil
	})
}

func memberByID(n *Node, id string) *Member {
	for _, m := range n.Members() {
		if m.ID == id {
			return &m
		}
	}
	return nil
}

// freeGossipAddr returns a loopback address whose port is free for TCP and
// UDP right now.
func freeGossipAddr(t *testing.T) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err == nil {
			u.Close()
			return addr
		}
	}
	t.Fatal("no free port for TCP and UDP")
	return ""
}

func TestNewNodeJoiningRunningClusterBecomesVoter(t *testing.T) {
	tc := newTestCluster(t, 3)
	cfg := testConfig(t, "node4", 0)
	cfg.Join = []string{tc.nodes[2].node.GossipAddr()}
	fresh := tc.open(cfg)
	tc.mu.Lock()
	tc.nodes = append(tc.nodes, fresh)
	tc.mu.Unlock()
	fresh.node.Start()
	waitFor(t, "node4 to be added as a voter", func() error {
		vs, err := voters(tc.waitForLeader().node)
		if err != nil {
			return err
		}
		if _, ok := vs["node4"]; !ok {
			return fmt.Errorf("voters = %v", vs)
		}
		return nil
	})
	_, idx := tc.apply(observe("production", "after-join"))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := fresh.fsm.WaitForIndex(ctx, idx); err != nil {
		t.Fatalf("node4 does not receive the log: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	tc := newUnstartedCluster(t, 3)
	tc.nodes[0].node.RegisterMetrics(reg)
	tc.startAll()
	tc.waitForLeader()
	_, idx := tc.apply(observe("production", "m1"))
	tc.waitForApplied(idx)
	waitFor(t, "node1's metrics to show the cluster", func() error {
		mfs, err := reg.Gather()
		if err != nil {
			return err
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				key := mf.GetName()
				for _, l := range m.GetLabel() {
					key += "{" + l.GetValue() + "}"
				}
				switch {
				case m.Gauge != nil:
					got[key] = m.Gauge.GetValue()
				case m.Counter != nil:
					got[key] = m.Counter.GetValue()
				case m.Histogram != nil:
					got[key] = float64(m.Histogram.GetSampleCount())
				}
			}
		}
		switch {
		case got["honua_raft_applied_index"] < float64(idx):
			return fmt.Errorf("applied index %v; want at least %d", got["honua_raft_applied_index"], idx)
		case got["honua_raft_term"] < 1:
			return fmt.Errorf("term %v", got["honua_raft_term"])
		case got["honua_cluster_members{alive}"] != 3:
			return fmt.Errorf("alive members %v; want 3", got["honua_cluster_members{alive}"])
		case got["honua_raft_leader_changes_total"] < 1:
			return fmt.Errorf("leader changes %v; want at least the first election", got["honua_raft_leader_changes_total"])
		}
		if _, ok := got["honua_raft_state"]; !ok {
			return errors.New("no honua_raft_state")
		}
		return nil
	})
}

func TestBackupRoundTrip(t *testing.T) {
	tc := newTestCluster(t, 3)
	_, idx := tc.apply(observe("production", "before-backup"))
	tc.waitForApplied(idx)
	leader := tc.waitForLeader()
	var backup bytes.Buffer
	if err := leader.node.SaveBackup(&backup); err != nil {
		t.Fatal(err)
	}
	saved, _ := leader.fsm.Dump()
	_, idx = tc.apply(observe("production", "after-backup"))
	tc.waitForApplied(idx)

	// A corrupted backup is refused before it reaches raft.
	bad := bytes.Replace(backup.Bytes(), []byte("before-backup"), []byte("BEFORE-BACKUP"), 1)
	if _, err := leader.node.RestoreBackup(bytes.NewReader(bad)); !errors.Is(err, ErrBadBackup) {
		t.Fatalf("RestoreBackup(corrupted) = %v; want ErrBadBackup", err)
	}
	// Restoring the same backup again is harmless, so a restore whose
	// outcome a lost leadership left unknown is retried on the new leader.
	waitFor(t, "the backup to be restored", func() error {
		_, err := tc.waitForLeader().node.RestoreBackup(bytes.NewReader(backup.Bytes()))
		if errors.Is(err, ErrNotLeader) || errors.Is(err, ErrLeadershipLost) {
			return err
		}
		if err != nil {
			t.Fatal(err)
		}
		return nil
	})
	waitFor(t, "every node to hold the backup's state", func() error {
		for _, tn := range tc.running() {
			e, ok := tn.fsm.Environment("production")
			if !ok || e.LatestSeenCommit != "before-backup" {
				return fmt.Errorf("%s: production %+v", tn.id(), e)
			}
			if got, _ := tn.fsm.Dump(); !bytes.Equal(got, saved) {
				return fmt.Errorf("%s holds a different state than the backup", tn.id())
			}
		}
		return nil
	})
	// The cluster goes on taking writes.
	_, idx = tc.apply(observe("production", "after-restore"))
	tc.waitForApplied(idx)

	// The backup holds the snapshot format of version 2; a backup of
	// the binaries before it (version 1, Dump's) restores the same state.
	if _, state, _ := bytes.Cut(backup.Bytes(), []byte("\n")); !bytes.HasPrefix(state, []byte(`{"version":2,`)) {
		t.Errorf("SaveBackup wrote a snapshot starting %.30q; want version 2", state)
	}
	waitFor(t, "the version 1 backup to be restored", func() error {
		_, err := tc.waitForLeader().node.RestoreBackup(bytes.NewReader(wrapBackup(saved)))
		if errors.Is(err, ErrNotLeader) || errors.Is(err, ErrLeadershipLost) {
			return err
		}
		if err != nil {
			t.Fatal(err)
		}
		return nil
	})
	waitFor(t, "every node to hold the version 1 backup's state", func() error {
		for _, tn := range tc.running() {
			if got, _ := tn.fsm.Dump(); !bytes.Equal(got, saved) {
				return fmt.Errorf("%s holds a different state than the backup", tn.id())
			}
		}
		return nil
	})
}

// TestBackupSizeIsKnownFirst: a Backup's size, known before it is written,
// is what WriteTo writes, and what the header line says after itself; and
// writes applied after the Backup was taken are not in it.
func TestBackupSizeIsKnownFirst(t *testing.T) {
	tc := newTestCluster(t, 1)
	_, idx := tc.apply(observe("production", "in-backup"))
	tc.waitForApplied(idx)
	leader := tc.waitForLeader()
	b, err := leader.node.Backup()
	if err != nil {
		t.Fatal(err)
	}
	_, idx = tc.apply(observe("production", "after-backup"))
	tc.waitForApplied(idx)
	var buf bytes.Buffer
	n, err := b.WriteTo(&buf)
	if err != nil || n != b.Size() || int64(buf.Len()) != b.Size() {
		t.Fatalf("WriteTo = %d, %v, %d bytes written; want Size() = %d", n, err, buf.Len(), b.Size())
	}
	_, prep, err := readBackup(bytes.NewReader(buf.Bytes()), testSpool(t))
	if err != nil {
		t.Fatalf("readBackup(WriteTo's bytes) = %v", err)
	}
	if got := preparedBytes(t, prep); bytes.Contains(got, []byte("after-backup")) || !bytes.Contains(got, []byte("in-backup")) {
		t.Errorf("the backup holds %s; want the state when Backup was called", got)
	}
}

func TestRecoverAfterLosingQuorum(t *testing.T) {
	tc := newTestCluster(t, 3)
	_, idx := tc.apply(observe("production", "survives"))
	tc.waitForApplied(idx)
	survivor := tc.followers()[0]
	for _, tn := range tc.running() {
		tc.stop(tn, false)
	}
	// The other two are gone for good. The survivor alone has no quorum:
	// rewrite its configuration to itself.
	err := Recover(survivor.cfg.DataDir, survivor.id(), []Peer{{ID: survivor.id(), Address: survivor.cfg.RaftBind}})
	if err != nil {
		t.Fatal(err)
	}
	if err := Recover(survivor.cfg.DataDir, "someone-else", []Peer{{ID: "someone-else", Address: "127.0.0.1:1"}}); err == nil {
		t.Error("Recover with another node's id accepted the data dir")
	}
	tc.restart(survivor)
	waitFor(t, "the survivor to lead alone", func() error {
		if !survivor.node.LeaderReady() {
			return errors.New("not leader yet")
		}
		return nil
	})
	if e, ok := survivor.fsm.Environment("production"); !ok || e.LatestSeenCommit != "survives" {
		t.Fatalf("recovered state = %+v; want what was committed", e)
	}
	if _, err := survivor.node.Apply(context.Background(), observe("production", "after-recovery")); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
}

// TestReadBackupChecksTheSize: a backup whose state is shorter or longer
// than its header says, or whose header gives an impossible size, is
// refused with ErrBadBackup and a message that says so.
func TestReadBackupChecksTheSize(t *testing.T) {
	data, err := fsm.New(nil).Dump()
	if err != nil {
		t.Fatal(err)
	}
	backup := func(size int, state []byte) []byte {
		sum := sha256.Sum256(state)
		line, _ := json.Marshal(backupHeader{Format: backupFormat, Version: backupVersion, Index: 1, Term: 1,
			Size: size, SHA256: hex.EncodeToString(sum[:]), Node: "n1"})
		return append(append(line, '\n'), state...)
	}
	if _, got, err := readBackup(bytes.NewReader(backup(len(data), data)), testSpool(t)); err != nil || !bytes.Equal(preparedBytes(t, got), data) {
		t.Fatalf("readBackup(a good backup) = %v; want the state back", err)
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"truncated", backup(len(data), data)[:len(backup(len(data), data))-3], "truncated?"},
		{"bytes after the state", append(backup(len(data), data), ' '), "more than the"},
		{"negative size", backup(-1, data), "the header says -1 bytes"},
		{"size over the limit", backup(maxBackup+1, data), "at most"},
	} {
		_, _, err := readBackup(bytes.NewReader(c.b), testSpool(t))
		if !errors.Is(err, ErrBadBackup) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: readBackup = %v; want ErrBadBackup saying %q", c.name, err, c.want)
		}
	}
}

// The announcement of a graceful leave travels over TCP and memberlist's
// leave over UDP, so the leave can be seen first: the member is then dead
// until the announcement arrives, which must make it left. Seen under load
// in TestGracefulLeaveKeepsMinimumVoters: the member stayed dead.
func TestLeaveAnnouncedAfterTheLeaveIsSeen(t *testing.T) {
	tc := newTestCluster(t, 3)
	f := tc.followers()[0]
	tc.stop(f, false)
	leader := tc.waitForLeader()
	waitMemberStatus(t, leader.node, f.id(), StatusDead)
	(&gossipDelegate{leader.node}).NotifyMsg(append([]byte{msgLeaving}, f.id()...))
	if m := memberByID(leader.node, f.id()); m == nil || m.Status != StatusLeft {
		t.Errorf("member after the late announcement = %+v; want left", m)
	}
}

// TestApplyAbandoned: a caller that gives up on Apply gets ctx's error at
// once, while the command, already handed to raft, still commits. The
// leader's FSM is held (a reader inside Peek keeps Apply from taking its
// lock), so the command cannot finish before the caller gives up.
func TestApplyAbandoned(t *testing.T) {
	tc := newTestCluster(t, 3)
	leader := tc.waitForLeader()

	// A context cancelled before the call: nothing is proposed.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := leader.node.Apply(cancelled, observe("production", "never")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with a cancelled context = %v; want context.Canceled", err)
	}

	held, release := make(chan struct{}), make(chan struct{})
	go leader.fsm.Peek("none", func(*fsm.Deployment) { close(held); <-release })
	<-held
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	before := leader.node.raft.LastIndex()
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan error, 1)
	go func() {
		_, err := leader.node.Apply(ctx, observe("production", "abandoned"))
		returned <- err
	}()
	// The command is proposed and waits for the held FSM; the caller gives
	// up.
	waitFor(t, "the command to be proposed", func() error {
		if leader.node.raft.LastIndex() <= before {
			return fmt.Errorf("the leader's last index is still %d", before)
		}
		return nil
	})
	cancel()
	select {
	case err := <-returned:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("abandoned Apply = %v; want context.Canceled", err)
		}
	case <-time.After(testTimeout):
		t.Fatalf("abandoned Apply did not return within %v of its context's cancellation", testTimeout)
	}
	// The entry was submitted: once the FSM is free, it commits everywhere.
	close(release)
	released = true
	waitFor(t, "the abandoned command to commit on every node", func() error {
		for _, tn := range tc.running() {
			if e, ok := tn.fsm.Environment("production"); !ok || e.LatestSeenCommit != "abandoned" {
				return fmt.Errorf("%s: production = %+v, %v", tn.id(), e, ok)
			}
		}
		return nil
	})
}
