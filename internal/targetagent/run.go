package targetagent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/net/netutil"

	"github.com/honua-io/honua-gitops/internal/certs"
	"github.com/honua-io/honua-gitops/internal/rpc"
)

// The listener's limits: a request's headers arrive within
// readHeaderTimeout and a whole bundle within readTimeout; an answer,
// which may wait for the lock and a reload, is written within
// writeTimeoutExtra past --reload-timeout; at most maxConns connections
// are served at once.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 2 * time.Minute
	writeTimeoutExtra = 30 * time.Second
	idleTimeout       = 90 * time.Second
	maxHeaderBytes    = 64 << 10
	maxConns          = 256
	shutdownTimeout   = 10 * time.Second
)

// NewLogger returns the agent's logger for cfg's log level and format.
func NewLogger(cfg Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Run serves the agent on cfg.Listen until ctx ends. Each signal received
// on reload (SIGHUP) reloads the tokens file and the TLS files, which are
// also reloaded when they change on disk. A *ConfigError means the
// configuration was refused.
func Run(ctx context.Context, cfg Config, logger *slog.Logger, reload <-chan os.Signal) error {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return &ConfigError{Err: fmt.Errorf("listen %s: %w", cfg.Listen, err)}
	}
	return Serve(ctx, cfg, ln, logger, reload)
}

// Serve is Run on a listener already open; it closes ln.
func Serve(ctx context.Context, cfg Config, ln net.Listener, logger *slog.Logger, reload <-chan os.Signal) error {
	defer ln.Close()
	log := logger.With("component", "target-agent")
	var tokens *rpc.Tokens
	if cfg.TokensFile != "" {
		t, err := rpc.LoadTokens(cfg.TokensFile)
		if err != nil {
			return &ConfigError{Err: err}
		}
		tokens = t
	}
	h, err := New(cfg, tokens, logger)
	if err != nil {
		return err
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	var store *certs.Store
	scheme := "http"
	if tc := cfg.tlsConfig(); tc.Enabled() {
		store, err = certs.Load(tc, log)
		if err != nil {
			return &ConfigError{Err: err}
		}
		ln = tls.NewListener(ln, store.APIServer())
		scheme = "https"
		go func() {
			if err := store.Watch(watchCtx); err != nil {
				log.Error("not watching the TLS files; reload them with SIGHUP", "error", err)
			}
		}()
	}
	if tokens != nil {
		go func() {
			if err := tokens.Watch(watchCtx, log); err != nil {
				log.Error("not watching the tokens file; reload it with SIGHUP", "error", err)
			}
		}()
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      time.Duration(cfg.ReloadTimeout) + writeTimeoutExtra,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(netutil.LimitListener(ln, maxConns)) }()
	log.Info("serving", "url", scheme+"://"+ln.Addr().String()+BundlePath, "dir", cfg.Dir, "auth", tokens != nil)
	if host, _, err := net.SplitHostPort(cfg.Listen); err == nil && store == nil && !isLoopback(host) {
		log.Warn("serving plain http beyond loopback: bundles and bearer tokens cross the network in clear; give --tls-ca-file, --tls-cert-file and --tls-key-file")
	}
	for {
		select {
		case err := <-served:
			return fmt.Errorf("serve %s: %w", cfg.Listen, err)
		case <-reload:
			if tokens != nil {
				if _, err := tokens.Reload(); err != nil {
					log.Error("tokens not reloaded", "error", err)
				} else {
					log.Info("tokens reloaded", "tokens", tokens.Len())
				}
			}
			if store != nil {
				if err := store.Reload(); err != nil {
					log.Error("TLS files not reloaded", "error", err)
				} else {
					log.Info("TLS files reloaded")
				}
			}
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			err := srv.Shutdown(sctx)
			if errors.Is(<-served, http.ErrServerClosed) && err == nil {
				log.Info("stopped")
				return nil
			}
			return err
		}
	}
}

// isLoopback reports whether host only accepts connections from this
// machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
