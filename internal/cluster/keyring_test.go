package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/gossipkey"
)

// testKey returns a fixed key made of one repeated byte.
func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, gossipkey.Size) }

// withGossipKey sets the key of every node of a test cluster.
func withGossipKey(key []byte) func(*Config) {
	return func(c *Config) { c.GossipKey = key }
}

// logBuffer collects a node's log lines for a test to read.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// captureLogs makes cfg's node log into the returned buffer (and to stderr
// as well with HONUA_TEST_LOG).
func captureLogs(cfg *Config) *logBuffer {
	lb := &logBuffer{}
	var h slog.Handler = slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})
	if os.Getenv("HONUA_TEST_LOG") != "" {
		h = slog.NewTextHandler(&teeWriter{lb, os.Stderr}, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	cfg.Logger = slog.New(h).With("node", cfg.NodeID)
	return lb
}

type teeWriter struct {
	a, b interface{ Write([]byte) (int, error) }
}

func (w *teeWriter) Write(p []byte) (int, error) {
	_, _ = w.b.Write(p)
	return w.a.Write(p)
}

func TestGossipKeySameKeyFormsCluster(t *testing.T) {
	k1 := testKey(1)
	tc := newTestCluster(t, 3, withGossipKey(k1))
	for _, tn := range tc.running() {
		kr := tn.node.GossipKeyring()
		if !kr.Encrypted || kr.Primary != gossipkey.Fingerprint(k1) || !slices.Equal(kr.Keys, []string{gossipkey.Fingerprint(k1)}) || kr.Count != 1 {
			t.Errorf("%s: GossipKeyring() = %+v; want k1 (%s) alone", tn.id(), kr, gossipkey.Fingerprint(k1))
		}
		keys, err := loadKeyring(filepath.Join(tn.cfg.DataDir, "gossip-keyring.json"))
		if err != nil || !slices.EqualFunc(keys, [][]byte{k1}, bytes.Equal) {
			t.Errorf("%s: the data dir's keyring holds %x (%v); want k1", tn.id(), keys, err)
		}
		// A follower learns the configuration from the leader's first
		// AppendEntries, which may come after the election.
		waitFor(t, tn.id()+" to know three voters", func() error {
			if vs, err := voters(tn.node); err != nil || len(vs) != 3 {
				return fmt.Errorf("voters = %v (%v); want 3", vs, err)
			}
			return nil
		})
	}
}

// TestGossipKeyOtherKeyNotAdmitted starts a node with another key, or with
// none, next to an encrypted cluster: it is refused, says why in its log,
// and the cluster never lists it nor changes its raft configuration.
func TestGossipKeyOtherKeyNotAdmitted(t *testing.T) {
	tc := newTestCluster(t, 3, withGossipKey(testKey(1)))
	leader := tc.waitForLeader()
	before, err := voters(leader.node)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		key  []byte
		want string
	}{
		{"another key", testKey(2), "cannot join the cluster: gossip is encrypted with another key (check --gossip-key-file or the keyring in "},
		{"no key", nil, "cannot join the cluster: the cluster encrypts gossip and this node has no key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, "intruder", 0)
			cfg.GossipKey = c.key
			cfg.Join = []string{tc.nodes[0].node.GossipAddr(), tc.nodes[1].node.GossipAddr()}
			logs := captureLogs(&cfg)
			in := tc.open(cfg)
			t.Cleanup(func() { _ = in.node.Shutdown(false) })
			in.node.Start()
			seen := ""
			waitFor(t, "the intruder to be refused three times and say why", func() error {
				for _, tn := range tc.running() {
					for _, m := range tn.node.Members() {
						if m.ID == "intruder" && seen == "" {
							seen = fmt.Sprintf("%s lists the intruder as %s", tn.id(), m.Status)
						}
					}
				}
				if a := in.node.joinAttempts.Load(); a < 3 {
					return fmt.Errorf("%d join attempts", a)
				}
				if !strings.Contains(logs.String(), c.want) {
					return fmt.Errorf("its log does not say %q:\n%s", c.want, logs.String())
				}
				return nil
			})
			if seen != "" {
				t.Error(seen)
			}
			if n := in.node.gossip.NumMembers(); n != 1 {
				t.Errorf("the intruder's gossip holds %d members; want itself alone", n)
			}
			for _, tn := range tc.running() {
				got, err := voters(tn.node)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != fmt.Sprint(before) {
					t.Errorf("%s: voters = %v; want them unchanged: %v", tn.id(), got, before)
				}
			}
		})
	}
}

