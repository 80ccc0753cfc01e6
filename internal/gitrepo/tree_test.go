package gitrepo

import (
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/honua-io/honua-gitops/test/gitserver"
)

// fetched returns a Repo that has fetched remote over a plain path.
func fetched(t *testing.T, remote *gitserver.Repo) *Repo {
	t.Helper()
	r := open(t, remote.Path())
	mustFetch(t, r)
	return r
}

func TestFSReadsFilesAtACommit(t *testing.T) {
	remote := gitserver.NewRepo(t)
	first := remote.Commit(sampleFiles(), "first")
	second := remote.Commit(map[string]string{
		"environments/production/metadata.json": `{"v":2}`,
		"environments/staging/metadata.json":    gitserver.Remove,
	}, "second")
	r := fetched(t, remote)

	at1, err := r.FS(first)
	if err != nil {
		t.Fatal(err)
	}
	want := sampleFiles()
	for name, content := range want {
		b, err := fs.ReadFile(at1, name)
		if err != nil || string(b) != content {
			t.Fatalf("ReadFile(%q) at first = %q, %v; want %q", name, b, err, content)
		}
	}
	var names []string
	for name := range want {
		names = append(names, name)
	}
	if err := fstest.TestFS(at1, names...); err != nil {
		t.Fatal(err)
	}

	at2, err := r.FS(second)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := fs.ReadFile(at2, "environments/production/metadata.json"); err != nil || string(b) != `{"v":2}` {
		t.Fatalf("metadata.json at second = %q, %v", b, err)
	}
	if _, err := fs.ReadFile(at2, "environments/staging/metadata.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a deleted file at second: err = %v; want fs.ErrNotExist", err)
	}
	// The first commit's view is unchanged.
	if b, _ := fs.ReadFile(at1, "environments/production/metadata.json"); string(b) != want["environments/production/metadata.json"] {
		t.Fatalf("metadata.json at first changed to %q", b)
	}

	envs, err := fs.ReadDir(at2, "environments")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range envs {
		if !e.IsDir() {
			t.Fatalf("%s is not a directory", e.Name())
		}
		got = append(got, e.Name())
	}
	if want := "common development production staging"; strings.Join(got, " ") != want {
		t.Fatalf("ReadDir(environments) = %q; want %q", strings.Join(got, " "), want)
	}

	info, err := fs.Stat(at1, "environments/production/metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() != int64(len(want["environments/production/metadata.json"])) || info.IsDir() {
		t.Fatalf("Stat = size %d, dir %v", info.Size(), info.IsDir())
	}
	if !info.ModTime().Equal(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("ModTime = %v; want the commit time", info.ModTime())
	}

	for _, bad := range []string{"/environments", "../x", "environments/", "environments/production/metadata.json/x"} {
		if _, err := at1.Open(bad); err == nil {
			t.Fatalf("Open(%q) succeeded", bad)
		}
	}
	if _, err := fs.ReadFile(at1, "environments"); err == nil {
		t.Fatal("ReadFile of a directory succeeded")
	}
	f, err := at1.Open("environments")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Read(make([]byte, 1)); err == nil {
		t.Fatal("Read of a directory succeeded")
	}
	d := f.(fs.ReadDirFile)
	if first, err := d.ReadDir(1); err != nil || len(first) != 1 || first[0].Name() != "common" {
		t.Fatalf("ReadDir(1) = %v, %v; want [common]", first, err)
	}
	if rest, err := d.ReadDir(10); err != nil || len(rest) != 3 {
		t.Fatalf("ReadDir(10) = %v, %v; want 3 entries", rest, err)
	}
	if rest, err := d.ReadDir(1); err != io.EOF || len(rest) != 0 {
		t.Fatalf("ReadDir(1) at the end = %v, %v; want io.EOF", rest, err)
	}
}

func TestFSMissingCommit(t *testing.T) {
	remote := gitserver.NewRepo(t)
	remote.Commit(sampleFiles(), "first")
	r := fetched(t, remote)
	if _, err := r.FS("0123456789012345678901234567890123456789"); !errors.Is(err, ErrCommitNotFound) {
		t.Fatalf("FS(unknown) err = %v; want ErrCommitNotFound", err)
	}
	if _, err := r.FS("HEAD"); !errors.Is(err, ErrInvalidHash) {
		t.Fatalf("FS(HEAD) err = %v; want ErrInvalidHash", err)
	}
	if r.Has("HEAD") || r.Has("") {
		t.Fatal("Has accepted a name that is not a hash")
	}
}

