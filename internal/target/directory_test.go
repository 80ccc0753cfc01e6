package target

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDirectoryApply(t *testing.T) {
	path := filepath.Join(t.TempDir(), "production")
	d := newDir(t, path, 0)
	if m, err := d.Current(context.Background()); m != nil || err != nil {
		t.Fatalf("Current() before any apply = %v, %v; want nil, nil", m, err)
	}
	b := testBundle("production-1", 7)
	mustApply(t, d, b)

	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("%s is not a symlink after Apply: %v, %v", path, fi, err)
	}
	dest, _ := os.Readlink(path)
	if want := ".production.honua/bundles/production-1-7"; dest != want {
		t.Errorf("%s -> %s; want a relative link -> %s", path, dest, want)
	}
	checkBundle(t, path, b)
	m := served(t, d)
	if !m.sameApply(b.Manifest) || !m.Time.Equal(b.Manifest.Time) {
		t.Errorf("Current() = %+v; want %+v", *m, b.Manifest)
	}
	for _, name := range []string{"lock", "state.json"} {
		if _, err := os.Stat(filepath.Join(d.area, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	b2 := testBundle("production-2", 8)
	mustApply(t, d, b2)
	checkBundle(t, path, b2)
	if got := served(t, d).DeploymentID; got != "production-2" {
		t.Errorf("Current().DeploymentID = %q; want production-2", got)
	}
}

func TestDirectoryBytesExact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "production")
	d := newDir(t, path, 0)
	b := &Bundle{Manifest: Manifest{DeploymentID: "production-3", FencingToken: 1}, Files: map[string][]byte{
		"metadata.json":      []byte("{\"services\": []}"), // no newline at the end
		"datasources.json":   []byte("{\r\n  \"dataSources\": [ ]\r\n}\r\n"),
		"appsettings.json":   {},
		"shared-config.json": {0xff, 0xfe, 0x00, '{', '}', 0x80},
		"deep/er/file.json":  []byte("  {\"ünïcödé\": \"✓\"}\n\n"),
	}}
	mustApply(t, d, b)
	for name, want := range b.Files {
		got, err := os.ReadFile(pathOf(path, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s = %q; want %q byte for byte", name, got, want)
		}
	}
}

func TestDirectoryIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "production")
	d := newDir(t, path, 0)
	b := testBundle("production-1", 7)
	mustApply(t, d, b)
	dir := filepath.Join(d.bundles, "production-1-7")
	before, err := os.Stat(filepath.Join(dir, "metadata.json"))
	if err != nil {
		t.Fatal(err)
	}

	// The same apply again, and again with a new manifest time (a retry
	// that built its manifest anew): nothing is rewritten.
	mustApply(t, d, b)
	retry := testBundle("production-1", 7)
	retry.Manifest.Time = testTime.Add(3600e9)
	mustApply(t, newDir(t, path, 0), retry)

	after, err := os.Stat(filepath.Join(dir, "metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Errorf("a repeated apply rewrote %s", dir)
	}
	if got := bundleDirs(t, d); !slices.Equal(got, []string{"production-1-7"}) {
		t.Errorf("bundles = %v; want [production-1-7]", got)
	}
	checkBundle(t, path, b)

	// The same id and token with other files is a bug upstream: refused,
	// and what is served stays.
	other := testBundle("production-1", 7)
	other.Files["metadata.json"] = []byte("{}")
	err = d.Apply(context.Background(), other)
	if err == nil || !strings.Contains(err.Error(), "other contents") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Apply(same id and token, other files) = %v; want an error about other contents naming %s", err, dir)
	}
	checkBundle(t, path, b)
}