// TestGossipKeyRotation installs a second key on every node, makes it the
// primary, removes the first, without any member ever seen failed; then a
// node with the old key is refused, one with the new key joins, and a
// restarted node keeps the new keyring although it is still given the old
// key.
func TestGossipKeyRotation(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	// Probes of test clusters time out after 50 ms, which a loaded machine
	// can miss with no key involved; this test wants a member seen failed
	// only when the rotation broke gossip. That shows first, and whatever
	// the load, as a message no key could decrypt: checked in the logs.
	var logs []*logBuffer
	calm := func(c *Config) {
		c.Gossip = func(mc *memberlist.Config) {
			fastGossip(mc)
			mc.ProbeInterval, mc.ProbeTimeout, mc.SuspicionMult = time.Second, 500*time.Millisecond, 4
		}
		logs = append(logs, captureLogs(c))
	}
	tc := newTestCluster(t, 3, withGossipKey(k1), calm)
	stopWatch := watchMembersAlive(t, tc)

	step := func(name string, op func(*Node, []byte) (bool, error), key []byte) {
		t.Helper()
		for _, tn := range tc.running() {
			changed, err := op(tn.node, key)
			if err != nil || !changed {
				t.Fatalf("%s on %s = %v, %v; want a change", name, tn.id(), changed, err)
			}
		}
		// Gossip must still flow: an entry committed now reaches every
		// node, and each probes the others many times meanwhile.
		_, idx := tc.apply(observe("production", name))
		tc.waitForApplied(idx)
	}
	step("install", (*Node).InstallGossipKey, k2)
	step("use", (*Node).UseGossipKey, k2)
	step("remove", (*Node).RemoveGossipKey, k1)
	for i, lb := range logs {
		for line := range strings.Lines(lb.String()) {
			if strings.Contains(strings.ToLower(line), "decrypt") {
				t.Errorf("%s, during the rotation: %s", tc.nodes[i].id(), line)
			}
		}
	}

	fp2 := gossipkey.Fingerprint(k2)
	for _, tn := range tc.running() {
		if kr := tn.node.GossipKeyring(); kr.Primary != fp2 || !slices.Equal(kr.Keys, []string{fp2}) {
			t.Errorf("%s: keyring %+v; want k2 alone", tn.id(), kr)
		}
		keys, err := loadKeyring(filepath.Join(tn.cfg.DataDir, "gossip-keyring.json"))
		if err != nil || !slices.EqualFunc(keys, [][]byte{k2}, bytes.Equal) {
			t.Errorf("%s: the keyring file holds %x (%v); want k2 alone", tn.id(), keys, err)
		}
	}

	// A node with the old key is refused.
	old := testConfig(t, "old", 0)
	old.GossipKey = k1
	old.Join = []string{tc.nodes[0].node.GossipAddr()}
	oldLogs := captureLogs(&old)
	oldNode := tc.open(old)
	t.Cleanup(func() { _ = oldNode.node.Shutdown(false) })
	oldNode.node.Start()
	waitFor(t, "the node with the old key to be refused", func() error {
		if !strings.Contains(oldLogs.String(), "gossip is encrypted with another key") {
			return errors.New("its log does not say so yet")
		}
		return nil
	})

	// A node with the new key joins and becomes a voter.
	fresh := testConfig(t, "node4", 0)
	fresh.GossipKey = k2
	fresh.Join = []string{tc.nodes[1].node.GossipAddr()}
	tn4 := tc.open(fresh)
	tc.mu.Lock()
	tc.nodes = append(tc.nodes, tn4)
	tc.mu.Unlock()
	tn4.node.Start()
	waitFor(t, "node4 to become a voter", func() error {
		vs, err := voters(tc.waitForLeader().node)
		if err == nil && vs["node4"] == "" {
			err = fmt.Errorf("voters = %v", vs)
		}
		return err
	})
	for _, tn := range tc.running() {
		for _, m := range tn.node.Members() {
			if m.ID == "old" {
				t.Errorf("%s lists the node with the old key as %s", tn.id(), m.Status)
			}
		}
	}
	stopWatch()

	// A restarted node keeps its data dir's keyring, whatever its key says.
	follower := tc.followers()[0]
	tc.stop(follower, false)
	if !bytes.Equal(follower.cfg.GossipKey, k1) {
		t.Fatalf("%s is configured with %x; the test wants k1 there", follower.id(), follower.cfg.GossipKey)
	}
	tc.restart(follower)
	if kr := follower.node.GossipKeyring(); kr.Primary != fp2 || kr.Count != 1 {
		t.Errorf("restarted %s: keyring %+v; want k2 alone, from its data dir", follower.id(), kr)
	}
	waitFor(t, follower.id()+" to be alive again on every node", func() error {
		for _, tn := range tc.running() {
			for _, m := range tn.node.Members() {
				if m.ID == follower.id() && m.Status != StatusAlive {
					return fmt.Errorf("%s sees %s %s", tn.id(), m.ID, m.Status)
				}
			}
		}
		return nil
	})
	_, idx := tc.apply(observe("production", "after-restart"))
	tc.waitForApplied(idx)
}

