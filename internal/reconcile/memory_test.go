package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/honua-io/honua-gitops/test/logbuf"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/fsm/fsmtest"
	"github.com/honua-io/honua-gitops/internal/gitrepo"
	"github.com/honua-io/honua-gitops/internal/plan"
)

// memSource is a Source whose commits are file trees held in memory, by
// commit id. The decision tests use it where the cluster tests use a real
// repository: a decision reads files of commits and asks whether paths
// changed between two of them, nothing else.
type memSource struct {
	mu      sync.Mutex
	commits map[string]fstest.MapFS
	head    string
}

func newMemSource() *memSource { return &memSource{commits: map[string]fstest.MapFS{}} }

// add makes a commit of files, by path, and makes it the head.
func (s *memSource) add(id string, files map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tree := fstest.MapFS{}
	for p, data := range files {
		tree[p] = &fstest.MapFile{Data: []byte(data), Mode: 0o644}
	}
	s.commits[id], s.head = tree, id
	return id
}

// drop removes a commit, as a force-push does.
func (s *memSource) drop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.commits, id)
}

func (s *memSource) Head(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head, nil
}

// Fetch returns the head, or ctx's error when ctx is done, as a fetch
// abandoned by its caller does.
func (s *memSource) Fetch(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return s.Head(ctx)
}

// Commit describes a commit the source holds: its subject is its id.
func (s *memSource) Commit(hash string) (gitrepo.CommitInfo, error) {
	if !s.Has(hash) {
		return gitrepo.CommitInfo{}, fmt.Errorf("%w: %s", gitrepo.ErrCommitNotFound, hash)
	}
	return gitrepo.CommitInfo{Hash: hash, Subject: "commit " + hash}, nil
}

// Resolve resolves a commit id the source holds.
func (s *memSource) Resolve(_ context.Context, ref string) (string, error) {
	if !s.Has(ref) {
		return "", fmt.Errorf("%w: %q", gitrepo.ErrBranchNotFound, ref)
	}
	return ref, nil
}

func (s *memSource) Has(commit string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.commits[commit]
	return ok
}

func (s *memSource) FS(commit string) (fs.FS, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tree, ok := s.commits[commit]
	if !ok {
		return nil, fmt.Errorf("commit %s: %w", commit, fs.ErrNotExist)
	}
	return tree, nil
}

// Changed reports whether a file under one of paths differs between the
// two commits.
func (s *memSource) Changed(from, to string, paths ...string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, okA := s.commits[from]
	b, okB := s.commits[to]
	if !okA || !okB {
		return false, fmt.Errorf("compare %s with %s: %w", from, to, fs.ErrNotExist)
	}
	under := func(name string) bool {
		for _, p := range paths {
			if name == p || strings.HasPrefix(name, p+"/") {
				return true
			}
		}
		return false
	}
	for _, pair := range [][2]fstest.MapFS{{a, b}, {b, a}} {
		for name, f := range pair[0] {
			if !under(name) {
				continue
			}
			g, ok := pair[1][name]
			if !ok || string(g.Data) != string(f.Data) {
				return true, nil
			}
		}
	}
	return false, nil
}

// memPipeline is a Reconciler over an in-memory cluster (fsmtest.Applier:
// the real FSM, its commands applied as raft applies them) and an
// in-memory repository, with a clock the test sets. Its decisions take
// milliseconds; the pipeline's loops are not running: a test calls the
// step it tests.
type memPipeline struct {
	t    *testing.T
	a    *fsmtest.Applier
	src  *memSource
	r    *Reconciler
	now  time.Time
	logs *syncBuffer // what the reconciler logged
}

// memStart is Wednesday 2026-11-25 15:00 UTC: 10:00 in New York.
var memStart = time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)

func newMemPipeline(t *testing.T) *memPipeline {
	p := &memPipeline{t: t, a: fsmtest.New(), src: newMemSource(), now: memStart, logs: &syncBuffer{}}
	p.r = New(Config{Source: p.src, Now: func() time.Time { return p.now },
		Logger: slog.New(slog.NewTextHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))}, p.a, p.a.FSM)
	return p
}

// syncBuffer is a log sink the test reads while others write.
type syncBuffer = logbuf.Buffer

// apply applies c and fails the test if it is refused.
func (p *memPipeline) apply(c fsm.Command) any {
	p.t.Helper()
	return p.a.Must(p.t, c)
}

// create creates a deployment of commit in env, of kind auto.
func (p *memPipeline) create(env, commit string) *fsm.Deployment {
	p.t.Helper()
	return p.apply(&fsm.CreateDeployment{Environment: env, Commit: commit, Kind: fsm.KindAuto,
		Initiator: "git-watcher", Time: p.now}).(*fsm.Deployment)
}

// move applies the transitions of deployment id along states.
func (p *memPipeline) move(id string, states ...fsm.DeploymentState) *fsm.Deployment {
	p.t.Helper()
	var d *fsm.Deployment
	for _, s := range states {
		c := &fsm.TransitionDeployment{ID: id, To: s, Time: p.now, Message: "test"}
		if s == fsm.StateAwaitingApproval {
			c.Approval = &fsm.ApprovalRequirement{Required: 1}
		}
		d = p.apply(c).(*fsm.Deployment)
	}
	return d
}

// planned creates a deployment of commit in env and moves it to Planning
// with rec as its plan (its Commit filled in).
func (p *memPipeline) planned(env, commit string, rec plan.Document) *fsm.Deployment {
	p.t.Helper()
	d := p.create(env, commit)
	p.move(d.ID, fsm.StateValidating)
	rec.Commit = commit
	if rec.Plan == nil {
		rec.Plan = &plan.Plan{Changes: []plan.Change{}}
	}
	doc, err := json.Marshal(rec)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.apply(&fsm.TransitionDeployment{ID: d.ID, To: fsm.StatePlanning, Time: p.now, Message: "test",
		Plan: doc, Risk: rec.Risk.String()}).(*fsm.Deployment)
}

// deployed takes a deployment of commit in env through to Completed, so
// that commit is what env has deployed.
func (p *memPipeline) deployed(env, commit string) *fsm.Deployment {
	p.t.Helper()
	d := p.create(env, commit)
	return p.move(d.ID, fsm.StateValidating, fsm.StatePlanning, fsm.StateBackingUp, fsm.StateApplying,
		fsm.StatePostValidating, fsm.StateCompleted)
}

// deployment returns the FSM's copy of deployment id.
func (p *memPipeline) deployment(id string) *fsm.Deployment {
	p.t.Helper()
	d, ok := p.a.FSM.Deployment(id)
	if !ok {
		p.t.Fatalf("deployment %s not found", id)
	}
	return d
}

// environment returns the FSM's copy of env.
func (p *memPipeline) environment(env string) *fsm.Environment {
	p.t.Helper()
	e, ok := p.a.FSM.Environment(env)
	if !ok {
		p.t.Fatalf("environment %s not found", env)
	}
	return e
}