func TestDirectoryFencing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "production")
	leader := newDir(t, path, 0)
	deposed := newDir(t, path, 0) // another Target value on the same path
	mustApply(t, leader, testBundle("production-2", 57))

	err := deposed.Apply(context.Background(), testBundle("production-1", 41))
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("Apply(token 41 after 57) = %v; want ErrFenced", err)
	}
	e := asError(t, err)
	if e.Retryable || e.Op != "fencing" {
		t.Errorf("fenced error: Op %q, Retryable %v; want fencing, false", e.Op, e.Retryable)
	}
	want := "directory " + path + ": fencing: fencing token 41 is lower than 57, already accepted"
	if err.Error() != want {
		t.Errorf("error = %q; want %q", err, want)
	}
	var fe *FencedError
	if !errors.As(err, &fe) || fe.Token != 41 || fe.Highest != 57 {
		t.Errorf("FencedError = %+v; want token 41, highest 57", fe)
	}
	if got := served(t, leader).FencingToken; got != 57 {
		t.Errorf("served token = %d after a refused apply; want 57", got)
	}
	if dirs := bundleDirs(t, leader); len(dirs) != 1 {
		t.Errorf("a refused apply left bundles: %v", dirs)
	}

	// An equal token is a retry: accepted, by either Target value, and
	// even with another deployment id.
	mustApply(t, deposed, testBundle("production-2", 57))
	mustApply(t, deposed, testBundle("production-3", 57))
	if got := served(t, leader).DeploymentID; got != "production-3" {
		t.Errorf("served %s; want production-3 (equal token accepted)", got)
	}
	mustApply(t, leader, testBundle("production-4", 58))
	if err := deposed.Apply(context.Background(), testBundle("production-3", 57)); !errors.Is(err, ErrFenced) {
		t.Errorf("Apply(token 57 after 58) = %v; want ErrFenced", err)
	}
}

func TestDirectoryFencingSurvivesLostState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "production")
	d := newDir(t, path, 0)
	mustApply(t, d, testBundle("production-2", 57))
	if err := os.Remove(d.statePath()); err != nil {
		t.Fatal(err)
	}
	// The served manifest still says 57.
	if err := d.Apply(context.Background(), testBundle("production-1", 41)); !errors.Is(err, ErrFenced) {
		t.Fatalf("Apply(41) with state.json gone = %v; want ErrFenced (57 is served)", err)
	}
	// A corrupt state file is an error naming it, not a reset to zero.
	if err := os.WriteFile(d.statePath(), []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := d.Apply(context.Background(), testBundle("production-3", 60))
	if err == nil || !strings.Contains(err.Error(), d.statePath()) || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("Apply with a corrupt state file = %v; want an error naming %s", err, d.statePath())
	}
}

func TestDirectoryRetention(t *testing.T) {
	tests := []struct {
		keep, applies int
	}{
		{keep: 0, applies: 12}, // the default, 5
		{keep: 5, applies: 12},
		{keep: 1, applies: 4},
		{keep: 3, applies: 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("keep=%d", tt.keep), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "production")
			d := newDir(t, path, tt.keep)
			var ids []string
			for i := 1; i <= tt.applies; i++ {
				b := testBundle(fmt.Sprintf("production-%d", i), uint64(100+i))
				mustApply(t, d, b)
				ids = append(ids, b.Manifest.BundleID())
			}
			want := slices.Clone(ids[max(0, len(ids)-d.keep):])
			got := bundleDirs(t, d)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("bundles kept = %v; want the last %d: %v", got, d.keep, want)
			}
			st, err := d.readState()
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Bundles) != len(want) || st.Bundles[len(st.Bundles)-1] != ids[len(ids)-1] {
				t.Errorf("state bundles = %v; want %d ending with the served %s", st.Bundles, len(want), ids[len(ids)-1])
			}
		})
	}
}

func TestDirectoryRetentionKeepsServed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "production")
	d := newDir(t, path, 2)
	for i := 1; i <= 3; i++ {
		mustApply(t, d, testBundle(fmt.Sprintf("production-%d", i), 10))
	}
	// Re-applying an old bundle (equal token) switches back to it and
	// makes it the newest.
	mustApply(t, d, testBundle("production-3", 10))
	mustApply(t, d, testBundle("production-2", 10))
	got := bundleDirs(t, d)
	slices.Sort(got)
	if want := []string{"production-2-10", "production-3-10"}; !slices.Equal(got, want) {
		t.Errorf("bundles = %v; want %v", got, want)
	}
	if served(t, d).DeploymentID != "production-2" {
		t.Errorf("served %s; want production-2", served(t, d).DeploymentID)
	}
	// Leftovers of a crashed apply are cleaned up by the next one.
	stray := filepath.Join(d.bundles, ".tmp-production-9-11-123")
	if err := os.MkdirAll(filepath.Join(stray, "layers"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustApply(t, d, testBundle("production-4", 11))
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Errorf("stray %s still there: %v", stray, err)
	}
}

