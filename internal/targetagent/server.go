package targetagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/rpc"
	"github.com/honua-io/honua-gitops/internal/target"
)

// The agent's paths.
const (
	// BundlePath takes a bundle (PUT) and says what is served (GET).
	BundlePath = "/v1/bundle"
	// HealthPath answers the agent's health and, with --health-url, the
	// Honua server's.
	HealthPath = "/healthz"
)

// Status is what the agent serves: GET /v1/bundle's answer, and a
// successful PUT's. It holds the digest drift detection compares (the
// served manifest and each file's SHA-256) and the highest fencing token
// ever accepted, which a PUT must not go below.
type Status struct {
	// Manifest is the served bundle's, nil before the first bundle.
	Manifest *target.Manifest `json:"manifest"`
	// HighestFencingToken is the highest token accepted (kept across
	// restarts).
	HighestFencingToken uint64 `json:"highestFencingToken"`
	// Files is the SHA-256, lowercase hex, of each served file by slash
	// path, the manifest excluded.
	Files map[string]string `json:"files"`
}

// dirTarget is what the agent needs of the directory target it keeps
// --dir with (internal/target's directory target has it all).
type dirTarget interface {
	target.Target
	target.Digester
	HighestToken() (uint64, error)
}

// Server is the agent's HTTP handler: it writes bundles into the folder
// through a directory target, which owns the switch and the fencing state.
type Server struct {
	cfg    Config
	dir    dirTarget
	tokens *rpc.Tokens // nil: no authentication
	log    *slog.Logger
	reload func(ctx context.Context, b *target.Bundle) error
	// mu orders PUTs (an apply and its reload together) before reads, so
	// a digest never reads a folder being switched.
	mu sync.RWMutex
}

// New returns the agent's handler for a validated cfg; tokens is nil
// when cfg.InsecureNoAuth.
func New(cfg Config, tokens *rpc.Tokens, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	log := logger.With("component", "target-agent")
	t, err := target.New(target.Config{Type: "directory", Path: cfg.Dir, Keep: cfg.Keep, Logger: logger})
	if err != nil {
		return nil, &ConfigError{Err: fmt.Errorf("dir: %w", err)}
	}
	dir, ok := t.(dirTarget)
	if !ok {
		return nil, fmt.Errorf("target-agent: the directory target %T reports no digest or token", t)
	}
	s := &Server{cfg: cfg, dir: dir, tokens: tokens, log: log}
	s.reload = s.runReload
	return s, nil
}

// ServeHTTP routes the agent's two paths.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case BundlePath:
		switch r.Method {
		case http.MethodPut:
			s.handlePut(w, r)
		case http.MethodGet, http.MethodHead:
			s.handleGet(w, r)
		default:
			w.Header().Set("Allow", "GET, HEAD, PUT")
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+BundlePath)
		}
	case HealthPath:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+HealthPath)
			return
		}
		s.handleHealth(w, r)
	default:
		writeError(w, http.StatusNotFound, "not_found", "no such path: the agent serves "+BundlePath+" and "+HealthPath)
	}
}

