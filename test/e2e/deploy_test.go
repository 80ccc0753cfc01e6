package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/harness"
	"github.com/honua-io/honua-gitops/test/honuaserver"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// TestDeployFailoverKill kills the leader while the target holds its apply:
// a new leader finishes the deployment (or rolls it back) with a higher
// fencing token, the target ends with one whole bundle of it, and the killed
// node catches up when it comes back.
func TestDeployFailoverKill(t *testing.T) {
	skipIfShort(t)
	f := newDeployFixture(t)
	f.start()
	c1 := f.waitInitialDeployment()
	f.server.HoldNext(1)
	c2 := f.commit("add a roads layer", sampleconfig.Points, sampleconfig.Roads)

	h := f.server.WaitHeld(t)
	old, first := f.checkHeldFromLeader(h, c2)
	id := h.Doc.Manifest.DeploymentID

	old.Kill()
	h.Release()
	t.Logf("killed leader %s while the target held its apply of %s with fencing token %d; released the PUT: answered %d",
		old, id, first, h.WaitAnswered(t))

	leader, err := f.c.WaitForNewLeader(old, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	final := f.waitSettled(leader, id, "Completed", "RolledBack")
	t.Logf("new leader %s: deployment %s is %s with fencing token %d", leader, id, final.State, final.FencingToken)
	if final.FencingToken <= first {
		t.Errorf("deployment %s fencing token = %d after failover; want more than the first attempt's %d", id, final.FencingToken, first)
	}
	f.waitAgreed(id, final)

	switch final.State {
	case "Completed":
		f.checkServes(id, c2, final.FencingToken)
	case "RolledBack":
		if final.Backup == nil || final.Backup.Commit != c1 {
			t.Fatalf("deployment %s rolled back to %+v; want the backup of %.12s", id, final.Backup, c1)
		}
		f.checkServes(final.Backup.DeploymentID, c1, final.FencingToken)
	}
	f.checkTokensNeverDecrease()

	old.Restart()
	f.waitAgreed(id, final)
	leader = waitForHealthy(t, f.c, "n1", "n2", "n3")
	if err := old.WaitForApplied(mustStatus(t, leader).CommitIndex, waitTimeout); err != nil {
		t.Fatal(err)
	}
}

// TestDeployFencingPausedLeader pauses the leader while the target holds
// its apply, lets a new leader complete the deployment with a higher token,
// then resumes the old leader and releases its PUT: the target refuses the
// late, lower token with 409, and the deployment stays Completed with the
// new leader's token on every node.
func TestDeployFencingPausedLeader(t *testing.T) {
	skipIfShort(t)
	f := newDeployFixture(t)
	f.start()
	f.waitInitialDeployment()
	f.server.HoldNext(1)
	c2 := f.commit("add a roads layer", sampleconfig.Points, sampleconfig.Roads)

	h := f.server.WaitHeld(t)
	old, first := f.checkHeldFromLeader(h, c2)
	id := h.Doc.Manifest.DeploymentID

	old.Pause()
	leader, err := f.c.WaitForNewLeader(old, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	final := f.waitSettled(leader, id, "Completed", "RolledBack")
	if final.State != "Completed" {
		t.Fatalf("deployment %s is %s after %s took over (%s); want Completed", id, final.State, leader, final.Error)
	}
	if final.FencingToken <= first {
		t.Fatalf("deployment %s fencing token = %d after failover; want more than the paused leader's %d", id, final.FencingToken, first)
	}
	f.checkServes(id, c2, final.FencingToken)
	t.Logf("paused leader %s (token %d); new leader %s completed %s with token %d", old, first, leader, id, final.FencingToken)

	old.Resume()
	h.Release()
	if code := h.WaitAnswered(t); code != http.StatusConflict {
		t.Errorf("late PUT of the paused leader %s with token %d answered %d; want 409 (fenced by token %d)",
			old, first, code, final.FencingToken)
	}
	if err := harness.Poll(waitTimeout, old.ID()+" to follow another leader", func() error {
		st, err := old.Status()
		if err == nil && (st.State != "Follower" || st.LeaderID() == "" || st.LeaderID() == old.ID()) {
			err = fmt.Errorf("%s", st)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	leader = waitForHealthy(t, f.c, "n1", "n2", "n3")
	if err := old.WaitForApplied(mustStatus(t, leader).CommitIndex, waitTimeout); err != nil {
		t.Fatal(err)
	}
	f.waitAgreed(id, final)
	for _, n := range f.c.Nodes() {
		d, err := getDeployment(n, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range d.Transitions {
			if tr.To == "Failed" || tr.To == "RollingBack" {
				t.Errorf("%s: deployment %s went %s → %s (%s); the fenced apply must change nothing", n, id, tr.From, tr.To, tr.Message)
			}
		}
	}
	for _, p := range f.server.Puts() {
		if p.Token == first && p.Status != http.StatusConflict {
			t.Errorf("%s; want every PUT with the paused leader's token refused with 409", p)
		}
	}
	f.checkServes(id, c2, final.FencingToken)
	f.checkTokensNeverDecrease()
}

// TestDeployBadTarget gives staging an http target that answers 400 to
// everything: the deployment fails with an error naming the target and the
// status, the cluster stays healthy, and the target accepted nothing.
func TestDeployBadTarget(t *testing.T) {
	skipIfShort(t)
	f := newDeployFixture(t)
	f.server.AnswerAll(http.StatusBadRequest)
	f.start()
	leader := waitForHealthy(t, f.c, "n1", "n2", "n3")
	d := f.waitDeploymentOf(leader, f.first, "Failed")
	for _, want := range []string{f.server.URL(), "400"} {
		if !strings.Contains(d.Error, want) {
			t.Errorf("deployment %s error = %q; want it to name %q", d.ID, d.Error, want)
		}
	}
	f.waitAgreed(d.ID, d)
	waitForHealthy(t, f.c, "n1", "n2", "n3")
	for _, n := range f.c.Nodes() {
		if ready, why, err := n.Ready(); err != nil || !ready {
			t.Errorf("%s: GET /readyz: ready %v, %q, %v; want 200", n, ready, why, err)
		}
	}
	puts := f.server.Puts()
	if len(puts) == 0 {
		t.Errorf("the target got no PUT; want the deployment to have tried it")
	}
	for _, p := range puts {
		if p.Status != http.StatusBadRequest {
			t.Errorf("%s; want 400", p)
		}
	}
	if acc := f.server.Accepted(); len(acc) != 0 {
		t.Errorf("the target accepted %d bundles; want none", len(acc))
	}
	t.Logf("deployment %s failed after %d PUT(s): %s", d.ID, len(puts), d.Error)

	t.Run("error names the target once", func(t *testing.T) {
		if n := strings.Count(d.Error, f.server.URL()); n != 1 {
			t.Errorf("deployment error names the target %d times: %q", n, d.Error)
		}
	})
}

// deployFixture is a three-node cluster watching a repository served by a
// git daemon, with staging deployed to a bundle server in the test.
type deployFixture struct {
	t      *testing.T
	repo   *gitserver.Repo
	server *honuaserver.Server
	c      *harness.Cluster
	config string                       // honuad's config file, given to every node
	first  string                       // the first commit
	files  map[string]map[string]string // commit → staging's bundle files
}

// newDeployFixture commits staging's first configuration, serves it, and
// writes the config file of the nodes; start starts them.
func newDeployFixture(t *testing.T) *deployFixture {
	t.Helper()
	f := &deployFixture{t: t, repo: gitserver.NewRepo(t), server: honuaserver.New(t, "staging"), files: map[string]map[string]string{}}
	f.first = f.commitFiles("staging with one layer", sampleconfig.Merge(
		sampleconfig.Env("staging", sampleconfig.Points), sampleconfig.WithPolicy(sampleconfig.NeverApprove("staging"))))
	daemon := gitserver.StartDaemon(t, f.repo.Root())
	cfg := fmt.Sprintf(`repository:
  url: %s
  branch: main
  pollInterval: 1s
environments:
  staging:
    targets:
      - type: http
        url: %s
`, daemon.URL(f.repo.Name()), f.server.URL())
	f.config = filepath.Join(t.TempDir(), "honuad.yaml")
	if err := os.WriteFile(f.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// start starts three nodes, n1 to n3, each given the config file.
func (f *deployFixture) start() {
	f.t.Helper()
	f.c = harness.Start(f.t, 3, harness.Options{Args: []string{"--config", f.config}})
}

// commit commits staging's metadata.json with the layers.
func (f *deployFixture) commit(msg string, layers ...sampleconfig.Layer) string {
	f.t.Helper()
	return f.commitFiles(msg, map[string]string{"environments/staging/metadata.json": sampleconfig.Metadata(layers...)})
}

// commitFiles commits files and remembers staging's bundle files at the
// commit.
func (f *deployFixture) commitFiles(msg string, files map[string]string) string {
	f.t.Helper()
	prev := map[string]string{}
	maps.Copy(prev, f.files[f.repo.Head()])
	hash := f.repo.Commit(files, msg)
	for name, content := range files {
		base, ok := strings.CutPrefix(name, "environments/staging/")
		switch {
		case !ok:
		case content == gitserver.Remove:
			delete(prev, base)
		default:
			prev[base] = content
		}
	}
	f.files[hash] = prev
	return hash
}

// waitInitialDeployment waits for the first commit to be deployed, checks
// the target holds its bundle, and returns the commit.
func (f *deployFixture) waitInitialDeployment() string {
	f.t.Helper()
	leader := waitForHealthy(f.t, f.c, "n1", "n2", "n3")
	d := f.waitDeploymentOf(leader, f.first, "Completed")
	f.waitAgreed(d.ID, d)
	f.checkServes(d.ID, f.first, d.FencingToken)
	return f.first
}

// checkHeldFromLeader checks that the held PUT is the apply of commit by the
// current leader, which records the deployment Applying with the PUT's
// token; it returns the leader and the token.
func (f *deployFixture) checkHeldFromLeader(h *honuaserver.Held, commit string) (*harness.Node, uint64) {
	f.t.Helper()
	m := h.Doc.Manifest
	if m.Commit != commit || m.Environment != "staging" {
		f.t.Fatalf("held %s of %s; want staging's apply of %.12s", h.Put, m.Environment, commit)
	}
	leader, err := f.c.WaitForLeader(waitTimeout)
	if err != nil {
		f.t.Fatal(err)
	}
	owner, err := harness.ConnOwner(harness.Build(f.t), h.Remote, f.server.Addr())
	switch {
	case err != nil:
		f.t.Logf("cannot tell which process sent the held PUT (%v); relying on the fencing token", err)
	case owner != leader.ID():
		f.t.Fatalf("held %s was sent by %s; the leader is %s", h.Put, owner, leader)
	}
	d, err := getDeployment(leader, m.DeploymentID)
	if err != nil {
		f.t.Fatal(err)
	}
	if d.State != "Applying" || d.FencingToken != h.Token {
		f.t.Fatalf("leader %s: deployment %s is %s with fencing token %d while the target holds its PUT with token %d; want Applying with that token",
			leader, d.ID, d.State, d.FencingToken, h.Token)
	}
	return leader, h.Token
}

// checkServes checks that the last bundle the server accepted is a whole
// bundle of deployment id at commit with the fencing token: the
// repository's files of staging at that commit, byte for byte, and no other.
func (f *deployFixture) checkServes(id, commit string, token uint64) {
	f.t.Helper()
	acc := f.server.Accepted()
	if len(acc) == 0 {
		f.t.Fatalf("the target accepted no bundle; want %s at %.12s with token %d", id, commit, token)
	}
	last := acc[len(acc)-1]
	m := last.Doc.Manifest
	if m.DeploymentID != id || m.Commit != commit || m.Environment != "staging" || m.FencingToken != token || last.Token != token {
		f.t.Errorf("last accepted %s; want deployment %s of staging at %.12s with token %d", last, id, commit, token)
	}
	want := f.files[commit]
	if last.Doc.FilesEncoding != "" {
		f.t.Errorf("last accepted bundle has filesEncoding %q; want text files", last.Doc.FilesEncoding)
	}
	if got, wantNames := slices.Sorted(maps.Keys(last.Doc.Files)), slices.Sorted(maps.Keys(want)); !slices.Equal(got, wantNames) {
		f.t.Errorf("last accepted bundle has files %v; want %v", got, wantNames)
	}
	for name, content := range want {
		if got := last.Doc.Files[name]; got != content {
			f.t.Errorf("last accepted bundle's %s =\n%s\nwant the repository's at %.12s:\n%s", name, got, commit, content)
		}
	}
}

// checkTokensNeverDecrease checks that the server never accepted a token
// lower than one it had accepted before, and refused only lower ones.
func (f *deployFixture) checkTokensNeverDecrease() {
	f.t.Helper()
	var highest uint64
	for _, p := range f.server.Accepted() {
		if p.Token < highest {
			f.t.Errorf("accepted %s after token %d", p, highest)
		}
		highest = max(highest, p.Token)
	}
	for _, p := range f.server.Puts() {
		if p.Status == http.StatusConflict && p.Token >= highest {
			f.t.Errorf("%s, though no higher token was accepted", p)
		}
	}
}

// deploymentRecord is the part of GET /v1/deployments/{id} the tests read.
type deploymentRecord struct {
	ID           string `json:"id"`
	Environment  string `json:"environment"`
	Commit       string `json:"commit"`
	State        string `json:"state"`
	Error        string `json:"error"`
	FencingToken uint64 `json:"fencingToken"`
	Backup       *struct {
		DeploymentID string `json:"deploymentId"`
		Commit       string `json:"commit"`
	} `json:"backup"`
	Transitions []struct {
		From    string `json:"from"`
		To      string `json:"to"`
		Message string `json:"message"`
	} `json:"transitions"`
}

func (d *deploymentRecord) String() string {
	var steps []string
	for _, tr := range d.Transitions {
		steps = append(steps, tr.To+" ("+tr.Message+")")
	}
	return fmt.Sprintf("%s of %.12s: %s, token %d, error %q; transitions: %s",
		d.ID, d.Commit, d.State, d.FencingToken, d.Error, strings.Join(steps, " → "))
}

// apiClient has a short timeout: a paused node must not stall a poll.
var apiClient = &http.Client{Timeout: 5 * time.Second}

// getJSON GETs path from the node's API and decodes the 200 answer.
func getJSON(n *harness.Node, path string, out any) error {
	resp, err := apiClient.Get("http://" + n.APIAddr() + path)
	if err != nil {
		return fmt.Errorf("%s: GET %s: %w", n, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s: GET %s: %w", n, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: GET %s: %d %s", n, path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s: GET %s: %w", n, path, err)
	}
	return nil
}

// getDeployment fetches a deployment from the node.
func getDeployment(n *harness.Node, id string) (*deploymentRecord, error) {
	var d deploymentRecord
	if err := getJSON(n, "/v1/deployments/"+url.PathEscape(id), &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// waitDeploymentOf waits until the node shows staging's newest deployment
// of commit in state, and returns it.
func (f *deployFixture) waitDeploymentOf(n *harness.Node, commit, state string) *deploymentRecord {
	f.t.Helper()
	var d *deploymentRecord
	err := harness.Poll(waitTimeout, fmt.Sprintf("%s to show a deployment of %.12s %s", n, commit, state), func() error {
		var list []struct{ ID, Commit string }
		if err := getJSON(n, "/v1/deployments?env=staging&limit=1000", &list); err != nil {
			return err
		}
		i := slices.IndexFunc(list, func(s struct{ ID, Commit string }) bool { return s.Commit == commit })
		if i < 0 {
			return fmt.Errorf("no deployment of %.12s among %d", commit, len(list))
		}
		got, err := getDeployment(n, list[i].ID)
		if err == nil && got.State != state {
			err = fmt.Errorf("%s", got)
		}
		d = got
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// waitSettled waits until the node shows deployment id in one of states,
// and returns it.
func (f *deployFixture) waitSettled(n *harness.Node, id string, states ...string) *deploymentRecord {
	f.t.Helper()
	var d *deploymentRecord
	err := harness.Poll(waitTimeout, fmt.Sprintf("%s to show deployment %s %v", n, id, states), func() error {
		got, err := getDeployment(n, id)
		if err == nil && !slices.Contains(states, got.State) {
			err = fmt.Errorf("%s", got)
		}
		d = got
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// waitAgreed waits until every running node shows deployment id in want's
// state with want's fencing token.
func (f *deployFixture) waitAgreed(id string, want *deploymentRecord) {
	f.t.Helper()
	for _, n := range f.c.Nodes() {
		if !n.Running() {
			continue
		}
		err := harness.Poll(waitTimeout, fmt.Sprintf("%s to show deployment %s %s with token %d", n, id, want.State, want.FencingToken), func() error {
			got, err := getDeployment(n, id)
			if err == nil && (got.State != want.State || got.FencingToken != want.FencingToken) {
				err = fmt.Errorf("%s", got)
			}
			return err
		})
		if err != nil {
			f.t.Fatal(err)
		}
	}
}