// watchMembersAlive checks, until the returned function is called, that no
// node of tc ever sees another one failed or gone. The returned function
// fails the test if one did.
func watchMembersAlive(t *testing.T, tc *testCluster) func() {
	t.Helper()
	var stop atomic.Bool
	var seen atomic.Value
	done := make(chan struct{})
	ids := map[string]bool{}
	for _, tn := range tc.running() {
		ids[tn.id()] = true
	}
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for ; !stop.Load(); <-tick.C {
			for _, tn := range tc.running() {
				for _, m := range tn.node.Members() {
					if ids[m.ID] && (m.Status == StatusDead || m.Status == StatusLeft) && seen.Load() == nil {
						seen.Store(fmt.Sprintf("%s saw %s %s", tn.id(), m.ID, m.Status))
					}
				}
			}
		}
	}()
	return func() {
		t.Helper()
		stop.Store(true)
		<-done
		if v := seen.Load(); v != nil {
			t.Errorf("a member was seen failed during the rotation: %v", v)
		}
	}
}

// TestGossipKeyUsedTooSoonCutsTheNodeOff shows why a key must be installed
// everywhere before any node uses it: a node that encrypts with a key the
// others lack is seen failed, and comes back once they install it (which is
// also how a node that missed a rotation is recovered).
func TestGossipKeyUsedTooSoonCutsTheNodeOff(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	tc := newTestCluster(t, 3, withGossipKey(k1))
	early := tc.nodes[2]
	if _, err := early.node.InstallGossipKey(k2); err != nil {
		t.Fatal(err)
	}
	if _, err := early.node.UseGossipKey(k2); err != nil {
		t.Fatal(err)
	}
	status := func(want string) func() error {
		return func() error {
			for _, tn := range tc.nodes[:2] {
				for _, m := range tn.node.Members() {
					if m.ID == early.id() && m.Status != want {
						return fmt.Errorf("%s sees %s %s", tn.id(), m.ID, m.Status)
					}
				}
			}
			return nil
		}
	}
	waitFor(t, early.id()+" to be seen failed", status(StatusDead))
	for _, tn := range tc.nodes[:2] {
		if _, err := tn.node.InstallGossipKey(k2); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, early.id()+" to be seen alive again", status(StatusAlive))
}