func TestFSSymlink(t *testing.T) {
	remote := gitserver.NewRepo(t)
	remote.Commit(map[string]string{"a.json": "{}"}, "first")
	remote.Symlink("link.json", "a.json", "link")
	r := fetched(t, remote)
	fsys, err := r.FS(remote.Head())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.ReadFile(fsys, "link.json"); !errors.Is(err, fs.ErrInvalid) {
		t.Fatalf("ReadFile(a symlink) err = %v; want fs.ErrInvalid (links are not followed)", err)
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil || len(entries) != 2 || entries[1].Type() != fs.ModeSymlink {
		t.Fatalf("ReadDir(.) = %v, %v; want a.json and the link", entries, err)
	}
}

func TestChanged(t *testing.T) {
	remote := gitserver.NewRepo(t)
	c1 := remote.Commit(sampleFiles(), "first")
	c2 := remote.Commit(map[string]string{"environments/staging/metadata.json": `{"v":2}`}, "staging only")
	c3 := remote.Commit(map[string]string{".gitops/deployment-policy.yaml": "changed: true\n"}, "policy")
	c4 := remote.Commit(map[string]string{"environments/production/nested/deep/a.json": `{"a":2}`}, "deep production")
	c5 := remote.Delete("drop common", "environments/common")
	c6 := remote.Commit(map[string]string{"environments/production/new.json": `{}`}, "add a production file")
	c7 := remote.Commit(map[string]string{"README.md": "# config\n"}, "outside environments")
	r := fetched(t, remote)

	const prod, staging, common, policy = "environments/production", "environments/staging", "environments/common", ".gitops/deployment-policy.yaml"
	for _, tc := range []struct {
		name     string
		from, to string
		paths    []string
		want     bool
	}{
		{"same commit", c1, c1, []string{prod, common, policy}, false},
		{"staging edit, production view", c1, c2, []string{prod, common, policy}, false},
		{"staging edit, staging view", c1, c2, []string{staging, common, policy}, true},
		{"policy edit, production view", c2, c3, []string{prod, common}, false},
		{"policy edit, policy file", c2, c3, []string{prod, common, policy}, true},
		{"deep file in production", c3, c4, []string{prod}, true},
		{"deep file, staging view", c3, c4, []string{staging, common, policy}, false},
		{"common deleted", c4, c5, []string{common}, true},
		{"common deleted, production dir", c4, c5, []string{prod}, false},
		{"file added to production", c5, c6, []string{prod}, true},
		{"over several commits", c1, c4, []string{prod}, true},
		{"backwards", c4, c1, []string{prod}, true},
		{"path absent in both", c1, c7, []string{"environments/qa"}, false},
		{"file path", c3, c4, []string{"environments/production/nested/deep/a.json"}, true},
		{"path through a file", c3, c4, []string{policy + "/x"}, false},
		{"trailing and leading slashes", c3, c4, []string{"/environments/production/"}, true},
		{"outside environments", c6, c7, []string{"environments", policy}, false},
		{"no paths: whole tree", c6, c7, nil, true},
		{"root path", c6, c7, []string{"."}, true},
		{"from nothing", "", c1, []string{prod}, true},
		{"from nothing, absent path", "", c1, []string{"environments/qa"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Changed(tc.from, tc.to, tc.paths...)
			if err != nil {
				t.Fatalf("Changed(%.7s, %.7s, %q): %v", tc.from, tc.to, tc.paths, err)
			}
			if got != tc.want {
				t.Fatalf("Changed(%.7s, %.7s, %q) = %v; want %v", tc.from, tc.to, tc.paths, got, tc.want)
			}
		})
	}

	if _, err := r.Changed(c1, "0123456789012345678901234567890123456789", prod); !errors.Is(err, ErrCommitNotFound) {
		t.Fatalf("Changed(to an unknown commit) err = %v; want ErrCommitNotFound", err)
	}
	if _, err := r.Changed(c1, c2, "../etc"); err == nil {
		t.Fatal("Changed accepted ../etc")
	}
}

func TestCommitInfo(t *testing.T) {
	remote := gitserver.NewRepo(t)
	remote.Commit(sampleFiles(), "first")
	second := remote.Commit(map[string]string{"x": "1"}, "Update production layers\n\nA longer body.")
	r := fetched(t, remote)
	got, err := r.Commit(second)
	if err != nil {
		t.Fatal(err)
	}
	want := CommitInfo{
		Hash:    second,
		Author:  gitserver.AuthorName,
		Email:   gitserver.AuthorEmail,
		Time:    time.Date(2026, 1, 5, 9, 1, 0, 0, time.UTC),
		Subject: "Update production layers",
	}
	if got.Hash != want.Hash || got.Author != want.Author || got.Email != want.Email ||
		!got.Time.Equal(want.Time) || got.Subject != want.Subject {
		t.Fatalf("Commit(%s) = %+v; want %+v", second, got, want)
	}
	if _, err := r.Commit("0123456789012345678901234567890123456789"); !errors.Is(err, ErrCommitNotFound) {
		t.Fatalf("Commit(unknown) err = %v; want ErrCommitNotFound", err)
	}
}
