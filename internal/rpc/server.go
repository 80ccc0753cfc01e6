// Package rpc owns honuad's HTTP/JSON API: routing, the mapping from errors
// to status codes and JSON bodies, and (as it grows) forwarding writes to the
// leader and authentication.
package rpc

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/honua-io/honua-gitops/internal/cluster"
)

// Cluster is what the API needs of the local node.
type Cluster interface {
	ID() string
	Status() cluster.Status
	Ready() (bool, string)
	Leader() (id, apiAddr string)
}

// Server serves the API of one node.
type Server struct {
	cluster Cluster
	logger  *slog.Logger
	mux     *http.ServeMux
}

// NewServer returns the API handler for the node.
func NewServer(c Cluster, logger *slog.Logger) *Server {
	s := &Server{cluster: c, logger: logger.With("component", "rpc"), mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", s.handleHealthz)
	s.mux.HandleFunc("GET /readyz", s.handleReadyz)
	s.mux.HandleFunc("GET /v1/status", s.handleStatus)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return s
}

// ServeHTTP implements http.Handler. Every response names this node and the
// leader it knows of.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Honua-Node", s.cluster.ID())
	if id, _ := s.cluster.Leader(); id != "" {
		w.Header().Set("X-Honua-Leader", id)
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, _ *http.Request) {
	if ok, why := s.cluster.Ready(); !ok {
		writeError(w, http.StatusServiceUnavailable, "not_ready", why)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.cluster.Status())
}

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: msg, Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
