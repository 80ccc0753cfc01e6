package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/certs"
	"github.com/honua-io/honua-gitops/internal/rpc"
	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/harness"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// tlsPolicy makes every deployment of production wait for one approval of
// devops-team.
//
// It stays its own document: it restricts approvers to devops-team (the
// group of the fixture's tokens), which sampleconfig.AlwaysApprove does
// not.
const tlsPolicy = `apiVersion: honua.io/v1
kind: DeploymentPolicy
environments:
  production:
    requireApproval: always
    requiredApprovals: 1
    approvers: [devops-team]
`

// tlsFixture is a three-node cluster with TLS on (API and raft), gossip
// encrypted, tokens required, and a repository whose production
// deployments each wait for one approval.
type tlsFixture struct {
	t          *testing.T
	repo       *gitserver.Repo
	c          *harness.Cluster
	tokensFile string
	targets    string
	gossipKey  string // the --gossip-key-file of every node

	mu      sync.Mutex
	tokens  map[string]string // identity → bearer token
	entries map[string]string // identity → its tokens file entry
	listed  []string          // identities in the tokens file, in order
	// clientCA is the CA file the test's API clients trust: a copy of
	// the cluster's CA, then the CA bundle during a rotation; clientTLS
	// is read from it, once per change, so that clients share their
	// connections.
	clientCA  string
	clientTLS *tls.Config
	rev       int
}

// newTLSFixture writes the repository, the tokens file (admin, alice and
// bob) and the config file; start starts the nodes.
func newTLSFixture(t *testing.T) *tlsFixture {
	t.Helper()
	dir := t.TempDir()
	f := &tlsFixture{t: t, repo: gitserver.NewRepo(t), tokens: map[string]string{}, entries: map[string]string{},
		tokensFile: filepath.Join(dir, "tokens.yaml"), targets: filepath.Join(dir, "targets")}
	f.repo.Commit(map[string]string{
		"environments/production/metadata.json":    sampleconfig.Metadata(sampleconfig.Layer{ID: "rev-0", SRID: 4326}),
		"environments/production/datasources.json": sampleconfig.DataSources,
		".gitops/deployment-policy.yaml":           tlsPolicy,
	}, "production, revision 0")
	daemon := gitserver.StartDaemon(t, f.repo.Root())
	for _, who := range []struct {
		name string
		role rpc.Role
	}{{"admin", rpc.RoleAdmin}, {"alice", rpc.RoleApprover}, {"bob", rpc.RoleApprover}, {"carol", rpc.RoleApprover}} {
		tok, entry, err := rpc.NewToken(who.name, who.role, []string{"devops-team"})
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[who.name], f.entries[who.name] = tok, entry
	}
	f.writeTokens("admin", "alice", "bob")
	cfg := fmt.Sprintf(`repository:
  url: %s
  branch: main
  pollInterval: 1s
environments:
  production:
    targets:
      - type: directory
        path: %s
auth:
  tokensFile: %s
`, daemon.URL(f.repo.Name()), filepath.Join(f.targets, "production"), f.tokensFile)
	if err := os.Mkdir(f.targets, 0o755); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "honuad.yaml")
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	f.gossipKey = writeGossipKey(t, dir, "gossip.key")
	f.c = harness.New(t, harness.Options{TLS: true, Token: f.tokens["admin"],
		Args: []string{"--config", config, "--gossip-key-file", f.gossipKey}})
	f.clientCA = filepath.Join(dir, "client-ca.pem")
	f.setClientCA(f.c.PKI().CACert())
	return f
}

// start starts n1 to n3 and waits for the first deployment to wait for
// approval.
func (f *tlsFixture) start() *harness.Node {
	f.t.Helper()
	for range 3 {
		f.c.Add(harness.NodeConfig{BootstrapExpect: 3})
	}
	for _, n := range f.c.Nodes() {
		n.Start()
	}
	leader := waitForHealthy(f.t, f.c, "n1", "n2", "n3")
	f.awaiting(f.repo.Head())
	return leader
}

// writeTokens replaces the tokens file with the entries of names, as an
// operator's tool would: a new file renamed over the old one.
func (f *tlsFixture) writeTokens(names ...string) {
	f.t.Helper()
	var b strings.Builder
	b.WriteString("tokens:\n")
	for _, n := range names {
		b.WriteString(f.entries[n])
	}
	replaceFile(f.t, f.tokensFile, []byte(b.String()))
	f.mu.Lock()
	f.listed = slices.Clone(names)
	f.mu.Unlock()
}

// setClientCA makes the test's clients trust the CA certificates pem.
func (f *tlsFixture) setClientCA(pem []byte) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	replaceFile(f.t, f.clientCA, pem)
	cfg, err := certs.Client(certs.ClientOptions{CAFile: f.clientCA})
	if err != nil {
		f.t.Fatal(err)
	}
	f.clientTLS = cfg
}

// client returns an API client as who, over https to the nodes at urls
// (every node when none is given), trusting the client CA file as it is
// now.
func (f *tlsFixture) client(who string, urls ...string) (*api.Client, error) {
	if len(urls) == 0 {
		urls = f.c.URLs()
	}
	f.mu.Lock()
	cfg := f.clientTLS
	f.mu.Unlock()
	return api.NewClient(api.Config{Addrs: urls, Token: f.tokens[who], TLS: cfg, Timeout: waitTimeout / 2})
}

// mustClient is client that fails the test on error.
func (f *tlsFixture) mustClient(who string, urls ...string) *api.Client {
	f.t.Helper()
	c, err := f.client(who, urls...)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// commit commits a new revision of production and returns the commit.
func (f *tlsFixture) commit() string {
	f.t.Helper()
	f.mu.Lock()
	f.rev++
	rev := f.rev
	f.mu.Unlock()
	return f.repo.Commit(map[string]string{
		"environments/production/metadata.json": sampleconfig.Metadata(sampleconfig.Layer{ID: fmt.Sprintf("rev-%d", rev), SRID: 4326}),
	}, fmt.Sprintf("production, revision %d", rev))
}

// awaiting waits for the deployment of commit to wait for approval and
// returns its id.
func (f *tlsFixture) awaiting(commit string) string {
	f.t.Helper()
	id, err := f.waitFor(commit, "AwaitingApproval", func(err error) { f.t.Errorf("read: %v", err) })
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// waitFor waits until production's deployment of commit is in state, as
// the first node that answers sees it, and returns its id. A read that fails
// is handed to failed, and the wait goes on.
func (f *tlsFixture) waitFor(commit, state string, failed func(error)) (string, error) {
	var id string
	err := harness.Poll(waitTimeout, fmt.Sprintf("production's deployment of %.12s to be %s", commit, state), func() error {
		c, err := f.client("admin")
		if err != nil {
			failed(err)
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout/2)
		defer cancel()
		ds, err := c.Deployments(ctx, api.DeploymentFilter{Env: "production", Limit: 20}, nil)
		if err != nil {
			failed(err)
			return err
		}
		for _, d := range ds {
			if d.Commit == commit {
				if string(d.State) != state {
					return fmt.Errorf("%s is %s", d.ID, d.State)
				}
				id = d.ID
				return nil
			}
		}
		return fmt.Errorf("no deployment of %.12s yet", commit)
	})
	return id, err
}

// replaceFile writes data to a new file renamed over path.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
