package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/rpc"
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
// leaves the cluster gracefully) or the node cannot go on. A *ConfigError
// means the configuration was refused.
func Run(ctx context.Context, cfg Config, version string, logger *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http-addr %s: %w", cfg.HTTPAddr, err)
	}
	cc := cfg.clusterConfig(version)
	cc.APIAddr = cfg.advertised(ln.Addr().String())
	cc.Logger = logger
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
	node.RegisterLeaderWork("settings", settingsWork(node, cfg.HistoryRetention, logger))
	node.Start()

	srv := &http.Server{
		Handler:           rpc.NewServer(node, logger),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("honuad started", "node_id", cfg.NodeID, "version", version, "http_addr", ln.Addr().String(),
		"raft_addr", node.RaftAddr(), "gossip_addr", node.GossipAddr(), "data_dir", cfg.DataDir)

	var runErr error
	leave := true
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-node.Fatal():
		// Leaving would gossip our name as gone, and the name may belong
		// to a live member: stop quietly.
		leave = false
		runErr = &ConfigError{err}
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
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

// settingsWork makes the replicated settings follow the leader's
// configuration: the leader applies them when it takes over.
func settingsWork(node *cluster.Node, retention int, logger *slog.Logger) func(context.Context) {
	return func(ctx context.Context) {
		if node.FSM().HistoryRetention() == retention {
			return
		}
		if _, err := node.Apply(&fsm.SetSettings{HistoryRetention: retention}); err != nil {
			logger.Error("apply settings", "error", err)
		}
	}
}
