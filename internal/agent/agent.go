package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/configrepo"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/gitrepo"
	"github.com/honua-io/honua-gitops/internal/reconcile"
	"github.com/honua-io/honua-gitops/internal/rpc"
	"github.com/honua-io/honua-gitops/internal/statemetrics"
	"github.com/honua-io/honua-gitops/internal/target"
	"github.com/honua-io/honua-gitops/internal/ui"
)

// NewLogger returns the process logger the configuration asks for.
func NewLogger(cfg Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Run runs a honuad node until ctx is cancelled (a signal: the node then
// leaves the cluster gracefully) or the node cannot go on. Each signal
// received on reload (SIGHUP) reloads the TLS files and the tokens file,
// which are also reloaded when they change on disk. A *ConfigError means
// the configuration was refused.
func Run(ctx context.Context, cfg Config, version string, logger *slog.Logger, reload <-chan os.Signal) error {
	p, err := build(cfg, version, logger)
	if err != nil {
		return err
	}
	return p.serve(ctx, reload)
}

// process is a built honuad node: what build opened, which serve runs and
// close releases.
type process struct {
	cfg     Config
	version string
	logger  *slog.Logger
	sec     *secrets
	ln      net.Listener // the API's, as bound
	node    *cluster.Node
	metrics *statemetrics.Metrics
	srv     *http.Server
	capped  net.Listener // ln behind the connection cap, which srv serves
	// closers release what was opened, in the order it was opened; close
	// runs them last first.
	closers []func(leave bool) error
}

// onClose adds f to what close runs.
func (p *process) onClose(f func(leave bool) error) { p.closers = append(p.closers, f) }

// close releases everything build and serve opened, last opened first,
// each once: later calls do nothing. leave says whether the node leaves
// the cluster gracefully. It returns the node's shutdown error.
func (p *process) close(leave bool) error {
	var first error
	for i := len(p.closers) - 1; i >= 0; i-- {
		if err := p.closers[i](leave); err != nil && first == nil {
			first = err
		}
	}
	p.closers = nil
	return first
}

// build checks the configuration and opens what the node needs: the API's
// listener, the cluster node (its stores, raft's and gossip's listeners),
// the reconciler and the API's handlers. Nothing runs yet. When it fails,
// everything it opened is closed again.
func build(cfg Config, version string, logger *slog.Logger) (*process, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sec, err := loadSecrets(cfg, logger)
	if err != nil {
		return nil, err
	}
	p := &process{cfg: cfg, version: version, logger: logger, sec: sec}
	built := false
	defer func() {
		if !built {
			_ = p.close(false) // a node that never ran does not leave
		}
	}()

	if p.ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("http-addr %s: %w", cfg.HTTPAddr, err)
	}
	p.onClose(func(bool) error {
		_ = p.ln.Close() // closed already when the server was shut down
		return nil
	})
	cc := cfg.clusterConfig(version)
	cc.APIAddr = cfg.advertised(p.ln.Addr().String())
	cc.Logger = logger
	cc.RaftTLS = sec.raftTLS()
	if cfg.GossipKeyFile != "" {
		// Validate read it already; it may have changed since.
		if cc.GossipKey, err = readGossipKey(cfg.GossipKeyFile); err != nil {
			return nil, &ConfigError{&cluster.FieldError{Field: "gossip-key-file", Value: cfg.GossipKeyFile, Why: err.Error()}}
		}
	}
	if err := cc.Validate(); err != nil {
		return nil, &ConfigError{err}
	}
	if p.node, err = cluster.New(cc, fsm.New(logger.With("component", "fsm"))); err != nil {
		var fe *cluster.FieldError
		if errors.As(err, &fe) {
			return nil, &ConfigError{err}
		}
		return nil, err
	}
	p.onClose(func(leave bool) error {
		err := p.node.Shutdown(leave)
		if err != nil {
			logger.Error("node shutdown", "error", err)
		}
		return err
	})
	p.node.RegisterLeaderWork("settings", settingsWork(p.node, cfg.HistoryRetention, cfg.PlanRetention, logger))

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p.node.RegisterMetrics(registry)
	sec.registerMetrics(registry)
	p.metrics = statemetrics.New(p.node.FSM(), registry, logger)
	api := rpc.Config{Cluster: p.node, Store: p.node.FSM(), Keyring: p.node, Registry: registry, Logger: logger,
		LeaderWait: time.Duration(cfg.LeaderWait), ForwardTimeout: forwardTimeout, Limits: APILimits(cfg),
		Tokens: sec.tokens, Debug: cfg.EnableDebug}
	if sec.certs != nil {
		api.PeerTLS = sec.certs.PeerClient()
	}
	if sec.tokens == nil {
		logger.Warn("the API runs without authentication: every request acts as the admin \"anonymous\"; give auth.tokensFile to require tokens")
	}
	// The leader holds the configuration's notification routes (none
	// clears them), and delivers what they record when channels are set.
	p.node.RegisterLeaderWork("notification-routes", routesWork(p.node, routesOf(cfg.Notifications), logger))
	var repo *gitrepo.Repo
	if len(cfg.Notifications.Channels) > 0 {
		subject := func(commit string) string {
			if repo == nil {
				return ""
			}
			ci, err := repo.Commit(commit)
			if err != nil {
				return ""
			}
			return ci.Subject
		}
		dl, err := newDeliverer(cfg, p.node, subject, registry, logger)
		if err != nil {
			return nil, err
		}
		p.node.RegisterLeaderWork("notifications", dl.Run)
	}
	if cfg.Repository != nil {
		rec, info, src, err := newReconciler(cfg, p.node, registry, logger)
		if err != nil {
			return nil, err
		}
		repo = src
		p.node.RegisterLeaderWork("reconcile", afterRoutes(p.node.FSM(), routesOf(cfg.Notifications), logger, rec.Run))
		api.Pipeline, api.Repository = rec, info
		if api.Webhooks, err = loadWebhookSecrets(cfg.Webhooks); err != nil {
			return nil, &ConfigError{err}
		}
	}
	apiServer := rpc.NewServer(api)
	dashboard := ui.New(ui.Config{API: apiServer, NodeID: cfg.NodeID, TLS: sec.certs != nil, PeerTLS: api.PeerTLS,
		AuthEnabled: sec.tokens != nil, WriteTimeout: time.Duration(cfg.HTTPWriteTimeout), Logger: logger})
	p.srv, p.capped = newAPIServer(cfg, p.ln, withDashboard(apiServer, dashboard), p.node.NoteResourceError, registry, logger)
	built = true
	return p, nil
}

// serve starts the node and serves the API until ctx is cancelled or the
// node cannot go on, then closes everything (close).
func (p *process) serve(ctx context.Context, reload <-chan os.Signal) error {
	cfg, logger := p.cfg, p.logger
	metricsCtx, stopMetrics := context.WithCancel(context.Background())
	p.onClose(func(bool) error { stopMetrics(); return nil })
	go p.metrics.Run(metricsCtx)
	p.node.Start()

	if limit, ok := fileLimit(); ok && uint64(cfg.HTTPMaxConns)+fdReserve > limit {
		logger.Warn("http-max-conns leaves too few of the open-file limit for raft, git and targets; raise the limit or lower http-max-conns",
			"http_max_conns", cfg.HTTPMaxConns, "open_file_limit", limit, "reserve", fdReserve)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- p.srv.Serve(p.sec.apiListener(p.capped)) }()
	p.onClose(func(bool) error {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.srv.Shutdown(shutdownCtx); err != nil {
			logger.Warn("http shutdown", "error", err)
		}
		return nil
	})
	watchCtx, stopWatch := context.WithCancel(context.Background())
	p.onClose(func(bool) error { stopWatch(); return nil })
	p.sec.watch(watchCtx)
	logger.Info("honuad started", "node_id", cfg.NodeID, "version", p.version, "http_addr", p.ln.Addr().String(),
		"raft_addr", p.node.RaftAddr(), "gossip_addr", p.node.GossipAddr(), "data_dir", cfg.DataDir,
		"tls", p.sec.certs != nil, "auth", p.sec.tokens != nil)

	var runErr error
	leave := true
	for running := true; running; {
		select {
		case <-ctx.Done():
			logger.Info("shutting down")
			running = false
		case sig := <-reload:
			p.sec.reload(sig)
		case err := <-p.node.Fatal():
			// Leaving would gossip our name as gone, and the name may
			// belong to a live member: stop quietly.
			leave, runErr, running = false, &ConfigError{err}, false
		case err := <-serveErr:
			runErr, running = fmt.Errorf("http server: %w", err), false
		}
	}
	if err := p.close(leave); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// newReconciler opens the configuration repository's local clone in the
// data dir and builds the pipeline that watches it.
func newReconciler(cfg Config, node *cluster.Node, reg prometheus.Registerer, logger *slog.Logger) (*reconcile.Reconciler, *rpc.RepositoryInfo, *gitrepo.Repo, error) {
	r := cfg.Repository
	a := r.Auth
	src, err := gitrepo.Open(gitrepo.Config{
		URL: r.URL, Branch: r.Branch, Dir: filepath.Join(cfg.DataDir, "repo"), Timeout: time.Duration(r.Timeout),
		Logger: logger.With("component", "git"),
		Auth: gitrepo.Auth{
			Username: a.Username, UsernameEnv: a.UsernameEnv, PasswordEnv: a.PasswordEnv, PasswordFile: a.PasswordFile,
			TokenEnv: a.TokenEnv, TokenFile: a.TokenFile, SSHKeyFile: a.SSHKeyFile,
			SSHKeyPassphraseFile: a.SSHKeyPassphraseFile, KnownHostsFile: a.KnownHostsFile,
			InsecureSkipHostKeyCheck: a.InsecureSkipHostKeyCheck,
		},
	})
	if err != nil {
		return nil, nil, nil, &ConfigError{err}
	}
	envs := map[string]reconcile.EnvironmentSettings{}
	for name, e := range cfg.Environments {
		settings := reconcile.EnvironmentSettings{DryRun: e.DryRun}
		for i, tc := range e.Targets {
			t, err := target.New(target.Config{Type: tc.Type, Path: tc.Path, URL: tc.URL, Command: tc.Command,
				TokenFile: tc.TokenFile, CAFile: tc.CAFile, CertFile: tc.CertFile, KeyFile: tc.KeyFile,
				Logger: logger.With("env", name)})
			if err != nil {
				return nil, nil, nil, &ConfigError{fmt.Errorf("environments.%s.targets[%d]: %w", name, i, err)}
			}
			settings.Targets = append(settings.Targets, reconcile.TargetSpec{
				Name: tc.Name, Target: t, ReloadURL: tc.ReloadURL, HealthChecks: healthURLs(tc)})
		}
		envs[name] = settings
	}
	rec := reconcile.New(reconcile.Config{
		Source: src, Branch: r.Branch, PollInterval: time.Duration(r.PollInterval), GitTimeout: time.Duration(r.Timeout),
		DryRun: cfg.DryRun, Environments: envs, Logger: logger, Registry: reg, DriftInterval: time.Duration(cfg.Drift.Interval),
		ConfigRepo: configrepo.Config{MaxFileSize: int64(cfg.MaxFileSize), MaxEnvironmentSize: int64(cfg.MaxEnvironmentSize)},
	}, node, node.FSM())
	return rec, &rpc.RepositoryInfo{URL: src.URL(), Branch: r.Branch}, src, nil
}

// loadWebhookSecrets reads the webhook secrets from their files, each
// without surrounding whitespace.
func loadWebhookSecrets(w WebhooksConfig) (rpc.WebhookSecrets, error) {
	var s rpc.WebhookSecrets
	for _, f := range []struct {
		field, path string
		dst         *[]byte
	}{
		{"webhooks.githubSecretFile", w.GitHubSecretFile, &s.GitHub},
		{"webhooks.gitlabTokenFile", w.GitLabTokenFile, &s.GitLab},
		{"webhooks.genericSecretFile", w.GenericSecretFile, &s.Generic},
	} {
		if f.path == "" {
			continue
		}
		b, err := os.ReadFile(f.path)
		if err != nil {
			return s, fmt.Errorf("%s %s: %w", f.field, f.path, err)
		}
		// Validate refused such a file; it may have changed since.
		if why := noSecret(b); why != "" {
			return s, fmt.Errorf("%s %s: %s", f.field, f.path, why)
		}
		*f.dst = bytes.TrimSpace(b)
	}
	return s, nil
}

// settingsWork makes the replicated settings follow the leader's
// configuration: the leader applies them when it takes over.
func settingsWork(node *cluster.Node, retention, planRetention int, logger *slog.Logger) func(context.Context) {
	return func(ctx context.Context) {
		if node.FSM().HistoryRetention() == retention && node.FSM().PlanRetention() == planRetention {
			return
		}
		if _, err := node.Apply(ctx, &fsm.SetSettings{HistoryRetention: retention, PlanRetention: planRetention}); err != nil {
			logger.Error("apply settings", "error", err)
		}
	}
}