// authorized checks the bearer token and answers 401 when it is missing
// or unknown.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if s.tokens == nil {
		return true
	}
	id, err := s.tokens.Authenticate(r)
	if err != nil {
		s.log.Warn("refused a request", "method", r.Method, "remote", r.RemoteAddr, "error", err)
		w.Header().Set("WWW-Authenticate", `Bearer realm="honua-target-agent"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", err.Error())
		return false
	}
	s.log.Debug("authenticated", "name", id.Name, "method", r.Method)
	return true
}

// handlePut takes a bundle: checks the token, reads the bounded body,
// decodes and checks the document, applies it through the directory
// target (which refuses a lower fencing token), reloads, and answers what
// is served.
func (s *Server) handlePut(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxBundleSize)))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large",
				fmt.Sprintf("the bundle document is larger than %s (--max-bundle-size)", s.cfg.MaxBundleSize))
			return
		}
		writeError(w, http.StatusBadRequest, "invalid", "read the body: "+err.Error())
		return
	}
	b, err := target.DecodeDocument(body, r.Header.Get(target.FencingTokenHeader), r.Header.Get(target.DeploymentIDHeader))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", err.Error())
		return
	}
	if c := r.Header.Get(target.CommitHeader); c != "" && c != b.Manifest.Commit {
		writeError(w, http.StatusBadRequest, "invalid",
			fmt.Sprintf("header %s is %q but the manifest's commit is %q", target.CommitHeader, c, b.Manifest.Commit))
		return
	}
	// A client that goes away does not stop an apply half way (the switch
	// is atomic anyway) nor its reload.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Duration(s.cfg.ReloadTimeout)+target.DefaultLockWait)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	log := s.log.With("bundle", b.Manifest.BundleID(), "commit", b.Manifest.Commit, "fencingToken", b.Manifest.FencingToken)
	if err := s.dir.Apply(ctx, b); err != nil {
		status, code := applyStatus(err)
		log.Warn("bundle refused", "status", status, "error", err)
		if fe := (*target.FencedError)(nil); errors.As(err, &fe) {
			s.writeFenced(w, fe)
			return
		}
		writeError(w, status, code, err.Error())
		return
	}
	if err := s.reload(ctx, b); err != nil {
		// Served, but the server may not have read it: a 5xx, so honuad
		// tries again (the same bundle: no switch, another reload).
		log.Error("reload failed", "error", err)
		writeError(w, http.StatusBadGateway, "reload_failed", "the bundle is switched in but the reload failed: "+err.Error())
		return
	}
	log.Info("bundle served")
	st, err := s.status(ctx)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// fencedAnswer is a 409's body: the error, and the highest token accepted
// (first, and the message short, so that a client reading the first few
// hundred bytes of the body has it).
type fencedAnswer struct {
	HighestFencingToken uint64 `json:"highestFencingToken"`
	Code                string `json:"code"`
	Error               string `json:"error"`
}

// writeFenced answers 409 for a refused fencing token, naming the highest
// accepted: honuad takes a token above it when its own state is older
// than the agent's (restored from a backup).
func (s *Server) writeFenced(w http.ResponseWriter, fe *target.FencedError) {
	highest := fe.Highest
	if h, err := s.dir.HighestToken(); err == nil && h > highest {
		highest = h
	}
	writeJSON(w, http.StatusConflict, fencedAnswer{HighestFencingToken: highest, Code: "fenced", Error: fe.Error()})
}

// applyStatus maps a directory target's Apply error to an answer: 409 for
// a refused fencing token, 507 for a full disk, 400 for a bundle that
// cannot be written, 503 for a busy lock, 500 otherwise.
func applyStatus(err error) (int, string) {
	var te *target.Error
	switch {
	case errors.Is(err, target.ErrFenced):
		return http.StatusConflict, "fenced"
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return http.StatusInsufficientStorage, "insufficient_storage"
	case errors.As(err, &te) && te.Op == "validate bundle":
		return http.StatusBadRequest, "invalid"
	case errors.As(err, &te) && te.Retryable:
		return http.StatusServiceUnavailable, "busy"
	default:
		return http.StatusInternalServerError, "apply_failed"
	}
}

// handleGet answers what is served: with Accept: DigestMediaType exactly
// the digest internal/target's http target reads, else a Status.
func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, err := s.status(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	if accepts(r, target.DigestMediaType) {
		w.Header().Set("Content-Type", target.DigestMediaType)
		writeBody(w, http.StatusOK, target.Digest{Manifest: st.Manifest, Files: st.Files})
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// status reads what the folder serves and the highest token accepted.
func (s *Server) status(ctx context.Context) (*Status, error) {
	dg, err := s.dir.Digest(ctx)
	if err != nil {
		return nil, err
	}
	highest, err := s.dir.HighestToken()
	if err != nil {
		return nil, err
	}
	return &Status{Manifest: dg.Manifest, HighestFencingToken: highest, Files: dg.Files}, nil
}

// accepts reports whether the request's Accept header names mediaType.
func accepts(r *http.Request, mediaType string) bool {
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			mt, _, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(mt), mediaType) {
				return true
			}
		}
	}
	return false
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, api.ErrorBody{Error: msg, Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	writeBody(w, status, v)
}

func writeBody(w http.ResponseWriter, status int, v any) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
