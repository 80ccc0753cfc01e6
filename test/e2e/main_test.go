// Package e2e runs honuad as real processes, through the harness: a cluster
// forming, failing over, restarting, and refusing bad input.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

// waitTimeout bounds every wait for the cluster. The machine is small and
// shared: it is generous, and no test asserts how fast anything happens.
const waitTimeout = 60 * time.Second

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBuild()
	os.Exit(code)
}

func skipIfShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts honuad processes; skipped with -short")
	}
}

// waitForHealthy waits until every running node names the same leader and
// lists exactly the nodes ids as alive voters, and returns the leader.
func waitForHealthy(t *testing.T, c *harness.Cluster, ids ...string) *harness.Node {
	t.Helper()
	slices.Sort(ids)
	var leader *harness.Node
	err := harness.Poll(waitTimeout, fmt.Sprintf("one leader and alive voters %v on every node", ids), func() error {
		l, err := c.Leader()
		if err != nil {
			return err
		}
		for _, n := range c.Nodes() {
			if !n.Running() {
				continue
			}
			st, err := n.Status()
			if err != nil {
				return err
			}
			var got []string
			for _, m := range st.Members {
				if m.Status == "alive" && m.Voter {
					got = append(got, m.ID)
				}
			}
			if !slices.Equal(got, ids) || len(st.Members) != len(ids) {
				return fmt.Errorf("alive voters %v of %d members: %s", got, len(st.Members), st)
			}
			if st.LeaderID() != l.ID() {
				return fmt.Errorf("leader changed to %q: %s", st.LeaderID(), st)
			}
		}
		leader = l
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return leader
}

// mustStatus returns the node's status or fails the test.
func mustStatus(t *testing.T, n *harness.Node) harness.Status {
	t.Helper()
	st, err := n.Status()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// runHonuad runs honuad with args until it exits (it is killed after
// waitTimeout) and returns its exit code and stderr.
func runHonuad(t *testing.T, args ...string) (code int, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Build(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var outBuf, errBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &errBuf
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("honuad %q did not exit within %v; stderr:\n%s", args, waitTimeout, &errBuf)
	case err != nil && !errors.As(err, &exit):
		t.Fatalf("run honuad %q: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), errBuf.String()
}

// agentArgs returns the command line of a single node: flags as given, and
// a node id, a data dir and free addresses for those not given.
func agentArgs(t *testing.T, flags map[string]string) []string {
	t.Helper()
	p := harness.FreePorts(t, 3)
	all := map[string]string{
		"node-id":     "n1",
		"data-dir":    filepath.Join(t.TempDir(), "data"),
		"http-addr":   "127.0.0.1:" + strconv.Itoa(p[0]),
		"raft-addr":   "127.0.0.1:" + strconv.Itoa(p[1]),
		"gossip-addr": "127.0.0.1:" + strconv.Itoa(p[2]),
	}
	maps.Copy(all, flags)
	args := []string{"agent"}
	for _, name := range slices.Sorted(maps.Keys(all)) {
		args = append(args, "--"+name, all[name])
	}
	return args
}

// lastLine returns the last line of out, where honuad writes why it exits.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}
