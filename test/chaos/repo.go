package chaos

import (
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// The kinds of environment of the configuration repository (see the
// package documentation).
const (
	gatePrefix = "gate-"
	rbPrefix   = "rb-"
	appPrefix  = "app-"
)

// envNames returns prefix1 … prefixN.
func envNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i+1)
	}
	return out
}

// metadataJSON is an environment's metadata.json at revision rev: the
// sample layer, its title carrying the environment and the revision, so
// that every revision's bundle differs from every other's.
func metadataJSON(env string, rev int) string {
	return sampleconfig.Metadata(sampleconfig.Layer{ID: sampleconfig.Points.ID, SRID: sampleconfig.Points.SRID,
		Title: fmt.Sprintf("Sample points of %s, revision %d", env, rev)})
}

const sharedConfigJSON = `{"logging": {"level": "info"}}
`

// policyYAML is the policy: gates wait for approvals that never come, the
// others deploy without approval and roll back on failure. It is chaos's
// own: no policy of test/sampleconfig has gates or rollback settings.
func policyYAML(gates, others []string) string {
	var b strings.Builder
	b.WriteString("apiVersion: honua.io/v1\nkind: DeploymentPolicy\nenvironments:\n")
	for _, g := range gates {
		fmt.Fprintf(&b, "  %s:\n    requireApproval: always\n    requiredApprovals: 1000\n    approvalTimeout: 720h\n", g)
	}
	for _, e := range others {
		fmt.Fprintf(&b, "  %s:\n    requireApproval: never\n    breakingChangesRequireApproval: false\n"+
			"    autoRollback: true\n    rollbackRequiresApproval: false\n    healthCheckTimeout: 30s\n", e)
	}
	return b.String()
}

// repo is the configuration repository and every tree it was committed
// with, so that a bundle can be compared with its commit's files.
type repo struct {
	t  testing.TB
	gr *gitserver.Repo

	mu    sync.Mutex
	tree  map[string]string            // the work tree now
	trees map[string]map[string]string // commit → the tree at that commit
	revs  map[string]int               // environment → its latest revision
	head  string
}

func newRepo(t testing.TB) *repo {
	return &repo{t: t, gr: gitserver.NewRepo(t), tree: map[string]string{}, trees: map[string]map[string]string{},
		revs: map[string]int{}}
}

// commit commits files (path → content) and returns the commit's hash.
func (r *repo) commit(files map[string]string, msg string) string {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	hash := r.gr.Commit(files, msg)
	next := maps.Clone(r.tree)
	maps.Copy(next, files)
	r.tree = next
	r.trees[hash] = next
	r.head = hash
	return hash
}

// bumpEnv commits the next revision of env's metadata.json.
func (r *repo) bumpEnv(env string) string {
	r.t.Helper()
	r.mu.Lock()
	rev := r.revs[env] + 1
	r.revs[env] = rev
	r.mu.Unlock()
	return r.commit(map[string]string{"environments/" + env + "/metadata.json": metadataJSON(env, rev)},
		fmt.Sprintf("%s: revision %d", env, rev))
}

// Head returns the last commit.
func (r *repo) Head() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.head
}

// bundleFiles returns what a bundle of env at commit holds besides its
// manifest, and false if the commit is not one of ours.
func (r *repo) bundleFiles(env, commit string) (map[string]string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tree, ok := r.trees[commit]
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	prefix := "environments/" + env + "/"
	for p, content := range tree {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			out[rest] = content
		}
	}
	if s, ok := tree["environments/common/shared-config.json"]; ok {
		out["shared-config.json"] = s
	}
	return out, true
}

// sameEnvFiles reports whether env's bundle is the same at two commits.
func (r *repo) sameEnvFiles(env, a, b string) bool {
	fa, oka := r.bundleFiles(env, a)
	fb, okb := r.bundleFiles(env, b)
	return oka && okb && maps.Equal(fa, fb)
}
