package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// ErrInvalidRef is returned by Resolve for a ref that is neither a full
// commit hash nor a branch name it accepts.
var ErrInvalidRef = errors.New("not a branch name or a full commit hash")

// previewRefs is where Resolve keeps the branches it fetches, apart from the
// watched branch, which they never move.
const previewRefs = "refs/honua/preview/"

// branchName is the subset of git's branch names Resolve accepts: no
// refspec syntax (":", "*", "+", "^", "~"), no "..", no control characters
// or spaces, nothing git itself would refuse at either end.
var branchName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}$`)

// ValidRef reports whether Resolve accepts ref: a full commit hash, or a
// branch name, bare or as refs/heads/NAME.
func ValidRef(ref string) bool {
	if plumbing.IsHash(ref) {
		return true
	}
	name := strings.TrimPrefix(ref, "refs/heads/")
	return branchName.MatchString(name) && !strings.Contains(name, "..") && !strings.Contains(name, "//") &&
		!strings.HasSuffix(name, "/") && !strings.HasSuffix(name, ".") && !strings.HasSuffix(name, ".lock") &&
		!strings.Contains(name, "/.") && !strings.Contains(name, "@{")
}

// Resolve returns the commit ref names, with the commit in the local clone:
// a full commit hash (when the clone lacks it, every branch of the remote
// is fetched to find it), or a branch (fetched into refs/honua/preview/, or
// the watched branch, fetched as Fetch does). It returns ErrInvalidRef for
// anything else and ErrBranchNotFound or ErrCommitNotFound when the remote
// has no such branch or commit.
func (r *Repo) Resolve(ctx context.Context, ref string) (string, error) {
	if !ValidRef(ref) {
		return "", fmt.Errorf("%w: %q", ErrInvalidRef, ref)
	}
	if plumbing.IsHash(ref) {
		commit := strings.ToLower(ref)
		if r.Has(commit) {
			return commit, nil
		}
		if _, err := r.fetchInto(ctx, "+refs/heads/*:"+previewRefs+"*", ""); err != nil {
			return "", err
		}
		if !r.Has(commit) {
			return "", fmt.Errorf("%w: %s is on no branch of the repository", ErrCommitNotFound, shortHash(commit))
		}
		return commit, nil
	}
	branch := strings.TrimPrefix(ref, "refs/heads/")
	if branch == r.cfg.Branch {
		return r.Fetch(ctx)
	}
	return r.fetchInto(ctx, "+refs/heads/"+branch+":"+previewRefs+branch, previewRefs+branch)
}

// fetchInto fetches one refspec and returns the hash of local ref (none
// when local is empty).
func (r *Repo) fetchInto(ctx context.Context, spec, local string) (string, error) {
	return r.remote(ctx, "fetch "+r.url, true, func(ctx context.Context, auth transport.AuthMethod) (string, error) {
		rem := git.NewRemote(r.repo.Storer, &config.RemoteConfig{Name: "origin", URLs: []string{r.cfg.URL}})
		err := rem.FetchContext(ctx, &git.FetchOptions{
			RemoteName: "origin",
			RefSpecs:   []config.RefSpec{config.RefSpec(spec)},
			Auth:       auth,
			Tags:       git.NoTags,
			Force:      true,
		})
		switch {
		case errors.Is(err, git.NoErrAlreadyUpToDate):
		case errors.Is(err, git.NoMatchingRefSpecError{}):
			return "", fmt.Errorf("%w: %q", ErrBranchNotFound, strings.TrimPrefix(local, previewRefs))
		case err != nil:
			return "", r.branchErr(err)
		}
		if local == "" {
			return "", nil
		}
		ref, err := r.repo.Storer.Reference(plumbing.ReferenceName(local))
		if err != nil {
			return "", fmt.Errorf("%w: %q", ErrBranchNotFound, strings.TrimPrefix(local, previewRefs))
		}
		return ref.Hash().String(), nil
	})
}
