package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
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
	if err := cfg.Validate(); err != nil {
		return err
	}
	sec, err := loadSecrets(cfg, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http-addr %s: %w", cfg.HTTPAddr, err)
	}
	cc := cfg.clusterConfig(version)
	cc.APIAddr = cfg.advertised(ln.Addr().String())
	cc.Logger = logger
	cc.RaftTLS = sec.raftTLS()
	if cfg.GossipKeyFile != "" {
		// Validate read it already; it may have changed since.
		if cc.GossipKey, err = readGossipKey(cfg.GossipKeyFile); err != nil {
			ln.Close()
			return &ConfigError{&cluster.FieldError{Field: "gossip-key-file", Value: cfg.GossipKeyFile, Why: err.Error()}}
		}
	}
	if err := cc.Validate(); err != nil {
		ln.Close()
		return &ConfigError{err}
	}
	node, err := cluster.New(cc, fsm.New(logger.With("component", "fsm")))
	if err != nil {
		ln.Close()
		var fe *cluster.FieldError
		if errors.As(err, &fe) {
			return &ConfigError{err}
		}
		return err
	}
	node.RegisterLeaderWork("settings", settingsWork(node, cfg.HistoryRetention, cfg.PlanRetention, logger))

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	node.RegisterMetrics(registry)
	sec.registerMetrics(registry)
	stateMetrics := statemetrics.New(node.FSM(), registry, logger)
	metricsCtx, stopMetrics := context.WithCancel(context.Background())
	defer stopMetrics()
	go stateMetrics.Run(metricsCtx)
	api := rpc.Config{Cluster: node, Store: node.FSM(), Keyring: node, Registry: registry, Logger: logger,
		LeaderWait: time.Duration(cfg.LeaderWait), ForwardTimeout: forwardTimeout, Limits: APILimits(cfg),
		Tokens: sec.tokens}
	if sec.certs != nil {
		api.PeerTLS = sec.certs.PeerClient()
	}
	if sec.tokens == nil {
		logger.Warn("the API runs without authentication: every request acts as the admin \"anonymous\"; give auth.tokensFile to require tokens")
	}
	if cfg.Repository != nil {
		rec, info, err := newReconciler(cfg, node, registry, logger)
		if err != nil {
			_ = node.Shutdown(false)
			ln.Close()
			return err
		}
		node.RegisterLeaderWork("reconcile", rec.Run)
		api.Pipeline, api.Repository = rec, info
		if api.Webhooks, err = loadWebhookSecrets(cfg.Webhooks); err != nil {
			_ = node.Shutdown(false)
			ln.Close()
			return &ConfigError{err}
		}
	}
	node.Start()

	if limit, ok := fileLimit(); ok && uint64(cfg.HTTPMaxConns)+fdReserve > limit {
		logger.Warn("http-max-conns leaves too few of the open-file limit for raft, git and targets; raise the limit or lower http-max-conns",
			"http_max_conns", cfg.HTTPMaxConns, "open_file_limit", limit, "reserve", fdReserve)
	}
	srv, capped := newAPIServer(cfg, ln, rpc.NewServer(api), node.NoteResourceError, registry, logger)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(sec.apiListener(capped)) }()
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	sec.watch(watchCtx)
	logger.Info("honuad started", "node_id", cfg.NodeID, "version", version, "http_addr", ln.Addr().String(),
		"raft_addr", node.RaftAddr(), "gossip_addr", node.GossipAddr(), "data_dir", cfg.DataDir,
		"tls", sec.certs != nil, "auth", sec.tokens != nil)

	var runErr error
	leave := true
	for running := true; running; {
		select {
		case <-ctx.Done():
			logger.Info("shutting down")
			running = false
		case sig := <-reload:
			sec.reload(sig)
		case err := <-node.Fatal():
			// Leaving would gossip our name as gone, and the name may
			// belong to a live member: stop quietly.
			leave, runErr, running = false, &ConfigError{err}, false
		case err := <-serveErr:
			runErr, running = fmt.Errorf("http server: %w", err), false
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("http shutdown", "error", err)
	}
	if err := node.Shutdown(leave); err != nil {
		logger.Error("node shutdown", "error", err)
		if runErr == nil {
			runErr = err
		}
	}
	return runErr
}

// newReconciler opens the configuration repository's local clone in the
// data dir and builds the pipeline that watches it.
func newReconciler(cfg Config, node *cluster.Node, reg prometheus.Registerer, logger *slog.Logger) (*reconcile.Reconciler, *rpc.RepositoryInfo, error) {
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
		return nil, nil, &ConfigError{err}
	}
	envs := map[string]reconcile.EnvironmentSettings{}
	for name, e := range cfg.Environments {
		settings := reconcile.EnvironmentSettings{DryRun: e.DryRun}
		for i, tc := range e.Targets {
			t, err := target.New(target.Config{Type: tc.Type, Path: tc.Path, URL: tc.URL, Command: tc.Command,
				Logger: logger.With("env", name)})
			if err != nil {
				return nil, nil, &ConfigError{fmt.Errorf("environments.%s.targets[%d]: %w", name, i, err)}
			}
			settings.Targets = append(settings.Targets, reconcile.TargetSpec{
				Target: t, ReloadURL: tc.ReloadURL, HealthChecks: healthURLs(tc)})
		}
		envs[name] = settings
	}
	rec := reconcile.New(reconcile.Config{
		Source: src, Branch: r.Branch, PollInterval: time.Duration(r.PollInterval), GitTimeout: time.Duration(r.Timeout),
		DryRun: cfg.DryRun, Environments: envs, Logger: logger, Registry: reg,
		ConfigRepo: configrepo.Config{MaxFileSize: int64(cfg.MaxFileSize), MaxEnvironmentSize: int64(cfg.MaxEnvironmentSize)},
	}, node, node.FSM())
	return rec, &rpc.RepositoryInfo{URL: src.URL(), Branch: r.Branch}, nil
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
