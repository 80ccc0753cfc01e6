package target

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testTime is the manifest time of test bundles.
var testTime = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// testBundle returns a bundle of deployment id with token whose every file
// names the bundle, so a reader can tell which bundle a file came from.
func testBundle(id string, token uint64) *Bundle {
	m := Manifest{DeploymentID: id, Environment: "production", Commit: fmt.Sprintf("c0ffee%04d", token),
		Kind: "auto", FencingToken: token, Time: testTime}
	pad := strings.Repeat("x", 4096)
	files := map[string][]byte{}
	for _, name := range []string{"metadata.json", "datasources.json", "appsettings.json", "shared-config.json", "layers/roads.json"} {
		files[name] = fmt.Appendf(nil, "{\"bundle\": %q, \"pad\": %q}\n", m.BundleID(), pad)
	}
	return &Bundle{Manifest: m, Files: files}
}

// newTarget builds a target, failing the test on error.
func newTarget(t *testing.T, cfg Config) Target {
	t.Helper()
	tg, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return tg
}

// newDir returns a directory target for path.
func newDir(t *testing.T, path string, keep int) *directoryTarget {
	t.Helper()
	return newTarget(t, Config{Type: "directory", Path: path, Keep: keep}).(*directoryTarget)
}

// mustApply applies b to tg, failing the test on error.
func mustApply(t *testing.T, tg Target, b *Bundle) {
	t.Helper()
	if err := tg.Apply(context.Background(), b); err != nil {
		t.Fatalf("Apply(%s): %v", b.Manifest.BundleID(), err)
	}
}

// served returns the manifest the target serves, failing when it has none.
func served(t *testing.T, tg Target) *Manifest {
	t.Helper()
	m, err := tg.Current(context.Background())
	if err != nil || m == nil {
		t.Fatalf("%s: Current() = %v, %v; want a manifest", tg, m, err)
	}
	return m
}

// bundleDirs lists the directories under a directory target's bundles/.
func bundleDirs(t *testing.T, d *directoryTarget) []string {
	t.Helper()
	entries, err := os.ReadDir(d.bundles)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// checkBundle checks that the directory root holds exactly bundle want
// (its files and a manifest naming it).
func checkBundle(t *testing.T, root string, want *Bundle) {
	t.Helper()
	root, err := filepath.EvalSymlinks(root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readTree(root)
	if err != nil {
		t.Fatalf("read %s: %v", root, err)
	}
	m, err := decodeManifest(got[ManifestPath])
	if err != nil {
		t.Fatalf("%s: manifest: %v", root, err)
	}
	if !m.sameApply(want.Manifest) || !m.Time.Equal(want.Manifest.Time) {
		t.Errorf("%s: manifest = %+v; want %+v", root, *m, want.Manifest)
	}
	delete(got, ManifestPath)
	if len(got) != len(want.Files) {
		t.Errorf("%s holds %d files; want %d", root, len(got), len(want.Files))
	}
	for name, data := range want.Files {
		if string(got[name]) != string(data) {
			t.Errorf("%s/%s = %.60q; want %.60q", root, name, got[name], data)
		}
	}
}

// waitUntil polls cond until it holds, failing with what after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", timeout, what)
		}
		tick := time.NewTimer(5 * time.Millisecond)
		<-tick.C
	}
}

// asError returns err as a *Error, failing the test when it is not one.
func asError(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *target.Error", err, err)
	}
	return e
}

// pathOf returns the path of a file of a test bundle at root.
func pathOf(root, name string) string { return filepath.Join(root, filepath.FromSlash(name)) }
