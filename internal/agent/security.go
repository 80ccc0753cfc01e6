package agent

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/honua-io/honua-gitops/internal/certs"
	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/rpc"
)

// secrets are what the node reloads while it runs: its TLS material and
// the API's tokens. Either may be nil (TLS off, authentication off).
type secrets struct {
	certs      *certs.Store
	tokens     *rpc.Tokens
	tokensFile string
	logger     *slog.Logger
}

// loadSecrets reads the TLS files and the tokens file. Validate checked
// them already; they may have changed since, and any error is a
// *ConfigError.
func loadSecrets(cfg Config, logger *slog.Logger) (*secrets, error) {
	s := &secrets{logger: logger}
	if tc := cfg.tlsConfig(); tc.Enabled() {
		store, err := certs.Load(tc, logger.With("component", "tls"))
		if err != nil {
			return nil, &ConfigError{err}
		}
		s.certs = store
		if !cfg.TLSVerifyServerHostname {
			logger.Warn("--tls-verify-server-hostname is off: any certificate of the CA, a client's too, passes for a node's in raft and forwarding")
		}
	} else if exposed(cfg) {
		logger.Warn("TLS is off and a listener is beyond loopback: tokens and raft cross the network in the clear, " +
			"and anyone who reaches the raft address can speak raft; give --tls-ca-file, --tls-cert-file and --tls-key-file")
	}
	if cfg.Auth.TokensFile != "" {
		tokens, err := rpc.LoadTokens(cfg.Auth.TokensFile)
		if err != nil {
			return nil, &ConfigError{err}
		}
		s.tokens, s.tokensFile = tokens, cfg.Auth.TokensFile
	}
	return s, nil
}

// exposed reports whether the API or raft listens beyond loopback.
func exposed(cfg Config) bool {
	for _, addr := range []string{cfg.HTTPAddr, cfg.RaftAddr} {
		if host, _, err := net.SplitHostPort(addr); err == nil && !isLoopback(host) {
			return true
		}
	}
	return false
}

// raftTLS is the cluster's raft TLS, nil when TLS is off.
func (s *secrets) raftTLS() *cluster.RaftTLS {
	if s.certs == nil {
		return nil
	}
	return &cluster.RaftTLS{Server: s.certs.PeerServer(), Client: s.certs.PeerClient()}
}

// apiListener serves the API over TLS when it is on.
func (s *secrets) apiListener(ln net.Listener) net.Listener {
	if s.certs == nil {
		return ln
	}
	return tls.NewListener(ln, s.certs.APIServer())
}

// registerMetrics exports when the node's certificate expires.
func (s *secrets) registerMetrics(reg prometheus.Registerer) {
	if s.certs == nil {
		return
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "honua_tls_certificate_expiry_timestamp_seconds",
		Help: "When the certificate this node serves and dials with expires (unix seconds); it changes when the files are reloaded.",
	}, func() float64 { return float64(s.certs.NotAfter().Unix()) }))
}

// watch reloads the files whenever they change on disk, until ctx ends.
// Where a file cannot be watched, SIGHUP still reloads it.
func (s *secrets) watch(ctx context.Context) {
	if s.certs != nil {
		go func() {
			if err := s.certs.Watch(ctx); err != nil {
				s.logger.Warn("tls files are not watched; reload them with SIGHUP", "error", err)
			}
		}()
	}
	if s.tokens != nil {
		go func() {
			if err := s.tokens.Watch(ctx, s.logger.With("component", "auth")); err != nil {
				s.logger.Warn("the tokens file is not watched; reload it with SIGHUP", "error", err)
			}
		}()
	}
}

// reload reads every file again, on SIGHUP, and logs what it reloaded.
// A file that does not load keeps what the node had.
func (s *secrets) reload(sig os.Signal) {
	s.logger.Info("reloading tls files and tokens", "signal", sig.String())
	if s.certs != nil {
		if err := s.certs.Reload(); err != nil {
			s.logger.Error("tls certificates not reloaded", "error", err)
		}
	}
	if s.tokens != nil {
		changed, err := s.tokens.Reload()
		switch {
		case err != nil:
			s.logger.Error("tokens not reloaded", "error", err)
		case changed:
			s.logger.Info("tokens reloaded", "file", s.tokensFile, "tokens", s.tokens.Len())
		default:
			s.logger.Info("tokens unchanged")
		}
	}
}
