package gitserver

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The identity and branch of every commit a Repo makes. Commit dates start
// at a fixed time and advance a minute per commit, so a sequence of commits
// has the same hashes in every run.
const (
	AuthorName    = "Honua Test"
	AuthorEmail   = "test@honua.invalid"
	DefaultBranch = "main"
)

// Remove, as the value of an entry given to Commit, deletes that file.
const Remove = "\x00gitserver:remove\x00"

// gitTimeout bounds every git command a helper runs.
const gitTimeout = time.Minute

// firstCommitTime is the author and committer date of a Repo's first commit.
var firstCommitTime = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// Repo is a configuration repository: a bare repository, which the servers
// of this package export, and a work tree that Commit writes to and pushes
// from. Its methods fail the test on any error.
type Repo struct {
	t    testing.TB
	root string // the directory the servers export; holds the bare repo
	name string // the bare repo's name under root, e.g. "config.git"
	bare string
	work string

	mu      sync.Mutex
	commits int
}

// RequireGit skips the test, loudly, when git is not on PATH.
func RequireGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		msg := "gitserver: git is not on PATH; these tests need the git CLI " +
			"(Debian package \"git\": apt-get install git)"
		fmt.Fprintln(os.Stderr, "SKIP:", msg)
		t.Skip(msg)
	}
}

// NewRepo makes an empty repository named config.git in a directory of its
// own (Root), with branch main and no commits yet.
func NewRepo(t testing.TB) *Repo {
	t.Helper()
	return NewRepoIn(t, t.TempDir(), "config.git")
}

// NewRepoIn makes an empty repository named name (e.g. "config.git") under
// root, so that several repositories can be served by one server.
func NewRepoIn(t testing.TB, root, name string) *Repo {
	t.Helper()
	RequireGit(t)
	r := &Repo{
		t:    t,
		root: root,
		name: name,
		bare: filepath.Join(root, filepath.FromSlash(name)),
		work: t.TempDir(),
	}
	r.git(root, "init", "-q", "--bare", "-b", DefaultBranch, r.bare)
	r.git(r.work, "init", "-q", "-b", DefaultBranch, ".")
	r.git(r.work, "remote", "add", "origin", r.bare)
	return r
}

// Root is the directory to serve (StartDaemon, StartHTTP).
func (r *Repo) Root() string { return r.root }

// Name is the repository's path under Root, the last part of its URLs.
func (r *Repo) Name() string { return r.name }

// Path is the bare repository's path: a plain local path URL.
func (r *Repo) Path() string { return r.bare }

// FileURL is the repository's file:// URL.
func (r *Repo) FileURL() string { return "file://" + filepath.ToSlash(r.bare) }

// WorkTree is the directory commits are made in.
func (r *Repo) WorkTree() string { return r.work }

// Commit writes files (path → content; the value Remove deletes the file)
// in the work tree, commits them with the fixed author, pushes the commit
// to the branch and returns its hash. A commit that changes nothing is
// still made.
func (r *Repo) Commit(files map[string]string, message string) string {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.write(files)
	return r.commitAndPush(message)
}

// Delete commits the removal of paths (files or directories) and returns
// the commit's hash.
func (r *Repo) Delete(message string, paths ...string) string {
	r.t.Helper()
	files := make(map[string]string, len(paths))
	for _, p := range paths {
		files[p] = Remove
	}
	return r.Commit(files, message)
}

// Symlink commits a symbolic link name → target and returns the commit's
// hash.
func (r *Repo) Symlink(name, target, message string) string {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	p := filepath.Join(r.work, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatalf("gitserver: symlink %s: %v", name, err)
	}
	if err := os.Symlink(target, p); err != nil {
		r.t.Fatalf("gitserver: symlink %s: %v", name, err)
	}
	return r.commitAndPush(message)
}

// NewRoot replaces the branch with a new history of one root commit holding
// exactly files, force-pushes it and returns its hash: a history unrelated
// to the old one, as after a rewrite.
func (r *Repo) NewRoot(files map[string]string, message string) string {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	tmp := fmt.Sprintf("gitserver-root-%d", r.commits)
	r.git(r.work, "checkout", "-q", "--orphan", tmp)
	r.git(r.work, "rm", "-rqf", "--ignore-unmatch", ".")
	r.write(files)
	hash := r.commitAndPush(message)
	r.git(r.work, "branch", "-q", "-M", tmp, DefaultBranch)
	return hash
}

