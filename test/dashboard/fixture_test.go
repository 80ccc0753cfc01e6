package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/rpc"
	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/harness"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// fixture is a three-node cluster with TLS on and a tokens file, watching
// a repository served by git daemon under sampleconfig.Policy (production
// needs two approvals of devops-team for a breaking or medium risk plan),
// that deploys development and production to directories. Its tokens:
// admin; alice and bob, approvers in devops-team; carol, a viewer.
type fixture struct {
	t      *testing.T
	repo   *gitserver.Repo
	c      *harness.Cluster
	ctlBin string            // the honuactl binary
	tokens map[string]string // identity → bearer token
	files  map[string]string // identity → file holding its token
}

// identities are the fixture's tokens: name, role, groups.
var identities = []struct {
	name   string
	role   rpc.Role
	groups []string
}{
	{"admin", rpc.RoleAdmin, nil},
	{"alice", rpc.RoleApprover, []string{"devops-team"}},
	{"bob", rpc.RoleApprover, []string{"devops-team"}},
	{"carol", rpc.RoleViewer, []string{"devops-team"}},
}

// newFixture writes the repository (development and production serving
// sampleconfig.Points), the tokens and the config file, and adds three
// nodes to the cluster without starting them.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{t: t, repo: gitserver.NewRepo(t), ctlBin: harness.BuildHonuactl(t),
		tokens: map[string]string{}, files: map[string]string{}}
	f.repo.Commit(sampleconfig.Merge(
		sampleconfig.Env("development", sampleconfig.Points),
		sampleconfig.Env("production", sampleconfig.Points),
		sampleconfig.WithPolicy(sampleconfig.Policy),
	), "development and production serve sample-points")
	daemon := gitserver.StartDaemon(t, f.repo.Root())

	var entries strings.Builder
	for _, id := range identities {
		tok, entry, err := rpc.NewToken(id.name, id.role, id.groups)
		if err != nil {
			t.Fatal(err)
		}
		entries.WriteString(entry)
		f.tokens[id.name] = tok
		f.files[id.name] = filepath.Join(dir, id.name+".token")
		if err := os.WriteFile(f.files[id.name], []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tokensFile := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokensFile, []byte("tokens:\n"+entries.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	targets := filepath.Join(dir, "targets")
	if err := os.Mkdir(targets, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`repository:
  url: %s
  branch: main
  pollInterval: 1s
environments:
  development:
    targets:
      - type: directory
        path: %s
  production:
    targets:
      - type: directory
        path: %s
auth:
  tokensFile: %s
`, daemon.URL(f.repo.Name()), filepath.Join(targets, "development"), filepath.Join(targets, "production"), tokensFile)
	config := filepath.Join(dir, "honuad.yaml")
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	f.c = harness.New(t, harness.Options{TLS: true, Token: f.tokens["admin"], Args: []string{"--config", config}})
	for range 3 {
		f.c.Add(harness.NodeConfig{BootstrapExpect: 3})
	}
	return f
}

// start starts the nodes and waits for a healthy cluster.
func (f *fixture) start() {
	f.t.Helper()
	for _, n := range f.c.Nodes() {
		n.Start()
	}
	f.waitForHealthy()
}

// waitForHealthy waits until every running node names the same leader and
// lists every running node as an alive voter, and returns the leader.
func (f *fixture) waitForHealthy() *harness.Node {
	f.t.Helper()
	var leader *harness.Node
	err := harness.Poll(waitTimeout, "one leader, every running node an alive voter", func() error {
		l, err := f.c.Leader()
		if err != nil {
			return err
		}
		var want []string
		for _, n := range f.c.Nodes() {
			if n.Running() {
				want = append(want, n.ID())
			}
		}
		slices.Sort(want)
		for _, n := range f.c.Nodes() {
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
			if slices.Sort(got); !slices.Equal(got, want) {
				return fmt.Errorf("%s: alive voters %v; want %v: %s", n, got, want, st)
			}
			if st.LeaderID() != l.ID() {
				return fmt.Errorf("%s: leader %q: %s", n, st.LeaderID(), st)
			}
		}
		leader = l
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return leader
}

// certs returns the files of the nodes' certificates, the only ones the
// browser accepts.
func (f *fixture) certs() []string {
	var out []string
	for _, n := range f.c.Nodes() {
		out = append(out, n.TLSFiles().Cert)
	}
	return out
}

// followers waits for the cluster to name its followers and returns them.
func (f *fixture) followers(t *testing.T) []*harness.Node {
	t.Helper()
	var fs []*harness.Node
	err := harness.Poll(waitTimeout, "the followers", func() error {
		var err error
		fs, err = f.c.Followers()
		if err == nil && len(fs) == 0 {
			err = errors.New("no node says it is a follower")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// commit commits production's (or development's) metadata.json serving
// the layers and returns the commit.
func (f *fixture) commit(t *testing.T, env, msg string, layers ...sampleconfig.Layer) string {
	t.Helper()
	commit := f.repo.Commit(map[string]string{
		"environments/" + env + "/metadata.json": sampleconfig.Metadata(layers...),
	}, msg)
	t.Logf("committed %.12s to %s: %s", commit, env, msg)
	return commit
}

// addrs is every node's API URL, for honuactl's --addr.
func (f *fixture) addrs() string { return strings.Join(f.c.URLs(), ",") }

// ctl runs honuactl as who against every node and returns how it ended.
func (f *fixture) ctl(t *testing.T, who string, args ...string) ctlResult {
	t.Helper()
	all := append([]string{"--addr", f.addrs(), "--ca-file", f.c.PKI().CAFile, "--token-file", f.files[who]}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.ctlBin, all...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "NO_COLOR=1"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("honuactl %q did not exit in time; stderr:\n%s", args, &stderr)
	case err != nil && !errors.As(err, &exit):
		t.Fatalf("run honuactl %q: %v", args, err)
	}
	return ctlResult{args: args, code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// ctlJSON runs honuactl as who with -o json, fails t unless it exits 0,
// and decodes its output into out.
func (f *fixture) ctlJSON(t *testing.T, who string, out any, args ...string) {
	t.Helper()
	res := f.ctl(t, who, append(args, "-o", "json")...)
	if res.code != 0 {
		t.Fatalf("as %s: %s", who, res)
	}
	if err := json.Unmarshal([]byte(res.stdout), out); err != nil {
		t.Fatalf("%s\ndecode: %v", res, err)
	}
}

// deploymentOf waits until production (or env) lists an automatic
// deployment of commit, and returns its id.
func (f *fixture) deploymentOf(t *testing.T, env, commit string) string {
	t.Helper()
	var id string
	err := harness.Poll(waitTimeout, fmt.Sprintf("a deployment of %s at %.12s", env, commit), func() error {
		res := f.ctl(t, "admin", "deployments", "--env", env, "-o", "json")
		if res.code != 0 {
			return fmt.Errorf("%s", res)
		}
		var list []api.DeploymentSummary
		if err := json.Unmarshal([]byte(res.stdout), &list); err != nil {
			return fmt.Errorf("%s\ndecode: %w", res, err)
		}
		for _, d := range list {
			if d.Commit == commit && d.Kind == string(api.KindAuto) {
				id = d.ID
				return nil
			}
		}
		return fmt.Errorf("none among %d listed", len(list))
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// waitFor runs `honuactl wait id --for state` and returns the deployment;
// it fails t if the deployment ended otherwise.
func (f *fixture) waitFor(t *testing.T, id, state string) *deployment {
	t.Helper()
	res := f.ctl(t, "admin", "wait", id, "--for", state, "--timeout", waitTimeout.String(), "-o", "json")
	var d deployment
	if err := json.Unmarshal([]byte(res.stdout), &d); err != nil && res.code == 0 {
		t.Fatalf("%s\ndecode: %v", res, err)
	}
	if res.code != 0 || string(d.State) != state {
		t.Fatalf("deployment %s did not reach %s: %s", id, state, res)
	}
	return &d
}

// deployment returns `honuactl deployment id`.
func (f *fixture) deployment(t *testing.T, id string) *deployment {
	t.Helper()
	var d deployment
	f.ctlJSON(t, "admin", &d, "deployment", id)
	return &d
}

// approve approves deployment id as who with honuactl.
func (f *fixture) approve(t *testing.T, who, id string) {
	t.Helper()
	if res := f.ctl(t, who, "approve", id, "--comment", "approved with honuactl by "+who); res.code != 0 {
		t.Fatalf("as %s: %s", who, res)
	}
}

// approveAll approves deployment id, while it waits, as each of who
// that has not yet.
func (f *fixture) approveAll(t *testing.T, id string, who ...string) {
	t.Helper()
	for _, w := range who {
		d := f.deployment(t, id)
		if d.State != api.StateAwaitingApproval {
			return
		}
		if !slices.ContainsFunc(d.Approvals, func(a api.Approval) bool { return a.Identity == w }) {
			f.approve(t, w, id)
		}
	}
}

// deployment is a deployment as honuactl prints it with -o json.
type deployment = api.Deployment

// ctlResult is how one honuactl run ended.
type ctlResult struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r ctlResult) String() string {
	return fmt.Sprintf("honuactl %s: exit %d\nstdout:\n%s\nstderr:\n%s",
		strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}
