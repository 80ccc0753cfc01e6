package harness

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFreePorts(t *testing.T) {
	ports := FreePorts(t, 5)
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("FreePorts(5) = %v; %d twice", ports, p)
		}
		seen[p] = true
		if low, high := portPool(); high > low && (p < low || p >= high) {
			t.Errorf("port %d outside [%d, %d): it may be in the kernel's ephemeral range", p, low, high)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		tl, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("port %d not free for TCP: %v", p, err)
		}
		tl.Close()
		ul, err := net.ListenPacket("udp", addr)
		if err != nil {
			t.Fatalf("port %d not free for UDP: %v", p, err)
		}
		ul.Close()
	}
}

func TestPollNamesWhatItAwaited(t *testing.T) {
	calls := 0
	err := Poll(100*time.Millisecond, "the moon", func() error {
		calls++
		return errors.New("still a crescent")
	})
	if err == nil || !strings.Contains(err.Error(), "the moon") || !strings.Contains(err.Error(), "still a crescent") {
		t.Errorf("Poll error = %v; want it to name the moon and the last complaint", err)
	}
	if calls < 2 {
		t.Errorf("Poll called check %d times; want it to retry", calls)
	}
	if err := Poll(time.Second, "nothing", func() error { return nil }); err != nil {
		t.Errorf("Poll of a met condition = %v; want nil", err)
	}
}

func TestAgreedLeader(t *testing.T) {
	leader := func(id string) *StatusLeader { return &StatusLeader{ID: id} }
	tests := []struct {
		name     string
		statuses []Status
		want     string // id of the leader node; "" for an error
	}{
		{"all agree", []Status{
			{NodeID: "n1", State: "Follower", Leader: leader("n2")},
			{NodeID: "n2", State: "Leader", Leader: leader("n2")},
			{NodeID: "n3", State: "Follower", Leader: leader("n2")},
		}, "n2"},
		{"one knows none", []Status{
			{NodeID: "n1", State: "Candidate"},
			{NodeID: "n2", State: "Leader", Leader: leader("n2")},
		}, ""},
		{"two leaders", []Status{
			{NodeID: "n1", State: "Leader", Leader: leader("n1")},
			{NodeID: "n2", State: "Leader", Leader: leader("n2")},
		}, ""},
		{"leader not live", []Status{
			{NodeID: "n1", State: "Follower", Leader: leader("n3")},
			{NodeID: "n2", State: "Follower", Leader: leader("n3")},
		}, ""},
		{"named leader is no longer leading", []Status{
			{NodeID: "n1", State: "Follower", Leader: leader("n2")},
			{NodeID: "n2", State: "Follower", Leader: leader("n2")},
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := view{statuses: tt.statuses}
			for _, st := range tt.statuses {
				v.nodes = append(v.nodes, &Node{id: st.NodeID, name: st.NodeID})
			}
			got, err := v.agreedLeader()
			switch {
			case tt.want == "" && err == nil:
				t.Errorf("agreedLeader() = %s; want an error", got)
			case tt.want != "" && err != nil:
				t.Errorf("agreedLeader() error = %v; want %s", err, tt.want)
			case tt.want != "" && got.ID() != tt.want:
				t.Errorf("agreedLeader() = %s; want %s", got, tt.want)
			}
		})
	}
}

// TestNodeLifecycle drives one real single-node cluster through every
// Node operation.
func TestNodeLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a honuad process; skipped with -short")
	}
	c := Start(t, 1, Options{})
	n := c.Nodes()[0]
	leader, err := c.WaitForLeader(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if leader != n {
		t.Fatalf("WaitForLeader() = %s; want %s", leader, n)
	}

	n.Pause()
	if _, err := n.Status(); err == nil {
		t.Errorf("Status() of a paused node succeeded; want a timeout")
	}
	if _, err := c.Leader(); err == nil {
		t.Errorf("Leader() with the only node paused succeeded; want an error")
	}
	n.Resume()
	if _, err := c.WaitForLeader(time.Minute); err != nil {
		t.Fatal(err)
	}

	code, err := n.Stop()
	if err != nil || code != 0 {
		t.Fatalf("Stop() = %d, %v; want 0, nil", code, err)
	}
	n.Restart()
	if _, err := c.WaitForLeader(time.Minute); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(n.Log(), "bootstrapping cluster") {
		t.Errorf("Log() of the second run has the first run's bootstrap")
	}
	n.Kill()
	if n.Running() {
		t.Errorf("Running() after Kill = true")
	}
	if code, err := n.Wait(time.Second); err != nil || code != -1 {
		t.Errorf("Wait() after Kill = %d, %v; want -1 (signalled), nil", code, err)
	}
}

