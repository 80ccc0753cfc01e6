package gitrepo

import (
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/honua-io/honua-gitops/test/gitserver"
)

// TestHeadAndFetchOverEveryTransport checks that Head and Fetch agree with
// the remote over each kind of URL, and that a new commit is found.
func TestHeadAndFetchOverEveryTransport(t *testing.T) {
	remote := gitserver.NewRepo(t)
	first := remote.Commit(sampleFiles(), "first")
	daemon := gitserver.StartDaemon(t, remote.Root())
	web := gitserver.StartHTTP(t, remote.Root())
	for _, tc := range []struct{ name, url string }{
		{"git", daemon.URL(remote.Name())},
		{"http", web.URL(remote.Name())},
		{"file", remote.FileURL()},
		{"path", remote.Path()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := open(t, tc.url)
			if got := mustHead(t, r); got != remote.Head() {
				t.Fatalf("Head() = %s; want %s", got, remote.Head())
			}
			if r.Has(remote.Head()) {
				t.Fatalf("Has(%s) before any fetch", remote.Head())
			}
			if got := mustFetch(t, r); got != remote.Head() {
				t.Fatalf("Fetch() = %s; want %s", got, remote.Head())
			}
			if !r.Has(first) {
				t.Fatalf("Has(%s) = false after Fetch", first)
			}
			// Nothing new: the same head, no error.
			if got := mustFetch(t, r); got != remote.Head() {
				t.Fatalf("second Fetch() = %s; want %s", got, remote.Head())
			}
			next := remote.Commit(map[string]string{"environments/staging/appsettings.json": `{"x":"` + tc.name + `"}`}, "next "+tc.name)
			if got := mustHead(t, r); got != next {
				t.Fatalf("Head() after a commit = %s; want %s", got, next)
			}
			if r.Has(next) {
				t.Fatalf("Has(%s) before fetching it", next)
			}
			if got := mustFetch(t, r); got != next {
				t.Fatalf("Fetch() after a commit = %s; want %s", got, next)
			}
			if !r.Has(next) || !r.Has(first) {
				t.Fatalf("after the second fetch Has(next) = %v, Has(first) = %v; want both", r.Has(next), r.Has(first))
			}
		})
	}
}

// TestPollWithoutChangeDoesNotFetch proves from the server's request log
// that Head is the ls-remote step only, and that a Fetch with nothing new
// does not ask for a pack.
func TestPollWithoutChangeDoesNotFetch(t *testing.T) {
	remote := gitserver.NewRepo(t)
	remote.Commit(sampleFiles(), "first")
	web := gitserver.StartHTTP(t, remote.Root())
	r := open(t, web.URL(remote.Name()))
	mustFetch(t, r)
	if n := web.CountRequests(gitserver.Request.IsUploadPack); n != 1 {
		t.Fatalf("first Fetch made %d upload-pack requests; want 1: %+v", n, web.Requests())
	}

	web.ResetRequests()
	for i := 0; i < 3; i++ {
		if got := mustHead(t, r); got != remote.Head() {
			t.Fatalf("Head() = %s; want %s", got, remote.Head())
		}
	}
	reqs := web.Requests()
	if len(reqs) != 3 {
		t.Fatalf("3 polls made %d requests; want 3 advertisements: %+v", len(reqs), reqs)
	}
	for _, req := range reqs {
		if !req.IsAdvertisement() {
			t.Fatalf("a poll made %s %s?%s; want only GET info/refs?service=git-upload-pack", req.Method, req.Path, req.Query)
		}
	}

	web.ResetRequests()
	mustFetch(t, r)
	if n := web.CountRequests(gitserver.Request.IsUploadPack); n != 0 {
		t.Fatalf("a Fetch with nothing new made %d upload-pack requests; want 0: %+v", n, web.Requests())
	}
}

