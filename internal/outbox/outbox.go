package outbox

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/notify"
)

// Cluster applies the deliverer's commands through raft.
type Cluster interface {
	Apply(ctx context.Context, c fsm.Command) (any, error)
}

// State is what the deliverer reads of the replicated state.
type State interface {
	DueNotifications(now time.Time, max int) []fsm.Notification
	Deployment(id string) (*fsm.Deployment, bool)
	Changed() <-chan struct{}
}

// Defaults of Config.
const (
	DefaultMaxAttempts     = 10
	DefaultInitialInterval = time.Second
	DefaultMaxInterval     = 5 * time.Minute
	DefaultParallel        = 8
	// sendTimeout bounds one attempt to one channel.
	sendTimeout = 30 * time.Second
	// batch is how many due notifications one round takes.
	batch = 64
	// idle is how long the loop waits with nothing due and no change.
	idle = time.Second
)

// Config is a Deliverer's configuration.
type Config struct {
	Cluster Cluster
	State   State
	// Senders are the channels by name. A notification for a channel
	// that is not here (configuration changed since) fails at once.
	Senders map[string]notify.Sender
	// BaseURL prefixes a deployment's link ("" for none).
	BaseURL string
	// Subject returns a commit's subject line, "" when unknown.
	Subject func(commit string) string
	// MaxAttempts, InitialInterval and MaxInterval shape the retries;
	// zero takes the defaults.
	MaxAttempts     int
	InitialInterval time.Duration
	MaxInterval     time.Duration
	// Parallel bounds the deliveries in flight.
	Parallel int
	Metrics  *Metrics
	Logger   *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Deliverer sends the outbox's due notifications while its node leads.
type Deliverer struct {
	cfg Config
}

// New returns a Deliverer with cfg's defaults filled.
func New(cfg Config) *Deliverer {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.InitialInterval <= 0 {
		cfg.InitialInterval = DefaultInitialInterval
	}
	if cfg.MaxInterval <= 0 {
		cfg.MaxInterval = DefaultMaxInterval
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = DefaultParallel
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Subject == nil {
		cfg.Subject = func(string) string { return "" }
	}
	return &Deliverer{cfg: cfg}
}

// Run delivers until ctx ends (leadership lost): each round sends what is
// due, then waits for a change of the state or a second.
func (d *Deliverer) Run(ctx context.Context) {
	for ctx.Err() == nil {
		changed := d.cfg.State.Changed()
		d.round(ctx)
		t := time.NewTimer(idle)
		select {
		case <-ctx.Done():
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

// round sends every notification due now, at most Parallel at once, and
// records each outcome.
func (d *Deliverer) round(ctx context.Context) {
	due := d.cfg.State.DueNotifications(d.cfg.Now(), batch)
	sem := make(chan struct{}, d.cfg.Parallel)
	var wg sync.WaitGroup
	for _, n := range due {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			d.deliver(ctx, n)
		}()
	}
	wg.Wait()
}

// deliver sends n once and records the outcome.
func (d *Deliverer) deliver(ctx context.Context, n fsm.Notification) {
	log := d.cfg.Logger.With("notification", n.ID, "channel", n.Channel)
	var err error
	permanent := false
	sender, ok := d.cfg.Senders[n.Channel]
	if !ok {
		err, permanent = errors.New("no channel "+n.Channel+" in the leader's configuration"), true
	} else {
		sctx, cancel := context.WithTimeout(ctx, sendTimeout)
		err = sender.Send(sctx, d.message(n))
		cancel()
		permanent = notify.IsPermanent(err)
	}
	if ctx.Err() != nil {
		return // leadership lost mid-send: the next leader sends it again
	}
	now := d.cfg.Now()
	if err == nil {
		if _, aerr := d.cfg.Cluster.Apply(ctx, &fsm.MarkNotificationDelivered{ID: n.ID, Time: now}); aerr != nil {
			log.Warn("notification sent; recording it failed, so it may be sent again", "error", aerr)
			return
		}
		if d.cfg.Metrics != nil {
			d.cfg.Metrics.sent(n.Channel, now.Sub(n.CreatedAt))
		}
		log.Info("notification sent", "event", n.Event, "deployment", n.DeploymentID, "attempt", n.Attempts+1)
		return
	}
	attempt := n.Attempts + 1
	giveUp := permanent || attempt >= d.cfg.MaxAttempts
	rec := &fsm.RecordNotificationAttempt{ID: n.ID, Time: now, Error: err.Error(), GiveUp: giveUp}
	if !giveUp {
		rec.NextTry = now.Add(d.wait(attempt))
	}
	if _, aerr := d.cfg.Cluster.Apply(ctx, rec); aerr != nil {
		log.Warn("recording a failed notification attempt failed", "error", aerr)
		return
	}
	if d.cfg.Metrics != nil {
		d.cfg.Metrics.failedAttempt(n.Channel, giveUp)
	}
	if giveUp {
		log.Error("notification failed for good", "event", n.Event, "deployment", n.DeploymentID, "attempts", attempt, "error", err)
	} else {
		log.Warn("notification not sent; will retry", "attempt", attempt, "next", rec.NextTry, "error", err)
	}
}

// wait is how long to wait after the attempt-th failed attempt:
// exponential from InitialInterval, doubled each time up to MaxInterval,
// with ±50% jitter (cenkalti/backoff).
func (d *Deliverer) wait(attempt int) time.Duration {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = d.cfg.InitialInterval
	b.MaxInterval = d.cfg.MaxInterval
	b.Multiplier = 2
	b.RandomizationFactor = 0.5
	b.MaxElapsedTime = 0
	b.Reset()
	var w time.Duration
	for range attempt {
		w = b.NextBackOff()
	}
	return w
}