// CommitOnBranch commits files on branch, made from the default branch's
// head (or moved on from the branch's own head when it exists), pushes it,
// and returns its hash; the work tree goes back to the default branch, which
// is left as it was. A pull request's branch, say.
func (r *Repo) CommitOnBranch(branch string, files map[string]string, message string) string {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := runGit(r.work, "rev-parse", "--verify", "-q", "refs/heads/"+branch); err == nil {
		r.git(r.work, "checkout", "-q", branch)
	} else {
		r.git(r.work, "checkout", "-q", "-b", branch)
	}
	r.write(files)
	date := firstCommitTime.Add(time.Duration(r.commits) * time.Minute)
	r.commits++
	stamp := fmt.Sprintf("@%d +0000", date.Unix())
	r.git(r.work, "add", "-A")
	r.gitEnv(r.work, []string{"GIT_AUTHOR_DATE=" + stamp, "GIT_COMMITTER_DATE=" + stamp},
		"commit", "-q", "--allow-empty", "--no-verify", "-m", message)
	hash := r.git(r.work, "rev-parse", "HEAD")
	r.git(r.work, "push", "-q", "--force", "origin", "HEAD:refs/heads/"+branch)
	r.git(r.work, "checkout", "-q", DefaultBranch)
	return hash
}

// ForcePush moves the branch to commit to (an older commit, say) in the
// work tree and on the remote, as `git reset --hard` and `git push --force`.
func (r *Repo) ForcePush(to string) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.git(r.work, "reset", "-q", "--hard", to)
	r.git(r.work, "push", "-q", "--force", "origin", "HEAD:refs/heads/"+DefaultBranch)
}

// Head returns the branch's commit in the bare repository, or "" before the
// first commit.
func (r *Repo) Head() string {
	r.t.Helper()
	out, err := runGit(r.bare, "rev-parse", "--verify", "-q", "refs/heads/"+DefaultBranch)
	if err != nil {
		return ""
	}
	return out
}

// write applies files to the work tree.
func (r *Repo) write(files map[string]string) {
	r.t.Helper()
	for name, content := range files {
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			r.t.Fatalf("gitserver: commit %q: not a relative path inside the repository", name)
		}
		p := filepath.Join(r.work, filepath.FromSlash(name))
		if content == Remove {
			if err := os.RemoveAll(p); err != nil {
				r.t.Fatalf("gitserver: remove %s: %v", name, err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatalf("gitserver: write %s: %v", name, err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatalf("gitserver: write %s: %v", name, err)
		}
	}
}

// commitAndPush commits everything in the work tree with the next fixed
// date and pushes it over the branch. The caller holds r.mu.
func (r *Repo) commitAndPush(message string) string {
	r.t.Helper()
	date := firstCommitTime.Add(time.Duration(r.commits) * time.Minute)
	r.commits++
	stamp := fmt.Sprintf("@%d +0000", date.Unix())
	r.git(r.work, "add", "-A")
	r.gitEnv(r.work, []string{"GIT_AUTHOR_DATE=" + stamp, "GIT_COMMITTER_DATE=" + stamp},
		"commit", "-q", "--allow-empty", "--no-verify", "-m", message)
	hash := r.git(r.work, "rev-parse", "HEAD")
	r.git(r.work, "push", "-q", "--force", "origin", "HEAD:refs/heads/"+DefaultBranch)
	return hash
}

func (r *Repo) git(dir string, args ...string) string {
	r.t.Helper()
	return r.gitEnv(dir, nil, args...)
}

func (r *Repo) gitEnv(dir string, env []string, args ...string) string {
	r.t.Helper()
	out, err := runGitEnv(dir, env, args...)
	if err != nil {
		r.t.Fatalf("gitserver: %v", err)
	}
	return out
}

// runGit runs git in dir under a timeout and returns its trimmed output.
func runGit(dir string, args ...string) (string, error) {
	return runGitEnv(dir, nil, args...)
}

func runGitEnv(dir string, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), gitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(GitEnviron(), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s (in %s): %w: %s", strings.Join(args, " "), dir, err,
			strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// GitEnviron is the environment of every git process: the test's, less any
// GIT_* variable, with the machine's and user's git configuration ignored
// and the fixed identity set. The bench commands run git with it too.
func GitEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME="+AuthorName,
		"GIT_AUTHOR_EMAIL="+AuthorEmail,
		"GIT_COMMITTER_NAME="+AuthorName,
		"GIT_COMMITTER_EMAIL="+AuthorEmail,
	)
}
