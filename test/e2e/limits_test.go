package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/internal/plan"
	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/harness"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// stateLimit bounds the replicated state of the limits test: a few
// deployments with their bounded plans. A plan that carried a file's
// value whole would pass it by megabytes.
const stateLimit = 512 << 10

// TestOversizedRepositoryFiles commits files as large as the ones that took
// a cluster down, under honuad's default limits: a 20 MiB settings file
// fails validation naming the file and the limit and records nothing of
// it; a 2 MiB value under the limit deploys with its plan summarizing it;
// a revert deploys normally. The replicated state stays small throughout,
// a follower killed meanwhile catches up after a snapshot, and a fresh
// node joins and catches up.
func TestOversizedRepositoryFiles(t *testing.T) {
	skipIfShort(t)
	f := newDeployFixture(t)
	// Frequent snapshots with few trailing entries: the nodes that come
	// back or join catch up from a snapshot.
	f.c = harness.Start(t, 3, harness.Options{Args: []string{"--config", f.config,
		"--raft-snapshot-threshold", "16", "--raft-snapshot-interval", "1s", "--raft-trailing-logs", "4"}})
	f.waitInitialDeployment()
	leader := waitForHealthy(t, f.c, "n1", "n2", "n3")
	followers, err := f.c.Followers()
	if err != nil {
		t.Fatal(err)
	}
	down := followers[0]
	killedAt := mustStatus(t, down).AppliedIndex
	down.Kill()
	t.Logf("killed follower %s; it stays down while the large files are committed", down)

	const app = "environments/staging/appsettings.json"
	huge := f.commitFiles("a 20 MiB setting", map[string]string{app: `{"Blob": "` + strings.Repeat("x", 20<<20) + `"}`})
	d := f.waitDeploymentOf(leader, huge, "Failed")
	t.Logf("20 MiB file: deployment %s failed: %s", d.ID, d.Error)
	for _, want := range []string{app, "20 MiB", "the limit is 4.0 MiB per file", "--max-file-size"} {
		if !strings.Contains(d.Error, want) {
			t.Errorf("deployment %s error %q does not say %q", d.ID, d.Error, want)
		}
	}
	f.checkStateSmall("after the 20 MiB file")

	value := strings.Repeat("y", 2<<20)
	big := f.commitFiles("a 2 MiB setting instead", map[string]string{app: `{"Blob": "` + value + `"}`})
	d = f.waitDeploymentOf(leader, big, "Completed")
	f.checkServes(d.ID, big, d.FencingToken)
	raw := f.rawPlan(leader, d.ID)
	t.Logf("2 MiB value: deployment %s completed with a %d-byte plan", d.ID, len(raw))
	var doc plan.Document
	if err := json.Unmarshal(raw, &doc); err != nil || doc.Plan == nil || len(doc.Changes) != 1 || len(doc.Changes[0].Diff) != 1 {
		t.Fatalf("plan of deployment %s = %s (%v); want the one added setting", d.ID, raw, err)
	}
	valueJSON, _ := json.Marshal(value)
	sum := sha256.Sum256(valueJSON)
	diff := doc.Changes[0].Diff[0]
	if s, ok := plan.SummaryOf(diff.To); !diff.ToSummarized || !ok || s.SHA256 != hex.EncodeToString(sum[:]) || s.Bytes != len(valueJSON) {
		t.Errorf("plan of deployment %s records %s → %.200v (summarized %v); want the 2 MiB value summarized by its size and sha256",
			d.ID, diff.Field, diff.To, diff.ToSummarized)
	}
	if len(raw) > 8<<10 {
		t.Errorf("plan of deployment %s is %d bytes; want a few hundred", d.ID, len(raw))
	}
	f.checkStateSmall("after the 2 MiB value")

	reverted := f.commitFiles("revert the settings; add roads", map[string]string{app: gitserver.Remove,
		"environments/staging/metadata.json": sampleconfig.Metadata(sampleconfig.Points, sampleconfig.Roads)})
	d = f.waitDeploymentOf(leader, reverted, "Completed")
	f.checkServes(d.ID, reverted, d.FencingToken)

	// The leader has compacted its log past what the killed node has.
	if err := harness.Poll(waitTimeout, fmt.Sprintf("%s to snapshot past index %d", leader, killedAt+4), func() error {
		if i := lastSnapshotIndex(leader); i <= killedAt+4 {
			return fmt.Errorf("its last snapshot is at index %d", i)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	down.Restart()
	fresh := f.c.Add(harness.NodeConfig{})
	fresh.Start()
	leader = waitForHealthy(t, f.c, "n1", "n2", "n3", "n4")
	index := mustStatus(t, leader).CommitIndex
	for _, n := range []*harness.Node{down, fresh} {
		if err := n.WaitForApplied(index, waitTimeout); err != nil {
			t.Fatal(err)
		}
		if err := harness.Poll(waitTimeout, n.ID()+" to be ready", func() error {
			ready, why, err := n.Ready()
			if err == nil && !ready {
				err = fmt.Errorf("not ready: %s", why)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	f.waitAgreed(d.ID, d)
	f.checkStateSmall("after the restart and the join")
	f.checkSnapshotsSmall()
	for _, n := range []*harness.Node{down, fresh} {
		if !strings.Contains(n.Log(), "Installed remote snapshot") {
			t.Errorf("%s caught up without installing the leader's snapshot (raft logs \"Installed remote snapshot\"); the test meant it to", n)
		}
	}
}

// rawPlan returns the plan document deployment id records.
func (f *deployFixture) rawPlan(n *harness.Node, id string) json.RawMessage {
	f.t.Helper()
	var rec struct {
		Plan json.RawMessage `json:"plan"`
	}
	if err := getJSON(n, "/v1/deployments/"+url.PathEscape(id), &rec); err != nil {
		f.t.Fatal(err)
	}
	return rec.Plan
}

// checkStateSmall checks every running node's replicated state (its
// snapshot bytes, GET /v1/debug/state) is under stateLimit.
func (f *deployFixture) checkStateSmall(when string) {
	f.t.Helper()
	for _, n := range f.c.Nodes() {
		if !n.Running() {
			continue
		}
		var st stateDigest
		if err := getJSON(n, "/v1/debug/state", &st); err != nil {
			f.t.Fatal(err)
		}
		f.t.Logf("%s: %s holds %s", when, n, st)
		if st.Bytes > stateLimit {
			f.t.Errorf("%s: %s holds %d bytes of state; want at most %d", when, n, st.Bytes, stateLimit)
		}
	}
}

// checkSnapshotsSmall checks the raft snapshots every node keeps on disk.
func (f *deployFixture) checkSnapshotsSmall() {
	f.t.Helper()
	found := 0
	for _, n := range f.c.Nodes() {
		files, err := filepath.Glob(filepath.Join(n.DataDir(), "raft", "snapshots", "*", "state.bin"))
		if err != nil {
			f.t.Fatal(err)
		}
		for _, file := range files {
			fi, err := os.Stat(file)
			if err != nil {
				continue // replaced by a newer one meanwhile
			}
			found++
			if fi.Size() > stateLimit {
				f.t.Errorf("%s: snapshot %s is %d bytes; want at most %d", n, file, fi.Size(), stateLimit)
			}
		}
	}
	if found == 0 {
		f.t.Errorf("no node has a raft snapshot; the test meant to make them take some")
	}
}

// lastSnapshotIndex returns the index of the newest raft snapshot in the
// node's data dir; 0 for none.
func lastSnapshotIndex(n *harness.Node) uint64 {
	metas, _ := filepath.Glob(filepath.Join(n.DataDir(), "raft", "snapshots", "*", "meta.json"))
	var last uint64
	for _, m := range metas {
		b, err := os.ReadFile(m)
		if err != nil {
			continue // being replaced
		}
		var meta struct{ Index uint64 }
		if json.Unmarshal(b, &meta) == nil {
			last = max(last, meta.Index)
		}
	}
	return last
}