func TestGossipKeyringOperationErrors(t *testing.T) {
	k1, k2, k3 := testKey(1), testKey(2), testKey(3)
	cfg := testConfig(t, "node1", 1)
	cfg.GossipKey = k1
	n, err := New(cfg, fsm.New(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(false)

	check := func(what string, changed bool, err error, wantChanged bool, wantErr error) {
		t.Helper()
		if changed != wantChanged || !errors.Is(err, wantErr) {
			t.Errorf("%s = %v, %v; want %v, %v", what, changed, err, wantChanged, wantErr)
		}
		if err != nil && strings.Contains(err.Error(), gossipkey.Encode(k2)[:12]) {
			t.Errorf("%s: the error %q quotes the key", what, err)
		}
		if err != nil && !strings.Contains(err.Error(), gossipkey.Fingerprint(k2)) && !strings.Contains(err.Error(), gossipkey.Fingerprint(k1)) {
			t.Errorf("%s: the error %q does not name the key by its fingerprint", what, err)
		}
	}
	changed, err := n.UseGossipKey(k2)
	check("use a key not installed", changed, err, false, ErrGossipKeyNotInstalled)
	changed, err = n.RemoveGossipKey(k1)
	check("remove the primary key", changed, err, false, ErrGossipKeyPrimary)
	changed, err = n.RemoveGossipKey(k2)
	check("remove a key not installed", changed, err, false, nil)
	changed, err = n.InstallGossipKey(k2)
	check("install", changed, err, true, nil)
	changed, err = n.InstallGossipKey(k2)
	check("install again", changed, err, false, nil)
	changed, err = n.UseGossipKey(k1)
	check("use the primary", changed, err, false, nil)
	changed, err = n.InstallGossipKey(k3)
	check("install a third", changed, err, true, nil)
	// The middle key goes, the others stay in their order.
	changed, err = n.RemoveGossipKey(k2)
	check("remove the middle one", changed, err, true, nil)
	want := []string{gossipkey.Fingerprint(k1), gossipkey.Fingerprint(k3)}
	if kr := n.GossipKeyring(); !slices.Equal(kr.Keys, want) || kr.Primary != want[0] {
		t.Errorf("keyring = %+v; want %v", kr, want)
	}
	if keys, err := loadKeyring(filepath.Join(cfg.DataDir, "gossip-keyring.json")); err != nil || !slices.EqualFunc(keys, [][]byte{k1, k3}, bytes.Equal) {
		t.Errorf("the keyring file holds %x (%v); want k1, k3", keys, err)
	}
	for i := 4; n.GossipKeyring().Count < MaxGossipKeys; i++ {
		if i > 100 {
			t.Fatalf("the keyring holds %d keys after %d installs", n.GossipKeyring().Count, i)
		}
		if _, err := n.InstallGossipKey(testKey(byte(i))); err != nil {
			t.Fatalf("install key %d: %v", i, err)
		}
	}
	changed, err = n.InstallGossipKey(testKey(200))
	if changed || !errors.Is(err, ErrGossipKeyringFull) {
		t.Errorf("install past %d keys = %v, %v; want ErrGossipKeyringFull", MaxGossipKeys, changed, err)
	}

	plain := testConfig(t, "plain", 1)
	p, err := New(plain, fsm.New(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(false)
	if kr := p.GossipKeyring(); kr.Encrypted || kr.Count != 0 || kr.Node != "plain" {
		t.Errorf("unencrypted node's keyring = %+v; want not encrypted, no keys", kr)
	}
	for name, op := range map[string]func([]byte) (bool, error){
		"install": p.InstallGossipKey, "use": p.UseGossipKey, "remove": p.RemoveGossipKey,
	} {
		if _, err := op(k2); !errors.Is(err, ErrGossipNotEncrypted) {
			t.Errorf("%s on an unencrypted node = %v; want ErrGossipNotEncrypted", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(plain.DataDir, "gossip-keyring.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an unencrypted node wrote a keyring file: %v", err)
	}
}

func TestGossipKeyConfig(t *testing.T) {
	cfg := testConfig(t, "node1", 1)
	cfg.GossipKey = []byte("short")
	err := cfg.Validate()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "gossip-key-file" {
		t.Errorf("Validate with a 5-byte key = %v; want a gossip-key-file FieldError", err)
	}
	cfg = testConfig(t, "node1", 1)
	if err := cfg.Validate(); err != nil || cfg.GossipKeyringFile != filepath.Join(cfg.DataDir, "gossip-keyring.json") {
		t.Errorf("GossipKeyringFile = %q (%v); want gossip-keyring.json in the data dir", cfg.GossipKeyringFile, err)
	}
}

func TestGossipKeysMetric(t *testing.T) {
	cfg := testConfig(t, "node1", 1)
	cfg.GossipKey = testKey(1)
	n, err := New(cfg, fsm.New(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(false)
	reg := prometheus.NewRegistry()
	n.RegisterMetrics(reg)
	keys := func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "honua_gossip_keys" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no honua_gossip_keys metric")
		return 0
	}
	if got := keys(); got != 1 {
		t.Errorf("honua_gossip_keys = %v; want 1", got)
	}
	if _, err := n.InstallGossipKey(testKey(2)); err != nil {
		t.Fatal(err)
	}
	if got := keys(); got != 2 {
		t.Errorf("honua_gossip_keys after an install = %v; want 2", got)
	}
}