// TestAddAddresses checks the flags and addresses of a node whose
// NodeConfig gives its own, as a node in a network namespace does.
func TestAddAddresses(t *testing.T) {
	c := &Cluster{t: t, bin: "/bin/honuad", dir: t.TempDir()}
	n := c.Add(NodeConfig{
		Exec:     []string{"ip", "netns", "exec", "ns1"},
		HTTPAddr: "0.0.0.0:7201", RaftAddr: "10.77.0.1:7301", GossipAddr: "10.77.0.1:7401",
		AdvertiseAddr: "10.77.0.1", APIReach: "10.78.0.2:7201",
	})
	if n.APIAddr() != "10.78.0.2:7201" || n.HTTPAddr() != "0.0.0.0:7201" ||
		n.RaftAddr() != "10.77.0.1:7301" || n.GossipAddr() != "10.77.0.1:7401" {
		t.Errorf("addresses = api %s, http %s, raft %s, gossip %s; want the configured ones",
			n.APIAddr(), n.HTTPAddr(), n.RaftAddr(), n.GossipAddr())
	}
	args := strings.Join(n.args, " ")
	for _, want := range []string{"--http-addr 0.0.0.0:7201", "--raft-addr 10.77.0.1:7301",
		"--gossip-addr 10.77.0.1:7401", "--advertise-addr 10.77.0.1"} {
		if !strings.Contains(args, want) {
			t.Errorf("args = %s; want %s in them", args, want)
		}
	}
	if got := c.gossipAddrs(); len(got) != 1 || got[0] != "10.77.0.1:7401" {
		t.Errorf("gossipAddrs() = %v; want [10.77.0.1:7401]", got)
	}

	plain := c.Add(NodeConfig{})
	if plain.APIAddr() != plain.HTTPAddr() || !strings.HasPrefix(plain.APIAddr(), "127.0.0.1:") {
		t.Errorf("default APIAddr() = %s, HTTPAddr() = %s; want one loopback address", plain.APIAddr(), plain.HTTPAddr())
	}
	if strings.Contains(strings.Join(plain.args, " "), "--advertise-addr") {
		t.Errorf("default args = %v; want no --advertise-addr", plain.args)
	}
}

// TestExecPrefix starts a node under a command prefix that execs honuad in
// place (env), and checks that the process the harness signals is honuad.
func TestExecPrefix(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a honuad process; skipped with -short")
	}
	envPath, err := exec.LookPath("env")
	if err != nil {
		t.Skipf("no env command: %v", err)
	}
	c := New(t, Options{})
	n := c.Add(NodeConfig{BootstrapExpect: 1, Exec: []string{envPath, "HONUA_LOG_LEVEL=debug"}})
	n.Start()
	if _, err := c.WaitForLeader(time.Minute); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", n.PID()))
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if exe != c.bin {
		t.Errorf("/proc/%d/exe = %s; want honuad (%s): the prefix must exec in place", n.PID(), exe, c.bin)
	}
	if !strings.Contains(n.Log(), "level=DEBUG") {
		t.Errorf("log has no debug line; want the prefix's environment (HONUA_LOG_LEVEL=debug) to reach honuad")
	}
	n.Kill()
	if code, err := n.Wait(time.Second); err != nil || code != -1 {
		t.Errorf("Wait() after Kill = %d, %v; want -1 (signalled), nil", code, err)
	}
}
