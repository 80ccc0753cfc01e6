package target

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/honua-io/honua-gitops/internal/certs"
)

// Target is one place an environment's bundle goes.
type Target interface {
	// String names the target: "directory /srv/honua/production",
	// "http https://honua-prod:8080/admin/bundle",
	// "exec /usr/local/bin/notify-honua".
	String() string
	// Apply deploys b. Its errors are a *Error naming the target, the
	// step and the cause; a refused fencing token also matches ErrFenced.
	Apply(ctx context.Context, b *Bundle) error
	// Current returns the manifest of what the target serves now, nil when
	// unknown (nothing deployed yet, or a target that cannot tell: http
	// and exec targets return nil).
	Current(ctx context.Context) (*Manifest, error)
}

// Config describes one target.
type Config struct {
	// Type is directory, http or exec.
	Type string
	// Path is where a directory target's bundle is served. It becomes a
	// symlink; its parent directory must exist.
	Path string
	// URL is where an http target PUTs the bundle: http or https.
	URL string
	// Command is the argv an exec target runs.
	Command []string
	// Keep is how many bundles a directory target keeps, in switch order,
	// besides the one served (default DefaultKeep).
	Keep int
	// Timeout bounds each attempt of an http target (default
	// DefaultTimeout).
	Timeout time.Duration
	// TokenFile holds the bearer token an http target sends with each
	// request (Authorization: Bearer), read again for every request so
	// that a rotated token is used at once; empty: no token.
	TokenFile string
	// CAFile, CertFile and KeyFile are an https target's TLS files: the CA
	// certificates the server's certificate must be signed by (empty: the
	// system's roots), and a client certificate and its key for a server
	// that asks for one (both or neither). The server's certificate must
	// carry the URL's host name.
	CAFile, CertFile, KeyFile string
	// Logger receives the target's log; nil discards it.
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultKeep    = 5
	DefaultTimeout = 30 * time.Second
)

// New checks cfg and returns its target. An error names the field at
// fault. New does not touch the network, and reads no file but an http
// target's TLS files.
func New(cfg Config) (Target, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "target")
	switch cfg.Type {
	case "directory":
		return newDirectory(cfg, log)
	case "http":
		return newHTTP(cfg, log)
	case "exec":
		return newExec(cfg, log)
	case "":
		return nil, errors.New("target config: type: is required (directory, http or exec)")
	default:
		return nil, fmt.Errorf("target config: type: %q is not directory, http or exec", cfg.Type)
	}
}

func newDirectory(cfg Config, log *slog.Logger) (*directoryTarget, error) {
	if cfg.Path == "" {
		return nil, errors.New("target config: path: is required for a directory target")
	}
	p, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("target config: path: %q: %w", cfg.Path, err)
	}
	if filepath.Dir(p) == p {
		return nil, fmt.Errorf("target config: path: %q: must not be the root directory", cfg.Path)
	}
	keep := cfg.Keep
	switch {
	case keep == 0:
		keep = DefaultKeep
	case keep < 0:
		return nil, fmt.Errorf("target config: keep: %d: must be at least 1 (0 means %d)", cfg.Keep, DefaultKeep)
	}
	d := &directoryTarget{
		path:     p,
		parent:   filepath.Dir(p),
		area:     filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".honua"),
		keep:     keep,
		lockWait: DefaultLockWait,
	}
	d.bundles = filepath.Join(d.area, "bundles")
	d.log = log.With("target", d.String())
	return d, nil
}

func newHTTP(cfg Config, log *slog.Logger) (*httpTarget, error) {
	u, err := url.Parse(cfg.URL)
	if cfg.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("target config: url: %q: must be an http or https URL for an http target", redact(cfg.URL))
	}
	timeout := cfg.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		return nil, fmt.Errorf("target config: timeout: %v: must be positive", cfg.Timeout)
	}
	h := &httpTarget{
		url:        cfg.URL,
		name:       "http " + u.Redacted(),
		timeout:    timeout,
		backoffMin: 200 * time.Millisecond,
		backoffMax: 5 * time.Second,
		tokenFile:  cfg.TokenFile,
		client:     http.Client{CheckRedirect: noRedirect},
	}
	if cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" {
		if u.Scheme != "https" {
			return nil, fmt.Errorf("target config: url: %q: caFile, certFile and keyFile need an https URL", u.Redacted())
		}
		tc, err := certs.Client(certs.ClientOptions{CAFile: cfg.CAFile, CertFile: cfg.CertFile, KeyFile: cfg.KeyFile, ServerName: u.Hostname()})
		if err != nil {
			return nil, fmt.Errorf("target config: tls: %w", err)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc
		h.client.Transport = tr
	}
	h.log = log.With("target", h.name)
	return h, nil
}

func newExec(cfg Config, log *slog.Logger) (*execTarget, error) {
	if len(cfg.Command) == 0 || cfg.Command[0] == "" {
		return nil, errors.New("target config: command: is required for an exec target (an argv, the program first)")
	}
	e := &execTarget{argv: append([]string(nil), cfg.Command...)}
	e.log = log.With("target", e.String())
	return e, nil
}

// redact returns raw with any password in it replaced, for error messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
