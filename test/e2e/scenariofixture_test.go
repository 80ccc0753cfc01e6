package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/internal/rpc"
	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/harness"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// scenarioFixture is a three-node cluster with API tokens, watching a
// repository served by git daemon, that deploys development and production
// to directories.
type scenarioFixture struct {
	t       *testing.T
	repo    *gitserver.Repo
	c       *harness.Cluster
	ctlBin  string            // the honuactl binary
	config  string            // honuad's config file
	targets string            // holds each environment's target path
	tokens  map[string]string // identity → token file
	first   string            // the first commit
	// files holds each environment's metadata.json at each commit.
	files map[string]map[string]string
	// deployed is each environment's last Completed commit.
	deployed map[string]string
}

// scenarioOptions change what newScenarioFixtureWith sets up.
type scenarioOptions struct {
	// policy replaces sampleconfig.Policy in the first commit.
	policy string
	// productionTargets replaces production's one directory target: the
	// YAML list items under "targets:", indented by six spaces.
	productionTargets string
}

func newScenarioFixture(t *testing.T) *scenarioFixture {
	t.Helper()
	return newScenarioFixtureWith(t, scenarioOptions{})
}

func newScenarioFixtureWith(t *testing.T, opts scenarioOptions) *scenarioFixture {
	t.Helper()
	if opts.policy == "" {
		opts.policy = sampleconfig.Policy
	}
	s := &scenarioFixture{t: t, repo: gitserver.NewRepo(t), ctlBin: harness.BuildHonuactl(t),
		targets: filepath.Join(t.TempDir(), "targets"), tokens: map[string]string{},
		files:    map[string]map[string]string{"development": {}, "production": {}},
		deployed: map[string]string{},
	}
	meta := scenarioMetadata(samplePoints)
	s.first = s.repo.Commit(map[string]string{
		"environments/development/metadata.json":    meta,
		"environments/development/datasources.json": sampleconfig.DataSources,
		"environments/production/metadata.json":     meta,
		"environments/production/datasources.json":  sampleconfig.DataSources,
		sampleconfig.PolicyPath:                     opts.policy,
	}, "development and production with one layer")
	s.files["development"][s.first] = meta
	s.files["production"][s.first] = meta
	daemon := gitserver.StartDaemon(t, s.repo.Root())

	dir := t.TempDir()
	if err := os.Mkdir(s.targets, 0o755); err != nil {
		t.Fatal(err)
	}
	var entries strings.Builder
	for _, tok := range []struct {
		name   string
		role   rpc.Role
		groups []string
	}{
		{"alice", rpc.RoleApprover, []string{"devops-team"}},
		{"bob", rpc.RoleApprover, []string{"devops-team"}},
		{"admin", rpc.RoleAdmin, nil},
	} {
		token, entry, err := rpc.NewToken(tok.name, tok.role, tok.groups)
		if err != nil {
			t.Fatal(err)
		}
		entries.WriteString(entry)
		s.tokens[tok.name] = filepath.Join(dir, tok.name+".token")
		if err := os.WriteFile(s.tokens[tok.name], []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tokensFile := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokensFile, []byte("tokens:\n"+entries.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	prodTargets := opts.productionTargets
	if prodTargets == "" {
		prodTargets = "      - type: directory\n        path: " + s.targetPath("production")
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
%s
auth:
  tokensFile: %s
`, daemon.URL(s.repo.Name()), s.targetPath("development"), prodTargets, tokensFile)
	s.config = filepath.Join(dir, "honuad.yaml")
	if err := os.WriteFile(s.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// start starts three nodes given the config file and waits for a healthy
// cluster.
func (s *scenarioFixture) start() {
	s.t.Helper()
	admin, err := os.ReadFile(s.tokens["admin"])
	if err != nil {
		s.t.Fatal(err)
	}
	s.c = harness.Start(s.t, 3, harness.Options{
		Args:  []string{"--config", s.config},
		Token: strings.TrimSpace(string(admin)),
	})
	waitForHealthy(s.t, s.c, "n1", "n2", "n3")
}

func (s *scenarioFixture) targetPath(env string) string { return filepath.Join(s.targets, env) }

// addrs is every node's API address, for --addr.
func (s *scenarioFixture) addrs() string {
	var as []string
	for _, n := range s.c.Nodes() {
		as = append(as, n.APIAddr())
	}
	return strings.Join(as, ",")
}

// commitOf returns the commit env last completed, as the test saw it.
func (s *scenarioFixture) commitOf(t *testing.T, env string) string {
	t.Helper()
	c, ok := s.deployed[env]
	if !ok {
		t.Fatalf("nothing of %s seen Completed yet", env)
	}
	return c
}

// commit commits env's metadata.json with the layers and returns the
// commit.
func (s *scenarioFixture) commit(t *testing.T, env, msg string, layers ...scenarioLayer) string {
	t.Helper()
	meta := scenarioMetadata(layers...)
	commit := s.repo.Commit(map[string]string{"environments/" + env + "/metadata.json": meta}, msg)
	s.files[env][commit] = meta
	t.Logf("committed %.12s to %s: %s", commit, env, msg)
	return commit
}

// ctl runs honuactl as who (a name in the tokens file) against addr:
// bob's token through HONUA_TOKEN and the others' through --token-file, so
// that both ways are used.
func (s *scenarioFixture) ctl(t *testing.T, who, addr string, args ...string) ctlResult {
	t.Helper()
	var env []string
	all := []string{"--addr", addr}
	switch who {
	case "bob":
		b, err := os.ReadFile(s.tokens[who])
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, "HONUA_TOKEN="+strings.TrimSpace(string(b)))
	default:
		all = append(all, "--token-file", s.tokens[who])
	}
	return runHonuactl(t, s.ctlBin, env, append(all, args...)...)
}

// ctlOK runs honuactl and fails t unless it exits 0.
func (s *scenarioFixture) ctlOK(t *testing.T, who, addr string, args ...string) ctlResult {
	t.Helper()
	res := s.ctl(t, who, addr, args...)
	if res.code != 0 {
		t.Fatalf("as %s: %s", who, res)
	}
	return res
}

// ctlJSON runs honuactl as admin against every node and decodes its JSON
// output into out.
func (s *scenarioFixture) ctlJSON(t *testing.T, out any, args ...string) {
	t.Helper()
	res := s.ctlOK(t, "admin", s.addrs(), append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(res.stdout), out); err != nil {
		t.Fatalf("%s\ndecode: %v", res, err)
	}
}

// deploymentOf waits until `honuactl deployments --env env` lists a
// deployment of commit, and returns its id.
func (s *scenarioFixture) deploymentOf(t *testing.T, env, commit string) string {
	t.Helper()
	var id string
	err := harness.Poll(waitTimeout, fmt.Sprintf("a deployment of %s at %.12s", env, commit), func() error {
		res := s.ctl(t, "admin", s.addrs(), "deployments", "--env", env, "-o", "json")
		if res.code != 0 {
			return fmt.Errorf("%s", res)
		}
		var list []struct {
			ID     string `json:"id"`
			Commit string `json:"commit"`
			Kind   string `json:"kind"`
		}
		if err := json.Unmarshal([]byte(res.stdout), &list); err != nil {
			return fmt.Errorf("%s\ndecode: %w", res, err)
		}
		for _, d := range list { // newest first
			if d.Commit == commit && d.Kind == "auto" {
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

// waitFor runs `honuactl wait id --for state` and returns the deployment it
// prints; it fails the test if the deployment ended otherwise.
func (s *scenarioFixture) waitFor(t *testing.T, id, state string) *scenarioDeployment {
	t.Helper()
	res := s.ctl(t, "admin", s.addrs(), "wait", id, "--for", state, "--timeout", waitTimeout.String(), "-o", "json")
	var d scenarioDeployment
	if err := json.Unmarshal([]byte(res.stdout), &d); err != nil && res.code == 0 {
		t.Fatalf("%s\ndecode: %v", res, err)
	}
	if res.code != 0 {
		t.Fatalf("deployment %s did not reach %s: %s\nrecord: %s", id, state, res, &d)
	}
	if d.ID != id || d.State != state {
		t.Fatalf("honuactl wait %s --for %s printed %s", id, state, &d)
	}
	if state == "Completed" {
		s.deployed[d.Environment] = d.Commit
	}
	return &d
}

// deployment returns `honuactl deployment id`.
func (s *scenarioFixture) deployment(t *testing.T, id string) *scenarioDeployment {
	t.Helper()
	var d scenarioDeployment
	s.ctlJSON(t, &d, "deployment", id)
	return &d
}

// plan returns `honuactl diff id`.
func (s *scenarioFixture) plan(t *testing.T, id string) *scenarioPlan {
	t.Helper()
	var p scenarioPlan
	s.ctlJSON(t, &p, "diff", id)
	return &p
}

// approveThroughFollower approves deployment id as alice and then as bob,
// each through a follower's address only: the follower forwards to the
// leader. After alice's approval the deployment still waits for bob's.
func (s *scenarioFixture) approveThroughFollower(t *testing.T, id string) {
	t.Helper()
	for i, who := range []string{"alice", "bob"} {
		follower := s.follower(t)
		res := s.ctlOK(t, who, follower.APIAddr(), "approve", id, "--comment", "scenario approval by "+who, "-o", "json")
		var ar struct {
			Duplicate  bool                `json:"duplicate"`
			Deployment *scenarioDeployment `json:"deployment"`
		}
		if err := json.Unmarshal([]byte(res.stdout), &ar); err != nil || ar.Deployment == nil {
			t.Fatalf("%s\ndecode: %v", res, err)
		}
		if ar.Duplicate || len(ar.Deployment.Approvals) != i+1 {
			t.Errorf("%s's approval of %s through follower %s: duplicate %v, %d approvals; want a new one, %d in all",
				who, id, follower, ar.Duplicate, len(ar.Deployment.Approvals), i+1)
		}
		if i == 0 && ar.Deployment.State != "AwaitingApproval" {
			t.Errorf("after alice's approval %s is %s; want AwaitingApproval until the second approval", id, ar.Deployment.State)
		}
		t.Logf("%s approved %s through follower %s", who, id, follower)
	}
}

// checkTarget checks that env's target serves deployment id: its
// metadata.json is wantMeta byte for byte, and its manifest names the
// deployment. It returns the served metadata.
func (s *scenarioFixture) checkTarget(t *testing.T, env, id, wantMeta string) *servedMetadata {
	t.Helper()
	path := s.targetPath(env)
	got, err := os.ReadFile(filepath.Join(path, "metadata.json"))
	if err != nil {
		t.Fatalf("%s's target: %v", env, err)
	}
	if string(got) != wantMeta {
		t.Errorf("%s's target metadata.json =\n%s\nwant the repository's:\n%s", env, got, wantMeta)
	}
	var m struct {
		DeploymentID string `json:"deploymentId"`
		Environment  string `json:"environment"`
	}
	if b, err := os.ReadFile(filepath.Join(path, ".honua", "deployment.json")); err != nil {
		t.Errorf("%s's target: %v", env, err)
	} else if err := json.Unmarshal(b, &m); err != nil || m.DeploymentID != id || m.Environment != env {
		t.Errorf("%s's target manifest %s (%v); want deployment %s of %s", env, b, err, id, env)
	}
	var served servedMetadata
	if err := json.Unmarshal(got, &served); err != nil {
		t.Fatalf("%s's target metadata.json: %v", env, err)
	}
	return &served
}

// get GETs path from the first node that answers, with the admin token,
// and decodes the 200 answer.
func (s *scenarioFixture) get(path string, out any) error {
	admin, err := os.ReadFile(s.tokens["admin"])
	if err != nil {
		return err
	}
	var errs []string
	for _, n := range s.c.Nodes() {
		req, err := http.NewRequest(http.MethodGet, "http://"+n.APIAddr()+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(admin)))
		resp, err := apiClient.Do(req)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: GET %s: %d %s", n, path, resp.StatusCode, body)
		}
		return json.Unmarshal(body, out)
	}
	return fmt.Errorf("GET %s: no node answered: %s", path, strings.Join(errs, "; "))
}

// scenarioDeployment is the part of a deployment, as honuactl prints it
// with -o json, that the scenarios read.
type scenarioDeployment struct {
	ID          string `json:"id"`
	Environment string `json:"environment"`
	Commit      string `json:"commit"`
	Kind        string `json:"kind"`
	State       string `json:"state"`
	Risk        string `json:"risk"`
	Error       string `json:"error"`
	Approval    *struct {
		Required int      `json:"required"`
		Groups   []string `json:"groups"`
	} `json:"approval"`
	Approvals []struct {
		Identity string `json:"identity"`
	} `json:"approvals"`
	Transitions []struct {
		To      string `json:"to"`
		Message string `json:"message"`
	} `json:"transitions"`
}

func (d *scenarioDeployment) String() string {
	var steps []string
	for _, tr := range d.Transitions {
		steps = append(steps, tr.To+" ("+tr.Message+")")
	}
	return fmt.Sprintf("%s of %s at %.12s: %s, risk %q, error %q; transitions: %s",
		d.ID, d.Environment, d.Commit, d.State, d.Risk, d.Error, strings.Join(steps, " → "))
}

// scenarioPlan is a plan as `honuactl diff -o json` prints it.
type scenarioPlan struct {
	BaseCommit string           `json:"baseCommit"`
	Commit     string           `json:"commit"`
	Risk       string           `json:"risk"`
	Breaking   bool             `json:"breaking"`
	Added      int              `json:"added"`
	Modified   int              `json:"modified"`
	Removed    int              `json:"removed"`
	Changes    []scenarioChange `json:"changes"`
}

// scenarioChange is one change of a plan.
type scenarioChange struct {
	Action   string `json:"action"`
	Kind     string `json:"kind"`
	Path     string `json:"path"`
	Breaking bool   `json:"breaking"`
	Risk     string `json:"risk"`
	Reason   string `json:"reason"`
	Diff     []struct {
		Field string `json:"field"`
		From  any    `json:"from"`
		To    any    `json:"to"`
	} `json:"diff"`
}

// mustList returns the plan's change of path with the action and kind,
// and checks whether it is breaking; it reports an error and returns nil
// when the plan lists none.
func (p *scenarioPlan) mustList(t *testing.T, action, kind, path string, breaking bool) *scenarioChange {
	t.Helper()
	for i := range p.Changes {
		ch := &p.Changes[i]
		if ch.Path != path {
			continue
		}
		if ch.Action != action || ch.Kind != kind || ch.Breaking != breaking {
			t.Errorf("plan of %.12s lists %s %s %s (breaking %v, risk %s: %s); want %s %s, breaking %v",
				p.Commit, ch.Action, ch.Kind, path, ch.Breaking, ch.Risk, ch.Reason, action, kind, breaking)
		}
		return ch
	}
	t.Errorf("plan of %.12s does not list %s %s %s; it lists %s", p.Commit, action, kind, path, p.paths())
	return nil
}

func (p *scenarioPlan) paths() string {
	var ps []string
	for _, ch := range p.Changes {
		ps = append(ps, ch.Action+" "+ch.Path)
	}
	return "[" + strings.Join(ps, ", ") + "]"
}

// mustDiff checks that the change has a field-level diff of field from →
// to. A nil change (already reported) is skipped.
func (ch *scenarioChange) mustDiff(t *testing.T, field string, from, to any) {
	t.Helper()
	if ch == nil {
		return
	}
	for _, fd := range ch.Diff {
		if fd.Field == field {
			if fd.From != from || fd.To != to {
				t.Errorf("%s %s: %s: %v → %v; want %v → %v", ch.Action, ch.Path, field, fd.From, fd.To, from, to)
			}
			return
		}
	}
	t.Errorf("%s %s has no diff of %s: %+v", ch.Action, ch.Path, field, ch.Diff)
}

// scenarioEnvironment is the part of GET /v1/environments/{env} the
// scenarios read.
type scenarioEnvironment struct {
	DeployedCommit   string `json:"deployedCommit"`
	Waiting          string `json:"waiting"`
	LatestSeenCommit string `json:"latestSeenCommit"`
	Pin              *struct {
		Commit string `json:"commit"`
		From   string `json:"from"`
		By     string `json:"by"`
	} `json:"pin"`
}

// servedMetadata is the part of a target's metadata.json the scenarios
// read.
type servedMetadata struct {
	Layers []struct {
		ID string `json:"id"`
	} `json:"layers"`
}

func (m *servedMetadata) layerIDs() []string {
	var ids []string
	for _, l := range m.Layers {
		ids = append(ids, l.ID)
	}
	return ids
}

// follower returns a node that says it follows.
func (s *scenarioFixture) follower(t *testing.T) *harness.Node {
	t.Helper()
	var f *harness.Node
	if err := harness.Poll(waitTimeout, "a follower", func() error {
		fs, err := s.c.Followers()
		if err == nil && len(fs) == 0 {
			err = fmt.Errorf("no node says it is a follower")
		}
		if err == nil {
			f = fs[0]
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return f
}
