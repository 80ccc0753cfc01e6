package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

// fakeNet is a Net with n nodes and no namespaces, for the parts that run
// no command.
func fakeNet(n int) *Net {
	nw := &Net{flaps: map[int]*flap{}, applied: make([]string, n), pid: 1}
	var nodes []Node
	for i := range n {
		nodes = append(nodes, Node{Index: i, PeerIP: fmt.Sprintf("10.77.0.%d", i+1)})
	}
	nw.nodes.Store(&nodes)
	nw.faults.init()
	return nw
}

func TestRules(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(nw *Net)
		node  int
		want  []string // lines the table must hold; none for no table
		wantS string   // in String()
	}{
		{"nothing", func(*Net) {}, 0, nil, "no faults"},
		{"isolated node drops all", func(nw *Net) {
			pairs, _ := nw.cut([][]int{{0}, {1, 2}})
			for _, l := range pairs {
				nw.faults.dropped[l] = true
			}
		}, 0, []string{`iifname "peer0" ip saddr { 10.77.0.2, 10.77.0.3 } drop`}, "cut 0<->1 0<->2"},
		{"majority drops the isolated one", func(nw *Net) {
			pairs, _ := nw.cut([][]int{{0}, {1, 2}})
			for _, l := range pairs {
				nw.faults.dropped[l] = true
			}
		}, 2, []string{`iifname "peer0" ip saddr { 10.77.0.1 } drop`}, "cut 0<->1 0<->2"},
		{"one way: the receiver drops", func(nw *Net) { nw.faults.dropped[link{0, 1}] = true },
			1, []string{`ip saddr { 10.77.0.1 } drop`}, "one-way drop 0->1"},
		{"one way: the sender keeps all", func(nw *Net) { nw.faults.dropped[link{0, 1}] = true },
			0, nil, "one-way drop 0->1"},
		{"loss is dropped at the others", func(nw *Net) { nw.faults.loss[2] = 30 },
			0, []string{`iifname "peer0" ip saddr 10.77.0.3 numgen random mod 100 < 30 drop`}, "loss 2: 30%"},
		{"loss: not at the lossy node", func(nw *Net) { nw.faults.loss[2] = 30 }, 2, nil, "loss 2: 30%"},
		{"flap partitioned", func(nw *Net) { nw.flaps[1] = &flap{id: 1, groups: [][]int{{0, 1}, {2}}, on: true, period: time.Second} },
			2, []string{`ip saddr { 10.77.0.1, 10.77.0.2 } drop`}, "flap #1 [0 1] | [2] every 1s, partitioned now"},
		{"flap healed", func(nw *Net) { nw.flaps[1] = &flap{id: 1, groups: [][]int{{0, 1}, {2}}, period: time.Second} },
			2, nil, "flap #1 [0 1] | [2] every 1s, healed now"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := fakeNet(3)
			tt.edit(nw)
			got := nw.rules(tt.node, nw.dropped())
			if len(tt.want) == 0 && got != "" {
				t.Errorf("rules(%d) = %q; want no table", tt.node, got)
			}
			for _, line := range tt.want {
				if !strings.Contains(got, line) {
					t.Errorf("rules(%d) = %q; want a line with %q", tt.node, got, line)
				}
			}
			if s := nw.String(); !strings.Contains(s, tt.wantS) {
				t.Errorf("String() = %q; want %q in it", s, tt.wantS)
			}
		})
	}
}

func TestCutRefusesBadGroups(t *testing.T) {
	nw := fakeNet(3)
	for _, groups := range [][][]int{{{0}, {0, 1}}, {{3}, {0}}, {{-1}}} {
		if _, err := nw.cut(groups); err == nil {
			t.Errorf("cut(%v) = nil error; want one", groups)
		}
	}
	pairs, err := nw.cut([][]int{{0}, {1}})
	if err != nil || len(pairs) != 2 {
		t.Errorf("cut([0] [1]) = %v, %v; want 0->1 and 1->0", pairs, err)
	}
}