func TestHTTPAuth(t *testing.T) {
	remote := gitserver.NewRepo(t)
	remote.Commit(sampleFiles(), "first")
	const password, token = "pa55-w0rd-Secret", "tok-3xyz-Secret"
	basic := gitserver.StartHTTP(t, remote.Root(), gitserver.WithBasicAuth("alice", password))
	bearer := gitserver.StartHTTP(t, remote.Root(), gitserver.WithBearerToken(token))

	t.Run("basic", func(t *testing.T) {
		t.Setenv("GIT_USER", "alice")
		r := open(t, basic.URL(remote.Name()), func(c *Config) {
			c.Auth = Auth{UsernameEnv: "GIT_USER", PasswordFile: writeSecret(t, password)}
		})
		if got := mustFetch(t, r); got != remote.Head() {
			t.Fatalf("Fetch() = %s; want %s", got, remote.Head())
		}
	})
	t.Run("basic user from url", func(t *testing.T) {
		t.Setenv("GIT_PASSWORD", password)
		url := strings.Replace(basic.URL(remote.Name()), "http://", "http://alice@", 1)
		r := open(t, url, func(c *Config) { c.Auth = Auth{PasswordEnv: "GIT_PASSWORD"} })
		mustHead(t, r)
	})
	t.Run("bearer", func(t *testing.T) {
		r := open(t, bearer.URL(remote.Name()), func(c *Config) { c.Auth = Auth{TokenFile: writeSecret(t, token)} })
		if got := mustFetch(t, r); got != remote.Head() {
			t.Fatalf("Fetch() = %s; want %s", got, remote.Head())
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		r := open(t, basic.URL(remote.Name()))
		_, err := r.Head(ctx(t))
		if !errors.Is(err, transport.ErrAuthenticationRequired) {
			t.Fatalf("Head() without credentials: err = %v; want ErrAuthenticationRequired", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		const wrong = "wr0ng-Pa55word"
		r := open(t, basic.URL(remote.Name()), func(c *Config) {
			c.Auth = Auth{Username: "alice", PasswordFile: writeSecret(t, wrong)}
		})
		for name, call := range map[string]func(context.Context) (string, error){"Head": r.Head, "Fetch": r.Fetch} {
			_, err := call(ctx(t))
			if !errors.Is(err, transport.ErrAuthenticationRequired) {
				t.Fatalf("%s() with a wrong password: err = %v; want ErrAuthenticationRequired", name, err)
			}
			msg := err.Error()
			if strings.Contains(msg, wrong) || strings.Contains(msg, password) {
				t.Fatalf("%s() error carries the password: %s", name, msg)
			}
			for e := error(err); e != nil; e = errors.Unwrap(e) {
				if strings.Contains(e.Error(), wrong) {
					t.Fatalf("%s(): an unwrapped error carries the password: %s", name, e)
				}
			}
			if !strings.Contains(msg, basic.URL(remote.Name())) {
				t.Fatalf("%s() error does not name the URL: %s", name, msg)
			}
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		r := open(t, bearer.URL(remote.Name()), func(c *Config) { c.Auth = Auth{TokenFile: writeSecret(t, "n0t-the-T0ken")} })
		_, err := r.Fetch(ctx(t))
		if err == nil || strings.Contains(err.Error(), "n0t-the-T0ken") {
			t.Fatalf("Fetch() with a wrong token: err = %v; want an error without the token", err)
		}
	})
}

// TestForcePushIsFollowed rewrites the branch to an unrelated history: the
// local branch follows, and the old commits stay readable.
func TestForcePushIsFollowed(t *testing.T) {
	remote := gitserver.NewRepo(t)
	first := remote.Commit(sampleFiles(), "first")
	second := remote.Commit(map[string]string{"environments/production/metadata.json": `{"v":2}`}, "second")
	daemon := gitserver.StartDaemon(t, remote.Root())
	r := open(t, daemon.URL(remote.Name()))
	mustFetch(t, r)

	root := remote.NewRoot(map[string]string{"environments/production/metadata.json": `{"rewritten":true}`}, "rewrite")
	if got := mustFetch(t, r); got != root {
		t.Fatalf("Fetch() after a rewrite = %s; want %s", got, root)
	}
	fsys, err := r.FS(root)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := fsys.(interface{ ReadFile(string) ([]byte, error) }).ReadFile("environments/production/metadata.json"); err != nil || string(b) != `{"rewritten":true}` {
		t.Fatalf("metadata.json at the new root = %q, %v", b, err)
	}
	for _, old := range []string{first, second} {
		if !r.Has(old) {
			t.Fatalf("Has(%s) = false after a force-push; the old commit must stay readable", old)
		}
	}
	old, err := r.FS(second)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := old.(interface{ ReadFile(string) ([]byte, error) }).ReadFile("environments/production/metadata.json"); err != nil || string(b) != `{"v":2}` {
		t.Fatalf("metadata.json at the old commit = %q, %v", b, err)
	}

	// Back to an older commit the clone already holds: nothing to download,
	// but the branch must still move.
	remote.ForcePush(first)
	if got := mustFetch(t, r); got != first {
		t.Fatalf("Fetch() after a force-push back = %s; want %s", got, first)
	}
}

// TestRemoteGoesAwayAndReturns stops the daemon: Head and Fetch fail fast
// with an error naming the URL, then recover when it is back.
func TestRemoteGoesAwayAndReturns(t *testing.T) {
	remote := gitserver.NewRepo(t)
	remote.Commit(sampleFiles(), "first")
	daemon := gitserver.StartDaemon(t, remote.Root())
	url := daemon.URL(remote.Name())
	r := open(t, url, func(c *Config) { c.Timeout = 5 * time.Second })
	mustFetch(t, r)

	daemon.Stop()
	for name, call := range map[string]func(context.Context) (string, error){"Head": r.Head, "Fetch": r.Fetch} {
		start := time.Now()
		_, err := call(context.Background())
		if err == nil {
			t.Fatalf("%s() with the daemon stopped succeeded", name)
		}
		if took := time.Since(start); took > 5*time.Second+time.Second {
			t.Fatalf("%s() took %v; want within the 5s timeout", name, took)
		}
		if !strings.Contains(err.Error(), url) {
			t.Fatalf("%s() error does not name %s: %v", name, url, err)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("%s() error = %v; want ECONNREFUSED reachable", name, err)
		}
	}

	next := remote.Commit(map[string]string{"x": "1"}, "while away")
	daemon.Start()
	if got := mustFetch(t, r); got != next {
		t.Fatalf("Fetch() after the daemon came back = %s; want %s", got, next)
	}
}

// TestTimeout points the Repo at a server that accepts and never answers:
// every call gives up at the timeout, with DeadlineExceeded reachable.
func TestTimeout(t *testing.T) {
	addr := gitserver.StartBlackhole(t)
	const timeout = 300 * time.Millisecond
	for _, url := range []string{"git://" + addr + "/config.git", "http://" + addr + "/config.git"} {
		r := open(t, url, func(c *Config) { c.Timeout = timeout })
		for name, call := range map[string]func(context.Context) (string, error){"Head": r.Head, "Fetch": r.Fetch} {
			start := time.Now()
			_, err := call(context.Background())
			took := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s() on %s: err = %v; want DeadlineExceeded", name, url, err)
			}
			if took > timeout+2*time.Second {
				t.Fatalf("%s() on %s took %v; want about %v", name, url, took, timeout)
			}
			if !strings.Contains(err.Error(), "no answer within 300ms") || !strings.Contains(err.Error(), url) {
				t.Fatalf("%s() error = %q; want it to name the URL and the timeout", name, err)
			}
		}
	}
}

func TestCallerCancel(t *testing.T) {
	addr := gitserver.StartBlackhole(t)
	r := open(t, "git://"+addr+"/config.git")
	c, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Head(c)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "stopped by the caller") {
		t.Fatalf("Head() with a canceled context: err = %v; want context.Canceled", err)
	}
}

func TestMissingBranchAndRepository(t *testing.T) {
	remote := gitserver.NewRepo(t)
	daemon := gitserver.StartDaemon(t, remote.Root())
	web := gitserver.StartHTTP(t, remote.Root())

	// An empty repository has no branch yet.
	for _, url := range []string{daemon.URL(remote.Name()), remote.FileURL()} {
		r := open(t, url)
		for name, call := range map[string]func(context.Context) (string, error){"Head": r.Head, "Fetch": r.Fetch} {
			if _, err := call(ctx(t)); !errors.Is(err, ErrBranchNotFound) {
				t.Fatalf("%s() on the empty %s: err = %v; want ErrBranchNotFound", name, url, err)
			}
		}
	}

	remote.Commit(sampleFiles(), "first")
	for _, url := range []string{daemon.URL(remote.Name()), web.URL(remote.Name()), remote.Path()} {
		r := open(t, url, func(c *Config) { c.Branch = "release" })
		for name, call := range map[string]func(context.Context) (string, error){"Head": r.Head, "Fetch": r.Fetch} {
			_, err := call(ctx(t))
			if !errors.Is(err, ErrBranchNotFound) || !strings.Contains(err.Error(), `"release"`) {
				t.Fatalf("%s() of branch release on %s: err = %v; want ErrBranchNotFound naming it", name, url, err)
			}
		}
	}

	for _, url := range []string{daemon.URL("missing.git"), web.URL("missing.git"), remote.Root() + "/missing.git"} {
		r := open(t, url)
		_, err := r.Head(ctx(t))
		if !errors.Is(err, transport.ErrRepositoryNotFound) {
			t.Fatalf("Head() on %s: err = %v; want ErrRepositoryNotFound", url, err)
		}
	}
}

// TestConcurrentUse runs fetches, polls and reads at once (for -race).
func TestConcurrentUse(t *testing.T) {
	remote := gitserver.NewRepo(t)
	first := remote.Commit(sampleFiles(), "first")
	daemon := gitserver.StartDaemon(t, remote.Root())
	r := open(t, daemon.URL(remote.Name()))
	mustFetch(t, r)
	remote.Commit(map[string]string{"environments/production/metadata.json": `{"v":2}`}, "second")

	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 4; i++ {
		wg.Add(3)
		go func() {
			defer wg.Done()
			if _, err := r.Fetch(context.Background()); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := r.Head(context.Background()); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			fsys, err := r.FS(first)
			if err == nil {
				_, err = fsys.Open("environments/production/metadata.json")
			}
			if err == nil {
				_, err = r.Changed(first, first, "environments")
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := mustFetch(t, r); got != remote.Head() {
		t.Fatalf("Fetch() = %s; want %s", got, remote.Head())
	}
}

// TestReopenKeepsClone opens the same directory twice: the second Repo
// reads what the first fetched.
func TestReopenKeepsClone(t *testing.T) {
	remote := gitserver.NewRepo(t)
	head := remote.Commit(sampleFiles(), "first")
	r := open(t, remote.Path())
	mustFetch(t, r)
	again, err := Open(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Has(head) {
		t.Fatalf("a reopened clone lacks %s", head)
	}
}
