package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

var (
	// ErrBranchNotFound is returned by Head and Fetch when the remote has no
	// such branch (or no commit at all).
	ErrBranchNotFound = errors.New("branch not found")
	// ErrCommitNotFound is returned when the local clone does not hold a
	// commit: it was never fetched, or the hash is not a commit's.
	ErrCommitNotFound = errors.New("commit not in the local clone")
	// ErrInvalidHash is returned by Commit, FS and Changed for a string that is
	// not a full hexadecimal commit hash.
	ErrInvalidHash = errors.New("not a full commit hash")
)

// CommitInfo describes a commit for plans and the audit trail.
type CommitInfo struct {
	Hash    string
	Author  string // the author's name
	Email   string // the author's email
	Time    time.Time
	Subject string // the first line of the message
}

// Repo is the configuration repository: its remote and its local bare
// clone. It is safe for concurrent use.
type Repo struct {
	cfg      Config
	endpoint *transport.Endpoint
	url      string // cfg.URL with credentials removed, for messages
	ref      plumbing.ReferenceName
	log      *slog.Logger
	repo     *git.Repository
	// lock guards repo's storage: go-git's filesystem storage is not safe
	// for concurrent use, even for reads (it loads pack indexes lazily). A
	// channel, so that Fetch can give up waiting for it at its deadline.
	lock chan struct{}

	secretsMu sync.Mutex
	secrets   map[string]struct{}
}

// Open validates cfg, checks that its credentials can be read, and opens
// the local clone in cfg.Dir, creating an empty one if there is none. It
// does not contact the remote.
func Open(cfg Config) (*Repo, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid repository configuration: %w", err)
	}
	ep, err := transport.NewEndpoint(cfg.URL)
	if err != nil { // Validate parsed it already
		return nil, fmt.Errorf("repository.url %s: %s", RedactURL(cfg.URL), redactURLsIn(err.Error()))
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Repo{
		cfg:      cfg,
		endpoint: ep,
		url:      RedactURL(cfg.URL),
		ref:      plumbing.NewBranchReferenceName(cfg.Branch),
		log:      logger.With("component", "gitrepo"),
		lock:     make(chan struct{}, 1),
		secrets:  map[string]struct{}{},
	}
	if _, err := r.authMethod(); err != nil {
		return nil, r.wrap("open "+r.url, err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, r.wrap("open local clone", err)
	}
	// Keep pack files open between reads: every Changed walks a few trees,
	// and reopening the pack for each object dominated its time. A loose
	// object over 1 MiB is read when used, not when looked up, so that the
	// size of a blob too large to deploy is learnt from its header.
	storage := filesystem.NewStorageWithOptions(osfs.New(cfg.Dir), cache.NewObjectLRUDefault(),
		filesystem.Options{MaxOpenDescriptors: 16, LargeObjectThreshold: 1 << 20})
	repo, err := git.Open(storage, nil)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.Init(storage, nil)
	}
	if err != nil {
		return nil, r.wrap("open local clone "+cfg.Dir, err)
	}
	r.repo = repo
	return r, nil
}

// URL returns the remote's URL with its credentials removed.
func (r *Repo) URL() string { return r.url }

// Branch returns the branch this Repo follows.
func (r *Repo) Branch() string { return r.cfg.Branch }

// Head asks the remote for the branch's head commit without fetching (the
// ls-remote step: over HTTP, a single GET of info/refs). It returns
// ErrBranchNotFound when the remote lacks the branch.
func (r *Repo) Head(ctx context.Context) (string, error) {
	return r.remote(ctx, "ls-remote "+r.url, false, func(ctx context.Context, auth transport.AuthMethod) (string, error) {
		rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{r.cfg.URL}})
		refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth})
		if err != nil {
			return "", r.branchErr(err)
		}
		for _, ref := range refs {
			if ref.Name() == r.ref && ref.Type() == plumbing.HashReference {
				return ref.Hash().String(), nil
			}
		}
		return "", fmt.Errorf("%w: %q", ErrBranchNotFound, r.cfg.Branch)
	})
}

// Fetch brings the branch into the local clone (a full clone on first use,
// incremental after) and returns the fetched head. The local branch follows
// the remote even when it was force-pushed; commits it no longer reaches
// stay readable, since the clone is never pruned.
func (r *Repo) Fetch(ctx context.Context) (string, error) {
	start := time.Now()
	head, err := r.remote(ctx, "fetch "+r.url, true, func(ctx context.Context, auth transport.AuthMethod) (string, error) {
		rem := git.NewRemote(r.repo.Storer, &config.RemoteConfig{Name: "origin", URLs: []string{r.cfg.URL}})
		spec := config.RefSpec("+" + r.ref.String() + ":" + r.ref.String())
		err := rem.FetchContext(ctx, &git.FetchOptions{
			RemoteName: "origin",
			RefSpecs:   []config.RefSpec{spec},
			Auth:       auth,
			Tags:       git.NoTags,
			Force:      true,
		})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return "", r.branchErr(err)
		}
		ref, err := r.repo.Storer.Reference(r.ref)
		if err != nil {
			return "", fmt.Errorf("read local %s: %w", r.ref, err)
		}
		return ref.Hash().String(), nil
	})
	if err != nil {
		return "", err
	}
	r.log.Debug("fetched", "url", r.url, "branch", r.cfg.Branch, "head", head, "took", time.Since(start))
	return head, nil
}

