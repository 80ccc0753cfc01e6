package gitrepo

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testTimeout bounds each git call of a test; generous for a loaded machine.
const testTimeout = 20 * time.Second

// sampleFiles is a small configuration repository.
func sampleFiles() map[string]string {
	return map[string]string{
		"environments/common/shared-config.json":     `{"logLevel":"info"}`,
		"environments/production/metadata.json":      `{"services":[],"layers":[]}`,
		"environments/production/datasources.json":   `{"dataSources":[]}`,
		"environments/staging/metadata.json":         `{"services":[],"layers":[]}`,
		"environments/staging/datasources.json":      `{"dataSources":[]}`,
		".gitops/deployment-policy.yaml":             "apiVersion: honua.io/v1\nkind: DeploymentPolicy\n",
		"environments/development/metadata.json":     `{"services":[],"layers":[]}`,
		"environments/development/datasources.json":  `{"dataSources":[]}`,
		"environments/development/appsettings.json":  `{}`,
		"environments/production/nested/deep/a.json": `{"a":1}`,
	}
}

// open opens a Repo on url with a fresh local clone; edit adjusts the
// configuration first.
func open(t *testing.T, url string, edit ...func(*Config)) *Repo {
	t.Helper()
	cfg := Config{URL: url, Dir: filepath.Join(t.TempDir(), "repo"), Timeout: testTimeout}
	for _, e := range edit {
		e(&cfg)
	}
	r, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	return r
}

// ctx returns a context for one test call.
func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	t.Cleanup(cancel)
	return c
}

// mustHead calls Head and fails the test on an error.
func mustHead(t *testing.T, r *Repo) string {
	t.Helper()
	h, err := r.Head(ctx(t))
	if err != nil {
		t.Fatalf("Head(): %v", err)
	}
	return h
}

// mustFetch calls Fetch and fails the test on an error.
func mustFetch(t *testing.T, r *Repo) string {
	t.Helper()
	h, err := r.Fetch(ctx(t))
	if err != nil {
		t.Fatalf("Fetch(): %v", err)
	}
	return h
}

// writeSecret writes a secret file (with a final newline, as editors do).
func writeSecret(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