func TestDirectoryPreexisting(t *testing.T) {
	t.Run("non-empty directory is kept aside", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "production")
		if err := os.MkdirAll(filepath.Join(path, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(path, "sub", "old.json"), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		d := newDir(t, path, 1)
		if m, err := d.Current(context.Background()); m != nil || err != nil {
			t.Errorf("Current() of an unmanaged directory = %v, %v; want nil, nil", m, err)
		}
		for i := 1; i <= 3; i++ {
			mustApply(t, d, testBundle(fmt.Sprintf("production-%d", i), uint64(i)))
		}
		checkBundle(t, path, testBundle("production-3", 3))
		backups, _ := filepath.Glob(filepath.Join(d.area, "preexisting-*"))
		if len(backups) != 1 {
			t.Fatalf("backups = %v; want one preexisting-* directory", backups)
		}
		if data, err := os.ReadFile(filepath.Join(backups[0], "sub", "old.json")); err != nil || string(data) != "old" {
			t.Errorf("backup holds %q, %v; want the old file", data, err)
		}
	})
	t.Run("empty directory is replaced", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "production")
		if err := os.Mkdir(path, 0o755); err != nil {
			t.Fatal(err)
		}
		d := newDir(t, path, 0)
		mustApply(t, d, testBundle("production-1", 1))
		checkBundle(t, path, testBundle("production-1", 1))
		if backups, _ := filepath.Glob(filepath.Join(d.area, "preexisting-*")); len(backups) != 0 {
			t.Errorf("backups = %v; want none for an empty directory", backups)
		}
	})
	t.Run("foreign symlink is replaced", func(t *testing.T) {
		root := t.TempDir()
		path := filepath.Join(root, "production")
		elsewhere := filepath.Join(root, "elsewhere")
		if err := os.Mkdir(elsewhere, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(elsewhere, path); err != nil {
			t.Fatal(err)
		}
		d := newDir(t, path, 0)
		mustApply(t, d, testBundle("production-1", 1))
		checkBundle(t, path, testBundle("production-1", 1))
		if _, err := os.Stat(elsewhere); err != nil {
			t.Errorf("the old link's target is gone: %v", err)
		}
	})
	t.Run("regular file is refused", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "production")
		if err := os.WriteFile(path, []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
		d := newDir(t, path, 0)
		err := d.Apply(context.Background(), testBundle("production-1", 1))
		if err == nil || !strings.Contains(err.Error(), "is not a directory or a symlink") || !strings.HasPrefix(err.Error(), d.String()) {
			t.Fatalf("Apply over a regular file = %v; want a refusal naming the path", err)
		}
		if data, _ := os.ReadFile(path); string(data) != "mine" {
			t.Errorf("the file was changed to %q", data)
		}
		if dirs, _ := filepath.Glob(filepath.Join(d.bundles, "*")); len(dirs) != 0 {
			t.Errorf("a refused apply left bundles %v", dirs)
		}
	})
}

func TestDirectoryUnwritable(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want string
	}{
		{"parent missing", filepath.Join(root, "missing", "production"), "parent directory " + filepath.Join(root, "missing") + " does not exist"},
		{"parent is a file", filepath.Join(file, "production"), "parent " + file + " is not a directory"},
		{"grandparent is a file", filepath.Join(file, "x", "production"), "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDir(t, tt.path, 0)
			err := d.Apply(context.Background(), testBundle("production-1", 1))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "directory "+tt.path+": ") {
				t.Fatalf("Apply = %v; want an error naming %s and containing %q", err, tt.path, tt.want)
			}
			if e := asError(t, err); e.Retryable {
				t.Errorf("Retryable = true for %v", err)
			}
		})
	}
	t.Run("read-only parent", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("running as root: a read-only mode does not stop root from writing (the cases above cover unwritable paths)")
		}
		parent := filepath.Join(root, "ro")
		if err := os.Mkdir(parent, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(parent, 0o755) })
		d := newDir(t, filepath.Join(parent, "production"), 0)
		err := d.Apply(context.Background(), testBundle("production-1", 1))
		if err == nil || !strings.Contains(err.Error(), "permission denied") || !strings.Contains(err.Error(), parent) {
			t.Fatalf("Apply = %v; want permission denied naming %s", err, parent)
		}
	})
}

func TestDirectoryInvalidBundle(t *testing.T) {
	d := newDir(t, filepath.Join(t.TempDir(), "production"), 0)
	b := testBundle("production-1", 1)
	b.Files["../escape.json"] = []byte("{}")
	err := d.Apply(context.Background(), b)
	if err == nil || asError(t, err).Op != "validate bundle" {
		t.Fatalf("Apply(invalid) = %v; want a validate bundle error", err)
	}
	if _, err := os.Stat(d.area); !os.IsNotExist(err) {
		t.Errorf("an invalid bundle created %s", d.area)
	}
}