// branchErr turns go-git's ways of saying the branch is missing into
// ErrBranchNotFound.
func (r *Repo) branchErr(err error) error {
	switch {
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return fmt.Errorf("%w: %q (the repository has no commits): %w", ErrBranchNotFound, r.cfg.Branch, err)
	case errors.Is(err, git.NoMatchingRefSpecError{}):
		return fmt.Errorf("%w: %q", ErrBranchNotFound, r.cfg.Branch)
	}
	return err
}

// remote runs fn, a call to the remote that returns a commit hash, under
// the configured timeout, with freshly read credentials, holding the storage
// lock if lockStorage. Should go-git not return at the deadline (it dials
// git:// without the context), remote returns anyway; fn then finishes in
// the background, failing fast on its expired context, and releases the
// lock.
func (r *Repo) remote(ctx context.Context, op string, lockStorage bool,
	fn func(context.Context, transport.AuthMethod) (string, error)) (string, error) {
	auth, err := r.authMethod()
	if err != nil {
		return "", r.wrap(op, err)
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	if lockStorage {
		select {
		case r.lock <- struct{}{}:
		case <-ctx.Done():
			return "", r.wrap(op, r.deadlineErr(parent, ctx, errors.New("waiting for another fetch")))
		}
	}
	type result struct {
		head string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		if lockStorage {
			defer func() { <-r.lock }()
		}
		head, err := fn(ctx, auth)
		done <- result{head, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		select {
		case res = <-done:
		default:
			res.err = r.deadlineErr(parent, ctx, nil)
		}
	}
	if res.err != nil {
		return "", r.wrap(op, r.deadlineErr(parent, ctx, res.err))
	}
	return res.head, nil
}

// deadlineErr explains err when ctx is done: the timeout passed or the
// caller gave up. Otherwise it returns err unchanged.
func (r *Repo) deadlineErr(parent, ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	what, cause := fmt.Sprintf("no answer within %v", r.cfg.Timeout), ctx.Err()
	if parent.Err() != nil {
		what, cause = "stopped by the caller", parent.Err()
	}
	if err == nil || errors.Is(err, cause) {
		return fmt.Errorf("%s: %w", what, cause)
	}
	return fmt.Errorf("%s: %w: %w", what, cause, err)
}

// Has reports whether the local clone holds the commit (a full hash; an
// abbreviated one or a ref name is never held).
func (r *Repo) Has(commit string) bool {
	h, ok := parseHash(commit)
	if !ok {
		return false
	}
	r.lock <- struct{}{}
	defer func() { <-r.lock }()
	_, err := r.repo.Storer.EncodedObject(plumbing.CommitObject, h)
	return err == nil
}

// Commit returns the commit's author, time and the first line of its
// message.
func (r *Repo) Commit(hash string) (CommitInfo, error) {
	r.lock <- struct{}{}
	defer func() { <-r.lock }()
	c, err := r.commit(hash)
	if err != nil {
		return CommitInfo{}, r.wrap("read commit "+shortHash(hash), err)
	}
	subject, _, _ := strings.Cut(strings.TrimLeft(c.Message, "\n"), "\n")
	return CommitInfo{
		Hash:    c.Hash.String(),
		Author:  c.Author.Name,
		Email:   c.Author.Email,
		Time:    c.Author.When,
		Subject: strings.TrimSpace(subject),
	}, nil
}

// commit reads a commit from the local clone. The caller holds r.lock.
func (r *Repo) commit(hash string) (*object.Commit, error) {
	h, ok := parseHash(hash)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrInvalidHash, hash)
	}
	c, err := r.repo.CommitObject(h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrCommitNotFound, h)
	}
	return c, err
}

// parseHash accepts a full hexadecimal commit hash.
func parseHash(s string) (plumbing.Hash, bool) {
	if !plumbing.IsHash(s) {
		return plumbing.ZeroHash, false
	}
	return plumbing.NewHash(s), true
}

// shortHash abbreviates a hash for messages; other strings are quoted.
func shortHash(s string) string {
	if plumbing.IsHash(s) {
		return strings.ToLower(s[:12])
	}
	return fmt.Sprintf("%q", s)
}
