package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/honua-io/honua-gitops/internal/gossipkey"
	"github.com/honua-io/honua-gitops/test/harness"
)

// TestGossipKeyRotation runs operations.md's rotation on real processes:
// three nodes encrypt gossip with K1 while a client syncs development
// through every node, and honuactl installs K2, uses it and removes K1;
// every member stays alive on every node and no write fails. Then a node
// with K1 alone is refused, says why, and changes nothing; a node with K2
// joins; and a restarted node keeps K2 from its data dir although its
// --gossip-key-file still holds K1.
func TestGossipKeyRotation(t *testing.T) {
	skipIfShort(t)
	s := newScenarioFixture(t)
	admin := s.adminToken(t)
	alice, err := os.ReadFile(s.tokens["alice"])
	if err != nil {
		t.Fatal(err)
	}
	keyDir := t.TempDir()
	k1, k2 := writeGossipKey(t, keyDir, "k1.key"), writeGossipKey(t, keyDir, "k2.key")
	fp1, fp2 := keyFingerprint(t, k1), keyFingerprint(t, k2)

	s.c = harness.New(t, harness.Options{Args: []string{"--config", s.config}, Token: admin})
	for range 3 {
		s.c.Add(harness.NodeConfig{BootstrapExpect: 3, Args: []string{"--gossip-key-file", k1}})
	}
	for _, n := range s.c.Nodes() {
		n.Start()
	}
	waitForHealthy(t, s.c, "n1", "n2", "n3")
	members := s.c.Nodes()
	for _, n := range members {
		if log := n.Log(); !strings.Contains(log, "created the keyring in the data dir from --gossip-key-file") {
			t.Errorf("%s does not log that it created its keyring from the key file:\n%s", n, log)
		}
	}
	keyringOn := func(want ...string) {
		t.Helper()
		res := s.ctlOK(t, "admin", members[0].APIAddr(), "keyring", "list")
		for _, n := range members {
			if !slices.ContainsFunc(strings.Split(res.stdout, "\n"), func(l string) bool {
				return strings.HasPrefix(l, n.ID()+" ") && strings.Contains(l, " "+strings.Join(want, ","))
			}) {
				t.Errorf("honuactl keyring list: no line says %s holds %v:\n%s", n, want, res.stdout)
			}
		}
	}
	keyringOn(fp1)

	// The syncs go to development, which exists once the leader has
	// polled the repository.
	if err := harness.Poll(waitTimeout, "the leader to know development", func() error {
		var env struct{}
		return nodeGetJSON(members[0], admin, "/v1/environments/development?consistent=true", &env)
	}); err != nil {
		t.Fatal(err)
	}
	watch := watchAlive(t, members, admin)
	writes := syncContinuously(t, members, strings.TrimSpace(string(alice)))

	for _, step := range [][]string{{"install", "@" + k2}, {"use", "@" + k2}, {"remove", "@" + k1}} {
		// Through the first node only: honuactl finds the others.
		res := s.ctlOK(t, "admin", members[0].APIAddr(), append([]string{"keyring"}, step...)...)
		t.Logf("honuactl keyring %s:\n%s", step[0], res.stdout)
		if n := strings.Count(res.stdout, "\nn"); n != 3 {
			t.Errorf("honuactl keyring %s printed %d node lines; want 3:\n%s", step[0], n, res.stdout)
		}
		if strings.Contains(res.stdout+res.stderr, keyText(t, k1)) || strings.Contains(res.stdout+res.stderr, keyText(t, k2)) {
			t.Errorf("honuactl keyring %s printed a key", step[0])
		}
		writes.waitForMore(t, 3)
	}
	lastStep := time.Now()
	keyringOn(fp2)
	ok, failed := writes.stop()
	t.Logf("%d syncs succeeded during the rotation", ok)
	if len(failed) > 0 {
		t.Errorf("%d of %d syncs failed during the rotation, first: %s", len(failed), ok+len(failed), failed[0])
	}

	// Quiet: no write is coming, every deployment has ended.
	leader := waitForHealthy(t, s.c, "n1", "n2", "n3")
	var before stateDigest
	if err := harness.Poll(waitTimeout, "every deployment to end", func() error {
		var envs []struct {
			Name    string `json:"name"`
			Current string `json:"current"`
			Waiting struct {
				ID    string `json:"id"`
				State string `json:"state"`
			} `json:"waitingDeployment"`
			PendingSync any `json:"pendingSync"`
		}
		if err := nodeGetJSON(leader, admin, "/v1/environments?consistent=true", &envs); err != nil {
			return err
		}
		for _, e := range envs {
			// A waiting deployment (a sync's, made during the rotation)
			// goes on by itself unless it waits for approvals: not quiet
			// yet.
			moving := e.Waiting.ID != "" && e.Waiting.State != "AwaitingApproval"
			if e.Current != "" || moving || e.PendingSync != nil {
				return fmt.Errorf("%s: deployment %q active, %q %s, sync pending %v", e.Name, e.Current, e.Waiting.ID, e.Waiting.State, e.PendingSync)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before = waitSameState(t, s.c, admin)
	votersBefore := votersOf(t, leader)

	// A node with the old key only is refused.
	old := s.c.Add(harness.NodeConfig{Args: []string{"--gossip-key-file", k1}})
	old.Start()
	refusal := "cannot join the cluster: gossip is encrypted with another key (check --gossip-key-file or the keyring in " +
		filepath.Join(old.DataDir(), "gossip-keyring.json") + ")"
	if err := harness.Poll(waitTimeout, old.ID()+" to be refused twice and say why", func() error {
		if n := strings.Count(old.Log(), refusal); n < 2 {
			return fmt.Errorf("its log says %q %d times:\n%s", refusal, n, old.Log())
		}
		for _, n := range members {
			if strings.Contains(n.Log(), "no installed keys could decrypt the message") {
				return nil
			}
		}
		return errors.New("no member logs that it could not decrypt the newcomer's message")
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range members {
		var ms []harness.Member
		if err := nodeGetJSON(n, admin, "/v1/cluster/members", &ms); err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.ID == old.ID() {
				t.Errorf("%s lists the node with the old key as %s", n, m.Status)
			}
		}
		if d, err := digestOf(n, admin); err != nil || d != before {
			t.Errorf("%s holds %v (%v) after the refused node tried; want it unchanged: %s", n, d, err, before)
		}
	}
	if got := votersOf(t, leader); !slices.Equal(got, votersBefore) {
		t.Errorf("voters = %v after the refused node tried; want %v", got, votersBefore)
	}
	old.Kill()

	// A node with the new key joins.
	fresh := s.c.Add(harness.NodeConfig{Args: []string{"--gossip-key-file", k2}})
	fresh.Start()
	waitForHealthy(t, s.c, "n1", "n2", "n3", fresh.ID())

	// A cut-off member is seen suspect within 5 probe intervals: watch at
	// least twice that long after the last step.
	window := 10 * memberlist.DefaultLANConfig().ProbeInterval
	if err := harness.Poll(window+waitTimeout, "the watch window after the rotation to pass", func() error {
		if since := time.Since(lastStep); since < window {
			return fmt.Errorf("%v of %v watched", since.Round(time.Second), window)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if seen := watch(); len(seen) > 0 {
		t.Errorf("during the rotation a node saw a member other than alive %d times, first: %s", len(seen), seen[0])
	}

	// A restarted node keeps its data dir's keyring.
	var follower *harness.Node
	leader = waitForHealthy(t, s.c, "n1", "n2", "n3", fresh.ID())
	for _, n := range members {
		if n != leader {
			follower = n
			break
		}
	}
	if _, err := follower.Stop(); err != nil {
		t.Fatal(err)
	}
	follower.Restart()
	waitForHealthy(t, s.c, "n1", "n2", "n3", fresh.ID())
	if log := follower.Log(); !strings.Contains(log, "does not hold the key of --gossip-key-file") ||
		!strings.Contains(log, "primary="+fp2) {
		t.Errorf("restarted %s does not log that it uses its keyring (primary %s) over its key file:\n%s", follower, fp2, log)
	}
	res := s.ctlOK(t, "admin", follower.APIAddr(), "keyring", "list")
	for _, n := range append(slices.Clone(members), fresh) {
		wantLine := false
		for _, l := range strings.Split(res.stdout, "\n") {
			wantLine = wantLine || strings.HasPrefix(l, n.ID()+" ") && strings.HasSuffix(l, " "+fp2)
		}
		if !wantLine {
			t.Errorf("honuactl keyring list: %s does not hold %s alone:\n%s", n, fp2, res.stdout)
		}
	}
}

// writeGossipKey writes a new key, as honuad keygen prints it, to a file.
func writeGossipKey(t *testing.T, dir, name string) string {
	t.Helper()
	code, out, stderr := runHonuadOut(t, "keygen")
	if code != 0 {
		t.Fatalf("honuad keygen: exit %d: %s", code, stderr)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runHonuadOut runs honuad with args and returns its exit code, stdout and
// stderr.
func runHonuadOut(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(harness.Build(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run honuad %q: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

func keyText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func keyFingerprint(t *testing.T, path string) string {
	t.Helper()
	key, err := gossipkey.Parse([]byte(keyText(t, path)))
	if err != nil {
		t.Fatal(err)
	}
	return gossipkey.Fingerprint(key)
}

// votersOf returns the voters node n lists, sorted.
func votersOf(t *testing.T, n *harness.Node) []string {
	t.Helper()
	st := mustStatus(t, n)
	var out []string
	for _, m := range st.Members {
		if m.Voter {
			out = append(out, m.ID+"@"+m.RaftAddr)
		}
	}
	slices.Sort(out)
	return out
}

// watchAlive polls every node's member list until the returned function is
// called, which returns every time a node listed one of nodes as other than
// alive, or could not answer.
func watchAlive(t *testing.T, nodes []*harness.Node, token string) func() []string {
	t.Helper()
	ids := map[string]bool{}
	for _, n := range nodes {
		ids[n.ID()] = true
	}
	var mu sync.Mutex
	var seen []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, n := range nodes {
				var ms []harness.Member
				err := nodeGetJSON(n, token, "/v1/cluster/members", &ms)
				mu.Lock()
				if err != nil {
					seen = append(seen, err.Error())
				}
				for _, m := range ms {
					if ids[m.ID] && m.Status != "alive" {
						seen = append(seen, fmt.Sprintf("%s saw %s %s at %s", n, m.ID, m.Status, time.Now().Format("15:04:05.000")))
					}
				}
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() []string {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
}

// syncWriter requests syncs of development, a replicated write each, through
// every node in turn (a follower forwards them to the leader).
type syncWriter struct {
	mu     sync.Mutex
	ok     int
	failed []string
	stopCh chan struct{}
	done   chan struct{}
}

func syncContinuously(t *testing.T, nodes []*harness.Node, token string) *syncWriter {
	t.Helper()
	w := &syncWriter{stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			n := nodes[i%len(nodes)]
			err := postSync(n, token)
			w.mu.Lock()
			if err != nil {
				w.failed = append(w.failed, err.Error())
			} else {
				w.ok++
			}
			w.mu.Unlock()
			select {
			case <-w.stopCh:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func postSync(n *harness.Node, token string) error {
	req, err := http.NewRequest(http.MethodPost, "http://"+n.APIAddr()+"/v1/environments/development/sync", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := apiClient.Do(req)
	if err != nil {
		return fmt.Errorf("sync through %s: %w", n, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("sync through %s: %s %s", n, resp.Status, b)
	}
	return nil
}

// waitForMore waits until n more writes have been made, whatever their
// outcome.
func (w *syncWriter) waitForMore(t *testing.T, n int) {
	t.Helper()
	w.mu.Lock()
	target := w.ok + len(w.failed) + n
	w.mu.Unlock()
	if err := harness.Poll(waitTimeout, fmt.Sprintf("%d more syncs", n), func() error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if got := w.ok + len(w.failed); got < target {
			return fmt.Errorf("%d of %d", got, target)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// stop stops the writes and returns how many succeeded and why the others
// failed.
func (w *syncWriter) stop() (int, []string) {
	close(w.stopCh)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ok, w.failed
}
