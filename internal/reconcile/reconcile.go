// Package reconcile owns the pipeline that turns commits into deployments:
// watching the configuration repository, creating a deployment for every
// environment a new commit touches, validating and planning it, and gating
// it by the policy — approvals, deployment windows and blackouts. It runs on
// the leader only, as leader work of the cluster node; every decision it
// makes is a Raft command carrying its time and message.
package reconcile

import (
	"context"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/honua-io/honua-gitops/internal/configrepo"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/gitrepo"
)

// Cluster is what the reconciler needs of the local node.
type Cluster interface {
	// Apply replicates a command and returns the FSM's result or error.
	// When ctx is done it returns ctx.Err() at once; a command already
	// proposed may still commit.
	Apply(ctx context.Context, c fsm.Command) (any, error)
	// VerifyLeader confirms with a quorum that this node still leads; the
	// deploy stage calls it before every side effect.
	VerifyLeader() error
}

// Store is the replicated state the reconciler reads.
type Store interface {
	Environment(name string) (*fsm.Environment, bool)
	// BriefEnvironments leaves out the ids of the environments'
	// histories.
	BriefEnvironments() []fsm.EnvironmentBrief
	// Heads is what the pipeline steps on every change: each
	// environment's active and waiting deployments, without copies.
	Heads() []fsm.EnvironmentHead
	Deployment(id string) (*fsm.Deployment, bool)
	// Peek shows a deployment without copying it; fn must not keep it.
	Peek(id string, fn func(*fsm.Deployment))
	Source() fsm.SourceStatus
	Changed() <-chan struct{}
}

// Source is the configuration repository; *gitrepo.Repo implements it.
type Source interface {
	Head(ctx context.Context) (string, error)
	Fetch(ctx context.Context) (string, error)
	// Resolve fetches what a branch name or a full commit hash names and
	// returns the commit (gitrepo.Repo.Resolve).
	Resolve(ctx context.Context, ref string) (string, error)
	// Commit describes a commit of the local clone: its subject, author
	// and time.
	Commit(hash string) (gitrepo.CommitInfo, error)
	Has(commit string) bool
	FS(commit string) (fs.FS, error)
	Changed(from, to string, paths ...string) (bool, error)
}

// EnvironmentSettings is honuad's own configuration of an environment that
// matters to the pipeline.
type EnvironmentSettings struct {
	DryRun bool
	// Targets are where the environment's bundles go, in order.
	Targets []TargetSpec
}

// Config configures a Reconciler.
type Config struct {
	Source Source
	Branch string
	// PollInterval is the time between polls, each with up to 10%
	// jitter. Webhooks and sync requests poll at once, within a budget:
	// polls asked for take at most PollShare of the time (default 0.1)
	// once a burst of PollBurst of polling (default 1s) is spent. Polls
	// that find a new head (a push) are not charged.
	PollInterval time.Duration
	PollShare    float64
	PollBurst    time.Duration
	// GitTimeout bounds each git call.
	GitTimeout time.Duration
	// DryRun stops every deployment after Planning.
	DryRun bool
	// ConfigRepo bounds what is read of each commit: the size of a file
	// and of an environment's files.
	ConfigRepo   configrepo.Config
	Environments map[string]EnvironmentSettings
	// Now returns the time decisions are made at; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Registry receives the reconciler's metrics.
	Registry prometheus.Registerer
	// DriftInterval is how often the leader compares each environment's
	// targets with the bundle deployed (drift.go); 0 turns it off.
	DriftInterval time.Duration
}

// Reconciler runs the pipeline on the leader.
type Reconciler struct {
	cfg     Config
	cluster Cluster
	store   Store
	logger  *slog.Logger
	metrics *metrics

	// pollNow carries a requested poll to the watcher.
	pollNow chan pollRequest
	// wake makes the pipeline look at every waiting deployment now.
	wake chan struct{}

	// policies caches parsed policy files (policyFile) by commit: the
	// maxCachedPolicies used most recently.
	policies *lru.Cache

	// drift is the drift check's (drift.go).
	drift *driftState

	// active holds the deployments whose deploy stage runs now.
	activeMu sync.Mutex
	active   map[string]bool
	activeWG sync.WaitGroup
}

// Defaults of the budget of the polls webhooks and sync requests ask for.
// A push, or a run of them, is polled for at once; a flood of webhooks
// (each of which the leader answers with a poll: an ls-remote, and a read
// of every environment of the head) leaves the leader nine tenths of its
// time for its other work.
const (
	DefaultPollShare = 0.1
	DefaultPollBurst = time.Second
)

// New returns a reconciler. Register its Run as leader work.
func New(cfg Config, c Cluster, s Store) *Reconciler {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 30 * time.Second
	}
	if cfg.PollShare <= 0 || cfg.PollShare > 1 {
		cfg.PollShare = DefaultPollShare
	}
	if cfg.PollBurst <= 0 {
		cfg.PollBurst = DefaultPollBurst
	}
	if cfg.GitTimeout <= 0 {
		cfg.GitTimeout = 30 * time.Second
	}
	if cfg.Branch == "" {
		cfg.Branch = "main"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	m := newMetrics(cfg.Registry)
	m.rolloutMetrics.start(cfg.Environments)
	return &Reconciler{
		cfg:      cfg,
		cluster:  c,
		store:    s,
		logger:   cfg.Logger.With("component", "reconcile"),
		metrics:  m,
		pollNow:  make(chan pollRequest, 1),
		wake:     make(chan struct{}, 1),
		policies: newPolicyCache(),
		drift:    newDriftState(cfg.Registry),
		active:   map[string]bool{},
	}
}

// PollNow asks the watcher to poll the repository at once. It never
// blocks; requests made while one is pending are merged.
func (r *Reconciler) PollNow(reason string) {
	r.PollCommit(reason, "")
}

// PollCommit is PollNow for a request that says which commit the branch
// now holds, as a push webhook does. The commit is only a hint: the poll
// deploys the head the remote reports, whatever commit was named.
func (r *Reconciler) PollCommit(reason, commit string) {
	select {
	case r.pollNow <- pollRequest{reason: reason, commit: commit, at: time.Now()}:
	default:
	}
}

// Wake makes the pipeline re-evaluate every waiting deployment now, as it
// does on every change of state and when a deadline it knows of passes.
func (r *Reconciler) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run is the leader work: it watches the repository, steps waiting
// deployments and checks the targets for drift until ctx is cancelled
// (leadership lost), then returns once its loops stopped.
func (r *Reconciler) Run(ctx context.Context) {
	r.logger.Info("pipeline started on this leader")
	var wg sync.WaitGroup
	wg.Go(func() { r.watch(ctx) })
	wg.Go(func() { r.pipeline(ctx) })
	wg.Go(func() { r.driftLoop(ctx) })
	wg.Wait()
	r.activeWG.Wait()
	r.logger.Info("pipeline stopped")
}

func (r *Reconciler) now() time.Time { return r.cfg.Now().UTC() }

// jitter returns d plus up to 10%.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}

func (r *Reconciler) dryRun(env string) bool {
	return r.cfg.DryRun || r.cfg.Environments[env].DryRun
}

// gitCtx bounds one git call.
func (r *Reconciler) gitCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.cfg.GitTimeout)
}
