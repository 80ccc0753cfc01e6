package harness

import (
	"errors"
	"net"
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
