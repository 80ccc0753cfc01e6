package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// TestSnapshotRoundTrip backs up a live three-node cluster with honuactl
// snapshot save, changes its state (production's waiting deployment is
// approved and deployed), and restores the backup with honuactl snapshot
// restore --yes: every node holds exactly the saved state again (the same
// snapshot bytes), and the cluster still takes writes and deploys with a
// fencing token above any it issued before the restore.
func TestSnapshotRoundTrip(t *testing.T) {
	skipIfShort(t)
	s := newScenarioFixture(t)
	s.start()
	token := s.adminToken(t)
	s.waitFor(t, s.deploymentOf(t, "development", s.first), "Completed")
	prod := s.waitFor(t, s.deploymentOf(t, "production", s.first), "AwaitingApproval")
	saved := waitSameState(t, s.c, token)

	dir := t.TempDir()
	file := filepath.Join(dir, "honua.snap")
	t.Run("save needs admin", func(t *testing.T) {
		res := s.ctl(t, "alice", s.addrs(), "snapshot", "save", filepath.Join(dir, "alice.snap"))
		if res.code != 1 || !strings.Contains(res.stderr, "403 forbidden") {
			t.Errorf("snapshot save as approver alice: %s\nwant exit 1 with 403 forbidden", res)
		}
		if _, err := os.Stat(filepath.Join(dir, "alice.snap")); !os.IsNotExist(err) {
			t.Errorf("a refused save left a file behind (stat: %v)", err)
		}
	})
	s.ctlOK(t, "admin", s.addrs(), "snapshot", "save", file)
	header, body := readBackupFile(t, file)
	// GET /v1/debug/state digests the state's canonical form (fsm.Dump);
	// the backup holds a snapshot (format 2) of the same state.
	restored := fsm.New(nil)
	if err := restored.Restore(io.NopCloser(bytes.NewReader(body))); err != nil {
		t.Fatalf("backup %s: %v", file, err)
	}
	dump, err := restored.Dump()
	if err != nil {
		t.Fatal(err)
	}
	bodySum := sha256.Sum256(dump)
	if got := hex.EncodeToString(bodySum[:]); got != saved.SHA256 {
		t.Fatalf("backup %s holds state with sha256 %.12s; the cluster holds %s", file, got, saved)
	}
	t.Logf("saved %s: index %d, term %d, %d bytes, by %s; cluster state %s", file, header.Index, header.Term, header.Size, header.Node, saved)

	// Change the state: production's deployment is approved and deployed.
	s.approveThroughFollower(t, prod.ID)
	done := s.waitFor(t, prod.ID, "Completed")
	changed := waitSameState(t, s.c, token)
	if changed.SHA256 == saved.SHA256 {
		t.Fatalf("state after the approvals is still %s; the restore would prove nothing", saved)
	}
	leader, err := s.c.WaitForLeader(waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	before, err := deploymentOn(leader, token, done.ID)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("restore needs --yes", func(t *testing.T) {
		res := s.ctl(t, "admin", s.addrs(), "snapshot", "restore", file)
		if res.code != 2 {
			t.Errorf("snapshot restore without --yes: %s\nwant exit 2", res)
		}
	})
	t.Run("a damaged backup is refused", func(t *testing.T) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		bad := filepath.Join(dir, "truncated.snap")
		if err := os.WriteFile(bad, b[:len(b)-10], 0o600); err != nil {
			t.Fatal(err)
		}
		res := s.ctl(t, "admin", s.addrs(), "snapshot", "restore", bad, "--yes")
		if res.code != 1 || !strings.Contains(res.stderr, "400 invalid") {
			t.Errorf("restore of a truncated backup: %s\nwant exit 1 with 400 invalid", res)
		}
		if got := waitSameState(t, s.c, token); got != changed {
			t.Errorf("after a refused restore the cluster holds %s; want it unchanged, %s", got, changed)
		}
	})

	// Restore through a follower: the request is forwarded to the leader.
	followers, err := s.c.Followers()
	if err != nil || len(followers) == 0 {
		t.Fatalf("followers: %v, %v", followers, err)
	}
	s.ctlOK(t, "admin", followers[0].APIAddr(), "snapshot", "restore", file, "--yes")
	waitStateIs(t, s.c, token, saved.SHA256, "the saved state")
	for _, n := range s.c.Nodes() {
		d, err := deploymentOn(n, token, prod.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.State != "AwaitingApproval" || len(d.Approvals) != 0 {
			t.Errorf("%s after the restore: %s; want AwaitingApproval without approvals, as saved", n, d)
		}
	}

	// The cluster takes writes again, and deploys: the new apply's fencing
	// token is above the one the target saw before the restore, or the
	// directory target would refuse it.
	s.approveThroughFollower(t, prod.ID)
	again := s.waitFor(t, prod.ID, "Completed")
	s.checkTarget(t, "production", again.ID, s.files["production"][s.first])
	leader, err = s.c.WaitForLeader(waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	after, err := deploymentOn(leader, token, prod.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.FencingToken <= before.FencingToken {
		t.Errorf("after the restore %s applied with fencing token %d; want more than %d, the token before the restore",
			prod.ID, after.FencingToken, before.FencingToken)
	}
	final := waitSameState(t, s.c, token)
	t.Logf("after the restore: %s deployed again with fencing token %d (was %d); state %s",
		prod.ID, after.FencingToken, before.FencingToken, final)
	for _, n := range s.c.Nodes() {
		if ready, why, err := n.Ready(); err != nil || !ready {
			t.Errorf("%s: GET /readyz: ready %v, %q, %v; want 200", n, ready, why, err)
		}
	}
}

// backupHeader is the first line of a backup file (internal/cluster's
// backup format).
type backupHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Index   uint64 `json:"index"`
	Term    uint64 `json:"term"`
	Size    int    `json:"size"`
	SHA256  string `json:"sha256"`
	Node    string `json:"node"`
	Time    string `json:"time"`
}

// readBackupFile reads a backup written by honuactl snapshot save: its
// header line and the FSM snapshot after it.
func readBackupFile(t *testing.T, path string) (backupHeader, []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(bytes.NewReader(b))
	line, err := r.ReadBytes('\n')
	if err != nil {
		t.Fatalf("backup %s: no header line: %v", path, err)
	}
	var h backupHeader
	if err := json.Unmarshal(line, &h); err != nil || h.Format != "honua-backup" {
		t.Fatalf("backup %s: header %q: %v", path, line, err)
	}
	body := b[len(line):]
	if len(body) != h.Size {
		t.Fatalf("backup %s: %d bytes after the header, which says %d", path, len(body), h.Size)
	}
	return h, body
}