// TestFaults runs every fault on real packets between three namespaces.
func TestFaults(t *testing.T) {
	nw := New(t, 3)
	h := startHelpers(t, nw)
	all := func(int, int) bool { return true }
	heal := func(t *testing.T) {
		t.Helper()
		if err := nw.HealAll(); err != nil {
			t.Fatal(err)
		}
		if s := nw.String(); !strings.HasSuffix(s, ": no faults") {
			t.Errorf("String() after HealAll = %q; want no faults", s)
		}
		h.reach(all)
	}

	t.Run("whole", func(t *testing.T) {
		h.reach(all)
		// A node reaches the others only on the peer network, so a
		// partition cannot be bypassed through the client links.
		addr := net.JoinHostPort(nw.Node(1).ClientIP, "9000")
		if r := h.must(0, "dial "+addr+" 1 300ms"); r.OK != 0 {
			t.Errorf("node 0 reached node 1's client address %s", addr)
		}
		// The peer network exists only inside the namespaces. (Dialling
		// it from here proves nothing: a default route may lead to a
		// gateway that accepts every connect.)
		if out, err := output("", nw.bin.ip, "-4", "-o", "addr", "show", "to", "10.77.0.0/24"); err != nil || out != "" {
			t.Errorf("root namespace addresses in the peer network: %q, %v; want none", out, err)
		}
		if got := h.udp(0, 1, 20, 5*time.Second); got != 20 {
			t.Errorf("UDP 0->1: %d of 20 arrived; want all", got)
		}
	})

	t.Run("partition", func(t *testing.T) {
		for range 2 { // twice is the same as once
			if err := nw.Partition([]int{0, 1}, []int{2}); err != nil {
				t.Fatal(err)
			}
		}
		if s := nw.String(); !strings.Contains(s, "cut 0<->2 1<->2") || strings.Contains(s, "0<->1") {
			t.Errorf("String() = %q; want cut 0<->2 1<->2 only", s)
		}
		h.reach(func(i, j int) bool { return i != 2 && j != 2 })
		heal(t)
	})

	t.Run("isolate", func(t *testing.T) {
		if err := nw.Isolate(0); err != nil {
			t.Fatal(err)
		}
		h.reach(func(i, j int) bool { return i != 0 && j != 0 })
		heal(t)
	})

	t.Run("drop one way", func(t *testing.T) {
		if err := nw.DropOneWay(0, 1); err != nil {
			t.Fatal(err)
		}
		if got := h.udp(0, 1, 20, 500*time.Millisecond); got != 0 {
			t.Errorf("UDP 0->1 with 0->1 dropped: %d of 20 arrived; want none", got)
		}
		if got := h.udp(1, 0, 20, 5*time.Second); got != 20 {
			t.Errorf("UDP 1->0 with 0->1 dropped: %d of 20 arrived; want all", got)
		}
		// TCP needs both ways, so it fails both ways.
		h.reach(func(i, j int) bool { return !(i == 0 && j == 1 || i == 1 && j == 0) })
		if s := nw.String(); !strings.Contains(s, "one-way drop 0->1") {
			t.Errorf("String() = %q; want one-way drop 0->1", s)
		}
		heal(t)
	})

	t.Run("loss", func(t *testing.T) {
		if err := nw.Loss(0, 100); err != nil {
			t.Fatal(err)
		}
		if h.canDial(1, 0) || h.canDial(0, 1) {
			t.Errorf("a TCP connect with node 0 succeeded while it loses all it sends\n%s", nw)
		}
		if !h.canDial(1, 2) {
			t.Errorf("TCP connect 1->2 failed with loss only on node 0\n%s", nw)
		}
		if err := nw.Loss(0, 50); err != nil {
			t.Fatal(err)
		}
		// 200 datagrams at 50%: 100 ± 7 (one standard deviation).
		if got := h.udp(0, 1, 200, 500*time.Millisecond); got < 60 || got > 140 {
			t.Errorf("UDP 0->1 with 50%% loss: %d of 200 arrived; want about 100\n%s", got, nw)
		}
		if got := h.udp(1, 0, 50, 5*time.Second); got != 50 {
			t.Errorf("UDP 1->0 with loss on what 0 sends: %d of 50 arrived; want all", got)
		}
		heal(t)
	})

	t.Run("delay", func(t *testing.T) {
		const d = 150 * time.Millisecond
		err := nw.Delay(0, d, 0)
		if errors.Is(err, ErrNoDelay) {
			t.Skipf("SKIPPED, NO DELAY: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := nw.Delay(0, d, 0); err != nil { // replaces, so twice is fine
			t.Fatal(err)
		}
		// A connect to node 0 waits for its SYN-ACK, which it sends late.
		r := h.dial(1, 0, 3, 2*time.Second)
		for _, rtt := range r.RTTs {
			if time.Duration(rtt)*time.Microsecond < d {
				t.Errorf("connect 1->0 took %dµs with %v delay on 0; want at least the delay", rtt, d)
			}
		}
		if r.OK != 3 {
			t.Errorf("connects 1->0 with delay: %+v; want 3 ok", r)
		}
		t.Logf("delay by %s: connects 1->0 took %v µs", nw.DelayMechanism(), r.RTTs)
		r = h.dial(1, 2, 3, 2*time.Second)
		for _, rtt := range r.RTTs {
			if time.Duration(rtt)*time.Microsecond >= d {
				t.Errorf("connect 1->2 took %dµs with delay only on 0; want less than %v", rtt, d)
			}
		}
		heal(t)
		if out, _ := output("", nw.bin.tc, "-n", nw.Node(0).Namespace, "qdisc", "show", "dev", peerIf); strings.Contains(out, "netem") {
			t.Errorf("after HealAll node 0's peer0 has %q; want no netem", out)
		}
		if out, err := output("", nw.bin.ip, "netns", "exec", nw.Node(0).Namespace, nw.bin.nft, "list", "tables"); err != nil || strings.Contains(out, delayTable) {
			t.Errorf("node 0 after HealAll: nft list tables = %q, %v; want no %s", out, err, delayTable)
		}
	})

	t.Run("flap", func(t *testing.T) {
		stop, err := nw.Flap(context.Background(), 200*time.Millisecond, []int{0}, []int{1, 2})
		if err != nil {
			t.Fatal(err)
		}
		if s := nw.String(); !strings.Contains(s, "flap #") {
			t.Errorf("String() while flapping = %q; want the flap", s)
		}
		var ok, failed int
		err = harness.Poll(15*time.Second, "connects 0->1 to both fail and succeed, twice each", func() error {
			if h.dial(0, 1, 1, 100*time.Millisecond).OK == 1 {
				ok++
			} else {
				failed++
			}
			if ok < 2 || failed < 2 {
				return fmt.Errorf("%d ok, %d failed", ok, failed)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%v\n%s", err, nw)
		}
		if err := stop(); err != nil {
			t.Errorf("stop flapping: %v", err)
		}
		if s := nw.String(); strings.Contains(s, "flap") {
			t.Errorf("String() after stop = %q; want no flap", s)
		}
		h.reach(all)
		// HealAll stops a flap too.
		if _, err := nw.Flap(context.Background(), time.Hour, []int{0}, []int{1, 2}); err != nil {
			t.Fatal(err)
		}
		heal(t)
	})

	t.Run("heal one node", func(t *testing.T) {
		if err := errors.Join(nw.Isolate(0), nw.Loss(1, 100)); err != nil {
			t.Fatal(err)
		}
		if err := nw.Heal(0); err != nil {
			t.Fatal(err)
		}
		if s := nw.String(); strings.Contains(s, "cut") || !strings.Contains(s, "loss 1: 100%") {
			t.Errorf("String() after Heal(0) = %q; want node 1's loss only", s)
		}
		h.reach(func(i, j int) bool { return i != 1 && j != 1 })
		heal(t)
		for i := range nw.N() {
			out, err := output("", nw.bin.ip, "netns", "exec", nw.Node(i).Namespace, nw.bin.nft, "list", "tables")
			if err != nil || strings.Contains(out, "honua_") {
				t.Errorf("node %d after HealAll: nft list tables = %q, %v; want no honua_ table", i, out, err)
			}
		}
	})
	if t.Failed() {
		t.Logf("history:\n%s", strings.Join(nw.History(), "\n"))
	}
}

// TestServiceAndAdd checks that every node namespace, one added after New
// included, reaches a server listening on the service address over its
// client link, also while the peer network is cut, and that an added node
// joins the peer network.
func TestServiceAndAdd(t *testing.T) {
	nw := New(t, 2)
	i, err := nw.Add()
	if err != nil {
		t.Fatal(err)
	}
	if i != 2 || nw.N() != 3 {
		t.Fatalf("Add() = %d with N() = %d; want node 2 of 3", i, nw.N())
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(nw.ServiceIP(), "0"))
	if err != nil {
		t.Fatalf("listen on the service address: %v", err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	h := startHelpers(t, nw)
	h.reach(func(int, int) bool { return true })
	service := func(want bool) {
		t.Helper()
		for i := range nw.N() {
			r := h.must(i, fmt.Sprintf("dial %s 1 2s", ln.Addr()))
			if (r.OK == 1) != want {
				t.Errorf("node %d dialled the service address %s: %+v; want success %v\n%s", i, ln.Addr(), r, want, nw)
			}
		}
	}
	service(true)
	if err := nw.Isolate(2); err != nil {
		t.Fatal(err)
	}
	h.reach(func(i, j int) bool { return i != 2 && j != 2 })
	service(true) // faults act on the peer network only
	if err := nw.HealAll(); err != nil {
		t.Fatal(err)
	}
	h.reach(func(int, int) bool { return true })
}

// TestCleanupLeavesNothing checks that a Net's namespaces, links and
// processes are gone after its test.
func TestCleanupLeavesNothing(t *testing.T) {
	var nw *Net
	var pid int
	t.Run("make", func(t *testing.T) {
		nw = New(t, 2)
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		// A process the test leaves running: cleanup must kill it.
		p, err := os.StartProcess(nw.Exec(1)[0], append(nw.Exec(1), self), &os.ProcAttr{
			Env: append(os.Environ(), helperEnv+"=1"),
		})
		if err != nil {
			t.Fatal(err)
		}
		pid = p.Pid
		go p.Wait() // reap it once killed
		h := &helpers{t: t, nw: nw}
		if err := harness.Poll(20*time.Second, "the helper in node 1", func() error { _, err := h.ask(1, "ping"); return err }); err != nil {
			t.Fatal(err)
		}
	})
	if nw == nil {
		return // skipped
	}
	names, err := listNS(nw.bin.ip)
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("honua-%d-%d-", nw.pid, nw.slot)
	for _, name := range names {
		if strings.HasPrefix(name, prefix) {
			t.Errorf("namespace %s left behind", name)
		}
	}
	// The kernel destroys the veths of a deleted namespace a moment later.
	err = harness.Poll(time.Minute, "the client links to go", func() error {
		for i := range 2 {
			if _, err := net.InterfaceByName(hostIf(nw.slot, i)); err == nil {
				return fmt.Errorf("%s is left", hostIf(nw.slot, i))
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(b), ") Z ") {
		t.Errorf("process %d left in a deleted namespace is still running: %s", pid, b)
	}
	if out, err := output("", nw.bin.ip, "-4", "-o", "addr", "show", "dev", "lo"); err != nil || strings.Contains(out, " "+nw.ServiceIP()+"/") {
		t.Errorf("service address %s left on lo: %q, %v", nw.ServiceIP(), out, err)
	}
	if s := nw.String(); !strings.HasSuffix(s, ": deleted") {
		t.Errorf("String() after cleanup = %q; want deleted", s)
	}
	if err := nw.Partition([]int{0}, []int{1}); err == nil {
		t.Errorf("Partition after cleanup = nil; want an error")
	}
}
