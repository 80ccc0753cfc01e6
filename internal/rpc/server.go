// Package rpc owns honuad's HTTP/JSON API: routing, the mapping from errors
// to status codes and JSON bodies, webhooks, forwarding to the leader, and
// (as it grows) authentication.
package rpc

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// Cluster is what the API needs of the local node.
type Cluster interface {
	ID() string
	Status() cluster.Status
	Ready() (bool, string)
	Leader() (id, apiAddr string)
	IsLeader() bool
}

// Store is the replicated state the API reads.
type Store interface {
	Environment(name string) (*fsm.Environment, bool)
	Environments() []*fsm.Environment
	Deployment(id string) (*fsm.Deployment, bool)
	Deployments(env string, state fsm.DeploymentState, limit int) []*fsm.Deployment
	Source() fsm.SourceStatus
}

// Poller polls the configuration repository now; on the leader only.
type Poller interface {
	PollNow(reason string)
}

// Config is what a Server is built from.
type Config struct {
	Cluster Cluster
	Store   Store
	// Poller is nil when no repository is configured.
	Poller Poller
	// Repository describes the watched repository in /v1/status (URL
	// already redacted); nil when none is configured.
	Repository *RepositoryInfo
	Webhooks   WebhookSecrets
	// Registry receives the API's metrics and is served on /metrics.
	Registry *prometheus.Registry
	Logger   *slog.Logger
	// ForwardTimeout bounds a request forwarded to the leader.
	ForwardTimeout time.Duration
}

// RepositoryInfo is the configured repository.
type RepositoryInfo struct {
	URL    string `json:"url"`
	Branch string `json:"branch"`
}

// Server serves the API of one node.
type Server struct {
	cfg     Config
	logger  *slog.Logger
	mux     *http.ServeMux
	metrics *metrics
	forward *http.Client
}

// NewServer returns the API handler for the node.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = 10 * time.Second
	}
	s := &Server{
		cfg:     cfg,
		logger:  cfg.Logger.With("component", "rpc"),
		mux:     http.NewServeMux(),
		metrics: newMetrics(cfg.Registry),
		forward: &http.Client{Timeout: cfg.ForwardTimeout},
	}
	s.mux.HandleFunc("GET /healthz", s.handleHealthz)
	s.mux.HandleFunc("GET /readyz", s.handleReadyz)
	s.mux.HandleFunc("GET /v1/status", s.handleStatus)
	s.mux.HandleFunc("GET /v1/environments", s.handleEnvironments)
	s.mux.HandleFunc("GET /v1/environments/{env}", s.handleEnvironment)
	s.mux.HandleFunc("GET /v1/deployments", s.handleDeployments)
	s.mux.HandleFunc("GET /v1/deployments/{id}", s.handleDeployment)
	s.mux.HandleFunc("POST /v1/webhooks/{source}", s.handleWebhook)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return s
}

// ServeHTTP implements http.Handler. Every response names this node and the
// leader it knows of.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Honua-Node", s.cfg.Cluster.ID())
	if id, _ := s.cfg.Cluster.Leader(); id != "" {
		w.Header().Set("X-Honua-Leader", id)
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, _ *http.Request) {
	if ok, why := s.cfg.Cluster.Ready(); !ok {
		writeError(w, http.StatusServiceUnavailable, "not_ready", why)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// statusBody is GET /v1/status: the node's view of the cluster and, when a
// repository is configured, of the repository.
type statusBody struct {
	cluster.Status
	Repository *repositoryStatus `json:"repository,omitempty"`
}

type repositoryStatus struct {
	RepositoryInfo
	fsm.SourceStatus
}

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	body := statusBody{Status: s.cfg.Cluster.Status()}
	if s.cfg.Repository != nil {
		body.Repository = &repositoryStatus{RepositoryInfo: *s.cfg.Repository, SourceStatus: s.cfg.Store.Source()}
	}
	writeJSON(w, http.StatusOK, body)
}

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: msg, Code: code})
}

// writeErr maps an error from the layers below to a status code and code.
func writeErr(w http.ResponseWriter, err error) {
	status, code := http.StatusInternalServerError, "internal"
	switch {
	case errors.Is(err, fsm.ErrNotFound):
		status, code = http.StatusNotFound, "not_found"
	case errors.Is(err, fsm.ErrInvalid):
		status, code = http.StatusBadRequest, "invalid"
	case errors.Is(err, fsm.ErrWrongState), errors.Is(err, fsm.ErrIllegalTransition), errors.Is(err, fsm.ErrConflict):
		status, code = http.StatusConflict, "wrong_state"
	case errors.Is(err, fsm.ErrNotAllowed):
		status, code = http.StatusForbidden, "forbidden"
	case errors.Is(err, cluster.ErrNotLeader), errors.Is(err, cluster.ErrNoLeader):
		status, code = http.StatusServiceUnavailable, "no_leader"
	case errors.Is(err, cluster.ErrLeadershipLost):
		status, code = http.StatusServiceUnavailable, "unknown_outcome"
	case errors.Is(err, cluster.ErrTimeout), errors.Is(err, cluster.ErrShutdown):
		status, code = http.StatusServiceUnavailable, "unavailable"
	}
	writeError(w, status, code, err.Error())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
