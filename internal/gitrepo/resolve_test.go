package gitrepo

import (
	"context"
	"errors"
	"testing"

	"github.com/honua-io/honua-gitops/test/gitserver"
)

// TestResolve: a branch other than the watched one is fetched apart from
// it and resolved to its head; a commit on no fetched branch is found by
// fetching every branch; the watched branch resolves as Fetch does; a
// missing branch or commit and a ref that is neither are refused with
// their own errors.
func TestResolve(t *testing.T) {
	remote := gitserver.NewRepo(t)
	main := remote.Commit(sampleFiles(), "first")
	pr := remote.CommitOnBranch("feature/srid", map[string]string{"environments/staging/appsettings.json": `{"x":1}`}, "on a branch")
	other := remote.CommitOnBranch("other", map[string]string{"environments/staging/appsettings.json": `{"x":2}`}, "another branch")
	daemon := gitserver.StartDaemon(t, remote.Root())
	r := open(t, daemon.URL(remote.Name()))
	ctx := context.Background()

	for _, ref := range []string{"feature/srid", "refs/heads/feature/srid"} {
		got, err := r.Resolve(ctx, ref)
		if err != nil || got != pr {
			t.Fatalf("Resolve(%q) = %q, %v; want %s", ref, got, err, pr)
		}
	}
	if !r.Has(pr) {
		t.Errorf("Has(%s) = false after resolving its branch", pr)
	}
	if got, err := r.Resolve(ctx, other); err != nil || got != other {
		t.Fatalf("Resolve(commit %s) = %q, %v; want it found on its branch", other, got, err)
	}
	if got, err := r.Resolve(ctx, gitserver.DefaultBranch); err != nil || got != main {
		t.Fatalf("Resolve(%q) = %q, %v; want the watched head %s", gitserver.DefaultBranch, got, err, main)
	}
	if head := mustFetch(t, r); head != main {
		t.Errorf("the watched branch is at %s after resolving others; want %s", head, main)
	}
	for _, tc := range []struct {
		ref  string
		want error
	}{
		{"no-such-branch", ErrBranchNotFound},
		{"0123456789012345678901234567890123456789", ErrCommitNotFound},
		{"main:refs/heads/evil", ErrInvalidRef},
		{"+refs/heads/*", ErrInvalidRef},
		{"../x", ErrInvalidRef},
		{"-n", ErrInvalidRef},
		{"", ErrInvalidRef},
		{"abc123", ErrBranchNotFound}, // an abbreviated hash is a branch name
	} {
		if got, err := r.Resolve(ctx, tc.ref); !errors.Is(err, tc.want) {
			t.Errorf("Resolve(%q) = %q, %v; want %v", tc.ref, got, err, tc.want)
		}
	}
}
