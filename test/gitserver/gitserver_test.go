package gitserver

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lsRemote runs `git ls-remote url refs/heads/main` with protocol v0 (as
// go-git speaks it) and the given -c settings, and returns the hash.
func lsRemote(t *testing.T, url string, config ...string) (string, error) {
	t.Helper()
	args := []string{"-c", "protocol.version=0"}
	for _, c := range config {
		args = append(args, "-c", c)
	}
	args = append(args, "ls-remote", url, "refs/heads/"+DefaultBranch)
	out, err := runGit(t.TempDir(), args...)
	if err != nil {
		return "", err
	}
	hash, _, _ := strings.Cut(out, "\t")
	return hash, nil
}

func TestRepoCommitDeleteForcePushNewRoot(t *testing.T) {
	r := NewRepo(t)
	if got := r.Head(); got != "" {
		t.Fatalf("Head() of an empty repo = %q; want \"\"", got)
	}
	c1 := r.Commit(map[string]string{"environments/production/metadata.json": "{}", "a/b.txt": "b"}, "first")
	if got := r.Head(); got != c1 {
		t.Fatalf("Head() = %q; want %q", got, c1)
	}
	c2 := r.Delete("remove a", "a")
	if _, err := os.Stat(filepath.Join(r.WorkTree(), "a", "b.txt")); !os.IsNotExist(err) {
		t.Fatalf("after Delete, a/b.txt: err = %v; want not exist", err)
	}
	c3 := r.Commit(map[string]string{"x": "1", "environments/production/metadata.json": Remove}, "third")
	if c1 == c2 || c2 == c3 {
		t.Fatalf("commits are not distinct: %s %s %s", c1, c2, c3)
	}
	r.ForcePush(c1)
	if got := r.Head(); got != c1 {
		t.Fatalf("after ForcePush(%s), Head() = %q", c1, got)
	}
	root := r.NewRoot(map[string]string{"only.txt": "x"}, "new root")
	if got := r.Head(); got != root {
		t.Fatalf("after NewRoot, Head() = %q; want %q", got, root)
	}
	parents, err := runGit(r.Path(), "rev-list", "--parents", "-n1", root)
	if err != nil {
		t.Fatal(err)
	}
	if parents != root {
		t.Fatalf("NewRoot commit has parents: %q", parents)
	}
	files, err := runGit(r.Path(), "ls-tree", "-r", "--name-only", root)
	if err != nil {
		t.Fatal(err)
	}
	if files != "only.txt" {
		t.Fatalf("NewRoot tree = %q; want only.txt", files)
	}
	// Commits go on from the new root.
	c4 := r.Commit(map[string]string{"y": "1"}, "after root")
	if p, _ := runGit(r.Path(), "rev-parse", c4+"^"); p != root {
		t.Fatalf("parent of %s = %s; want %s", c4, p, root)
	}
}

func TestHashesAreDeterministic(t *testing.T) {
	a, b := NewRepo(t), NewRepo(t)
	files := map[string]string{"f": "1"}
	if ha, hb := a.Commit(files, "m"), b.Commit(files, "m"); ha != hb {
		t.Fatalf("same commits in two repos: %s != %s", ha, hb)
	}
}

func TestDaemonStopStart(t *testing.T) {
	r := NewRepo(t)
	head := r.Commit(map[string]string{"f": "1"}, "m")
	d := StartDaemon(t, r.Root())
	url := d.URL(r.Name())
	if got, err := lsRemote(t, url); err != nil || got != head {
		t.Fatalf("ls-remote %s = %q, %v; want %q", url, got, err, head)
	}
	d.Stop()
	if _, err := lsRemote(t, url); err == nil {
		t.Fatalf("ls-remote %s succeeded after Stop", url)
	}
	d.Start()
	if got, err := lsRemote(t, url); err != nil || got != head {
		t.Fatalf("after Start, ls-remote %s = %q, %v; want %q", url, got, err, head)
	}
}

func TestHTTPRecordsRequests(t *testing.T) {
	r := NewRepo(t)
	head := r.Commit(map[string]string{"f": "1"}, "m")
	s := StartHTTP(t, r.Root())
	if got, err := lsRemote(t, s.URL(r.Name())); err != nil || got != head {
		t.Fatalf("ls-remote = %q, %v; want %q", got, err, head)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || !reqs[0].IsAdvertisement() || reqs[0].Status != http.StatusOK {
		t.Fatalf("requests = %+v; want one advertisement answered 200", reqs)
	}
	if _, err := runGit(t.TempDir(), "-c", "protocol.version=0", "clone", "-q", "--bare", s.URL(r.Name()), "clone.git"); err != nil {
		t.Fatal(err)
	}
	if n := s.CountRequests(Request.IsUploadPack); n != 1 {
		t.Fatalf("after a clone, %d upload-pack requests; want 1: %+v", n, s.Requests())
	}
	s.ResetRequests()
	if n := len(s.Requests()); n != 0 {
		t.Fatalf("after ResetRequests, %d requests", n)
	}
}

func TestHTTPAuth(t *testing.T) {
	r := NewRepo(t)
	r.Commit(map[string]string{"f": "1"}, "m")
	basic := StartHTTP(t, r.Root(), WithBasicAuth("alice", "s3cret"))
	if _, err := lsRemote(t, basic.URL(r.Name())); err == nil {
		t.Fatal("ls-remote without credentials succeeded")
	}
	if got := basic.Requests()[0].Status; got != http.StatusUnauthorized {
		t.Fatalf("status without credentials = %d; want 401", got)
	}
	withCreds := strings.Replace(basic.URL(r.Name()), "http://", "http://alice:s3cret@", 1)
	if _, err := lsRemote(t, withCreds); err != nil {
		t.Fatalf("ls-remote with credentials: %v", err)
	}
	bearer := StartHTTP(t, r.Root(), WithBearerToken("tok"))
	if _, err := lsRemote(t, bearer.URL(r.Name())); err == nil {
		t.Fatal("ls-remote without a token succeeded")
	}
	if _, err := lsRemote(t, bearer.URL(r.Name()),
		"http.extraHeader=Authorization: Bearer tok"); err != nil {
		t.Fatalf("ls-remote with the token: %v", err)
	}
}

func TestBlackholeAccepts(t *testing.T) {
	addr := StartBlackhole(t)
	if err := waitAccepting(addr, nil); err != nil {
		t.Fatal(err)
	}
}
