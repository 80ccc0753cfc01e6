package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/test/harness"
)

// TestBadInput checks that honuad refuses bad input with a non-zero exit
// and a message that names the problem.
func TestBadInput(t *testing.T) {
	skipIfShort(t)

	// wantExit 0 means any non-zero code.
	refused := func(t *testing.T, args []string, wantExit int, wantMsg ...string) {
		t.Helper()
		code, stderr := runHonuad(t, args...)
		t.Logf("exit %d: %s", code, lastLine(stderr))
		switch {
		case code == 0:
			t.Fatalf("honuad %q exited 0; want it refused. stderr:\n%s", args, stderr)
		case wantExit != 0 && code != wantExit:
			t.Errorf("honuad %q exited %d; want %d. stderr:\n%s", args, code, wantExit, stderr)
		}
		for _, w := range wantMsg {
			if !strings.Contains(stderr, w) {
				t.Errorf("honuad %q: stderr does not name %q:\n%s", args, w, stderr)
			}
		}
	}

	t.Run("unknown flag", func(t *testing.T) {
		refused(t, append(agentArgs(t, nil), "--no-such-flag"), 2, "no-such-flag")
	})

	t.Run("malformed address", func(t *testing.T) {
		refused(t, agentArgs(t, map[string]string{"http-addr": "nonsense"}), 2, "http-addr")
	})

	t.Run("address taken", func(t *testing.T) {
		for _, field := range []string{"http-addr", "raft-addr", "gossip-addr"} {
			t.Run(field, func(t *testing.T) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				refused(t, agentArgs(t, map[string]string{field: ln.Addr().String()}), 0, field)
			})
		}
	})

	t.Run("unwritable data dir", func(t *testing.T) {
		// A file where the directory should be: chmod would not stop root.
		path := filepath.Join(t.TempDir(), "data")
		if err := os.WriteFile(path, []byte("not a directory\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		refused(t, agentArgs(t, map[string]string{"data-dir": path}), 0, "data-dir")
	})

	t.Run("config file with unknown key", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "honuad.yaml")
		if err := os.WriteFile(path, []byte("node-id: n1\nlog-level: info\nno-such-key: 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		refused(t, agentArgs(t, map[string]string{"config": path}), 2, "no-such-key", "line 3")
	})

	t.Run("node id of a live member", func(t *testing.T) {
		c := harness.Start(t, 3, harness.Options{})
		leader := waitForHealthy(t, c, "n1", "n2", "n3")

		dup := c.Add(harness.NodeConfig{ID: "n1", BootstrapExpect: 3})
		dup.Start()
		code, err := dup.Wait(waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("second n1 exit %d: %s", code, lastLine(dup.Log()))
		if code == 0 {
			t.Errorf("second n1 exited 0; want non-zero")
		}
		if !strings.Contains(dup.Log(), "already used") {
			t.Errorf("second n1's output does not say its id is %q:\n%s", "already used", dup.Log())
		}
		if got := waitForHealthy(t, c, "n1", "n2", "n3"); got.ID() != leader.ID() {
			t.Errorf("leader after the second n1 = %s; want %s still", got.ID(), leader.ID())
		}
	})

	t.Run("different bootstrap-expect", func(t *testing.T) {
		c := harness.New(t, harness.Options{})
		a := c.Add(harness.NodeConfig{ID: "a", BootstrapExpect: 2})
		b := c.Add(harness.NodeConfig{ID: "b", BootstrapExpect: 3})
		a.Start()
		b.Start()
		for _, n := range []*harness.Node{a, b} {
			code, err := n.Wait(waitTimeout)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s exit %d: %s", n.ID(), code, lastLine(n.Log()))
			if code == 0 {
				t.Errorf("%s exited 0; want non-zero", n.ID())
			}
			if !strings.Contains(n.Log(), "bootstrap-expect") {
				t.Errorf("%s's output does not name bootstrap-expect:\n%s", n.ID(), n.Log())
			}
			if idx := raftLastIndex(t, n.DataDir()); idx != 0 {
				t.Errorf("%s's raft log has last index %d; want 0: it must not have bootstrapped", n.ID(), idx)
			}
		}
		if t.Failed() {
			t.FailNow()
		}

		// Started again with the same value, on the same data dirs, they
		// form a cluster.
		for _, n := range []*harness.Node{a, b} {
			c.Add(harness.NodeConfig{ID: n.ID(), DataDir: n.DataDir(), BootstrapExpect: 2}).Start()
		}
		waitForHealthy(t, c, "a", "b")
	})
}
