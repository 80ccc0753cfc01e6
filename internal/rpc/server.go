// Package rpc owns honuad's HTTP/JSON API: routing, authentication and
// roles, forwarding writes (and consistent reads) to the leader, webhooks,
// server-sent events, the mapping from errors to status codes and JSON
// bodies, and the conversion of the replicated state and of the node's view
// of the cluster into the API's wire types (wire.go, wire_docs.go), whose
// bytes the golden tests pin (testdata/golden).
package rpc

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/reconcile"
)

// Cluster is what the API needs of the local node.
type Cluster interface {
	ID() string
	Status() cluster.Status
	Members() []cluster.Member
	Ready() (bool, string)
	Leader() (id, apiAddr string)
	IsLeader() bool
	// LeaderReady: this node leads and has issued its Barrier.
	LeaderReady() bool
	VerifyLeader() error
	// Apply replicates a command; when ctx is done it returns ctx.Err()
	// at once, and a command already proposed may still commit.
	Apply(ctx context.Context, c fsm.Command) (any, error)
	RemoveMember(id string) error
	AppliedIndex() uint64
	LastContact() time.Time
	SaveBackup(w io.Writer) error
	RestoreBackup(r io.Reader) (uint64, error)
}

// Store is the replicated state the API reads.
type Store interface {
	Environment(name string) (*fsm.Environment, bool)
	// BriefEnvironments leaves out the ids of the environments'
	// histories.
	BriefEnvironments() []fsm.EnvironmentBrief
	Deployment(id string) (*fsm.Deployment, bool)
	// Peek calls fn with the live record of a deployment (nil when there
	// is none), which fn must not keep or change: no copy is made.
	Peek(id string, fn func(d *fsm.Deployment))
	// BriefDeployments and BriefHistory leave out the plan and
	// validation documents.
	BriefDeployments(env string, state fsm.DeploymentState, limit int) []*fsm.Deployment
	BriefHistory(env string) []*fsm.Deployment
	// Dump is the state as a snapshot would hold it: identical on nodes
	// that applied the same log.
	Dump() ([]byte, error)
	Source() fsm.SourceStatus
	EventsAfter(after fsm.EventID, env string) []fsm.Event
	// Notifications are the outbox's notifications the filter selects,
	// newest first.
	Notifications(filter fsm.NotificationFilter) []fsm.Notification
	Changed() <-chan struct{}
}

// Pipeline is the leader's reconciler, for what needs more than a command:
// polls, rollbacks, and the approver groups of an environment's policy.
type Pipeline interface {
	PollNow(reason string)
	// PollCommit is PollNow for a push that names the commit the branch
	// now holds: a hint, never what is deployed.
	PollCommit(reason, commit string)
	// Preview computes what a deployment of a branch or commit would get.
	Preview(ctx context.Context, env, ref string) (*reconcile.Preview, error)
	Rollback(ctx context.Context, env, to, by string) (*fsm.Deployment, error)
	Approvers(ctx context.Context, env string) ([]string, error)
}

var _ Pipeline = (*reconcile.Reconciler)(nil)

// Config is what a Server is built from.
type Config struct {
	Cluster Cluster
	Store   Store
	// Pipeline is nil when no repository is configured.
	Pipeline Pipeline
	// Repository describes the watched repository in /v1/status (URL
	// already redacted); nil when none is configured.
	Repository *RepositoryInfo
	Webhooks   WebhookSecrets
	// Tokens authenticates requests; nil turns authentication off (every
	// request is the admin "anonymous").
	Tokens *Tokens
	// Keyring is the node's gossip keyring, served by the keyring
	// endpoints; nil answers as a node whose gossip is not encrypted.
	Keyring Keyring
	// Registry receives the API's metrics and is served on /metrics.
	Registry *prometheus.Registry
	Logger   *slog.Logger
	// LeaderWait is how long a write waits for a leader to be known
	// before it is refused with 503 (default 5s).
	LeaderWait time.Duration
	// ForwardTimeout bounds a request forwarded to the leader (default
	// 30s).
	ForwardTimeout time.Duration
	// PeerTLS, when set, forwards requests to the leader over https with
	// this config, which must verify that the leader's certificate is a
	// node's of the cluster's CA (certs.Store.PeerClient) and present this
	// node's own. Nil forwards over plain http: the client's token then
	// crosses the network in the clear, to whatever address gossip
	// advertises as the leader's API.
	PeerTLS *tls.Config
	// Now is the clock of the times written into commands; default
	// time.Now.
	Now func() time.Time
	// Limits bound what one client can hold of the node.
	Limits Limits
	// Debug serves Go's pprof profiles and traces at /debug/pprof/, to
	// admin tokens (debug.go).
	Debug bool
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

	// The abuse limits (ratelimit.go).
	webhookLimits *rateTable
	authFailures  *rateTable
	forwardSlots  chan struct{}
	members       *memberHosts
	leaderCheck   leaderCheck
	// docs converts the documents of the deployments approvals and
	// rejections answer with once (write.go).
	docs docMemo
}

// maxBody bounds the body of an API request (webhooks have their own).
const maxBody = 64 << 10

// NewServer returns the API handler for the node.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.LeaderWait <= 0 {
		cfg.LeaderWait = 5 * time.Second
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Limits = cfg.Limits.withDefaults()
	s := &Server{
		cfg:           cfg,
		logger:        cfg.Logger.With("component", "rpc"),
		mux:           http.NewServeMux(),
		metrics:       newMetrics(cfg.Registry),
		forward:       newForwardClient(cfg.ForwardTimeout, cfg.PeerTLS),
		webhookLimits: newRateTable(cfg.Limits.WebhookRate, cfg.Limits.WebhookBurst, cfg.Limits.maxTracked, cfg.Limits.now),
		authFailures:  newRateTable(cfg.Limits.AuthFailureRate, cfg.Limits.AuthFailureBurst, cfg.Limits.maxTracked, cfg.Limits.now),
		forwardSlots:  make(chan struct{}, cfg.Limits.MaxForwarded),
		members:       &memberHosts{c: cfg.Cluster},
	}
	// Open: probes and metrics, each bounded per client address.
	s.mux.Handle("GET /healthz", s.perClient("healthz", http.HandlerFunc(s.handleHealthz)))
	s.mux.Handle("GET /readyz", s.perClient("readyz", http.HandlerFunc(s.handleReadyz)))
	s.mux.Handle("GET /metrics", s.perClient("metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{})))
	// Webhooks carry their own secrets; each source is also bounded in
	// rate per client.
	s.mux.Handle("POST /v1/webhooks/{source}", s.webhookRate(s.perClient("webhooks", http.HandlerFunc(s.handleWebhook))))

	s.read("GET /v1/status", "status", s.handleStatus)
	s.read("GET /v1/environments", "environments", s.handleEnvironments)
	s.read("GET /v1/environments/{env}", "environment", s.handleEnvironment)
	s.read("GET /v1/environments/{env}/history", "history", s.handleHistory)
	s.read("GET /v1/deployments", "deployments", s.handleDeployments)
	s.read("GET /v1/deployments/{id}", "deployment", s.handleDeployment)
	s.read("GET /v1/cluster/members", "members", s.handleMembers)
	s.read("GET /v1/notifications", "notifications", s.handleNotifications)
	s.route("GET /v1/events", "events", RoleViewer, false, s.handleEvents)
	s.read("GET /v1/whoami", "whoami", s.handleWhoami)
	// The policy is read by the leader's pipeline: served there, as a
	// write is.
	s.route("GET /v1/environments/{env}/plan", "preview", RoleViewer, true, s.handlePreview)
	s.route("GET /v1/environments/{env}/approvers", "approvers", RoleViewer, true, s.handleApprovers)
	s.route("GET /v1/debug/state", "debug_state", RoleAdmin, false, s.handleDebugState)

	s.route("POST /v1/deployments/{id}/approve", "approve", RoleApprover, true, s.handleApprove)
	s.route("POST /v1/deployments/{id}/reject", "reject", RoleApprover, true, s.handleReject)
	s.route("POST /v1/environments/{env}/rollback", "rollback", RoleApprover, true, s.handleRollback)
	s.route("POST /v1/environments/{env}/sync", "sync", RoleApprover, true, s.handleSync)
	s.route("POST /v1/environments/{env}/suspend", "suspend", RoleApprover, true, s.handleSuspend)
	s.route("POST /v1/environments/{env}/resume", "resume", RoleApprover, true, s.handleResume)
	s.route("POST /v1/deployments/{id}/cancel", "cancel", RoleApprover, true, s.handleCancel)
	s.route("POST /v1/deployments/{id}/promote", "promote", RoleApprover, true, s.handlePromote)
	s.route("POST /v1/deployments/{id}/abort", "abort", RoleApprover, true, s.handleAbort)
	s.route("POST /v1/deployments/{id}/override", "override", RoleAdmin, true, s.handleOverride)
	s.route("POST /v1/notifications/{id}/retry", "retry_notification", RoleAdmin, true, s.handleRetryNotification)
	s.route("DELETE /v1/cluster/members/{id}", "remove_member", RoleAdmin, true, s.handleRemoveMember)
	s.route("GET /v1/agent/keyring", "keyring_list", RoleAdmin, false, s.handleKeyringList)
	s.route("POST /v1/agent/keyring", "keyring_change", RoleAdmin, true, s.handleKeyringChange)
	if cfg.Debug {
		s.routeDebug()
	}
	s.route("GET /v1/snapshot", "snapshot_save", RoleAdmin, true, s.handleSnapshotSave)
	s.routeLimit("POST /v1/snapshot", "snapshot_restore", RoleAdmin, true, maxRestoreBody, s.handleSnapshotRestore)

	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return s
}

// read registers a read endpoint: served by this node from its own state,
// or — with ?consistent=true — by the leader after confirming it leads.
func (s *Server) read(pattern, name string, h http.HandlerFunc) {
	s.route(pattern, name, RoleViewer, false, h)
}

// route registers an endpoint behind authentication, the role check, and
// — for writes and consistent reads, unless localRoutes names it — the
// leader.
func (s *Server) route(pattern, name string, role Role, write bool, h http.HandlerFunc) {
	s.routeLimit(pattern, name, role, write, maxBody, h)
}

// maxRestoreBody bounds a backup sent to POST /v1/snapshot.
const maxRestoreBody = 1 << 30

// routeLimit is route with its own bound on the request body.
func (s *Server) routeLimit(pattern, name string, role Role, write bool, limit int64, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		defer func() { s.metrics.requests.WithLabelValues(name, strconv.Itoa(rec.code)).Inc() }()
		w = rec
		if s.authLimited(w, r, name) {
			return
		}
		id, err := s.cfg.Tokens.authenticate(r)
		if err != nil {
			s.authFailed(r)
			writeError(w, http.StatusUnauthorized, "unauthorized", err.Error())
			return
		}
		if id.Role < role {
			writeError(w, http.StatusForbidden, "forbidden",
				fmt.Sprintf("%s (role %s) may not %s: it needs the %s role", id.Name, id.Role, name, role))
			return
		}
		if err := checkBrowser(r, s.cfg.Tokens == nil); err != nil {
			writeError(w, http.StatusForbidden, "cross_origin", err.Error())
			return
		}
		r = r.WithContext(withIdentity(r.Context(), id))
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if check := bodyChecks[name]; check != nil {
			if err := check(r); err != nil {
				writeErr(w, err)
				return
			}
		}
		consistent := r.URL.Query().Get("consistent") == "true"
		if (write || consistent) && !localRoutes[name] {
			if !s.cfg.Cluster.IsLeader() {
				s.forwardToLeader(w, r)
				return
			}
			if consistent {
				if err := s.confirmLeadership(); err != nil {
					writeErr(w, err)
					return
				}
			}
		}
		if !write {
			w.Header().Set("X-Honua-Index", strconv.FormatUint(s.cfg.Cluster.AppliedIndex(), 10))
			if lc := s.cfg.Cluster.LastContact(); !lc.IsZero() && !s.cfg.Cluster.IsLeader() {
				w.Header().Set("X-Honua-Last-Contact", strconv.FormatInt(time.Since(lc).Milliseconds(), 10)+"ms")
			} else if s.cfg.Cluster.IsLeader() {
				w.Header().Set("X-Honua-Last-Contact", "0ms")
			}
		}
		h(w, r)
	})
}

// confirmLeadership makes a linearizable read possible: this node leads,
// issued its term's Barrier, and a quorum confirms it still leads (in a
// confirmation shared with the reads that arrived at the same time).
func (s *Server) confirmLeadership() error {
	if !s.cfg.Cluster.LeaderReady() {
		return fmt.Errorf("this node's leadership is not established yet: %w", cluster.ErrNotLeader)
	}
	return s.leaderCheck.confirm(s.cfg.Cluster.VerifyLeader)
}

// ServeHTTP implements http.Handler. Every response names this node and the
// leader it knows of, and carries the request's id: the client's
// X-Request-Id when it sent a sane one, a new one otherwise. The id goes
// with the request when it is forwarded and into every log line it causes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(requestIDHeader)
	if !validRequestID(id) {
		id = newRequestID()
		r.Header.Set(requestIDHeader, id)
	}
	w.Header().Set(requestIDHeader, id)
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
	w.Header().Set("X-Honua-Node", s.cfg.Cluster.ID())
	if id, _ := s.cfg.Cluster.Leader(); id != "" {
		w.Header().Set("X-Honua-Leader", id)
	}
	w, r = s.progress(w, r)
	s.mux.ServeHTTP(w, r)
}

// requestIDHeader carries a request's id between clients and nodes.
const requestIDHeader = "X-Request-Id"

type requestIDKey struct{}

// log returns the logger for lines a request causes.
func (s *Server) log(r *http.Request) *slog.Logger {
	if id, ok := r.Context().Value(requestIDKey{}).(string); ok {
		return s.logger.With("request_id", id)
	}
	return s.logger
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
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

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request) {
	body := wireStatus(s.cfg.Cluster.Status())
	if s.cfg.Repository != nil {
		body.Repository = &api.RepositoryStatus{URL: s.cfg.Repository.URL, Branch: s.cfg.Repository.Branch,
			SourceStatus: wireSourceStatus(s.cfg.Store.Source())}
	}
	writeJSON(w, http.StatusOK, body)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, api.ErrorBody{Error: msg, Code: code})
}

// writeErr maps an error from the layers below to a status code and code.
func writeErr(w http.ResponseWriter, err error) {
	status, code := http.StatusInternalServerError, "internal"
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge), errors.Is(err, cluster.ErrTooLarge):
		status, code = http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, errUnsupportedMediaType):
		status, code = http.StatusUnsupportedMediaType, "unsupported_media_type"
	case errors.Is(err, fsm.ErrNotFound), errors.Is(err, cluster.ErrUnknownMember), errors.Is(err, reconcile.ErrRefNotFound):
		status, code = http.StatusNotFound, "not_found"
	case errors.Is(err, fsm.ErrInvalid), errors.Is(err, errBadRequest), errors.Is(err, cluster.ErrBadBackup),
		errors.Is(err, reconcile.ErrUnknownTarget), errors.Is(err, reconcile.ErrBadRef):
		status, code = http.StatusBadRequest, "invalid"
	case errors.Is(err, fsm.ErrWrongState), errors.Is(err, fsm.ErrIllegalTransition), errors.Is(err, fsm.ErrConflict),
		errors.Is(err, reconcile.ErrNothingToRollBack), errors.Is(err, cluster.ErrRemoveLeader),
		errors.Is(err, cluster.ErrMemberAlive):
		status, code = http.StatusConflict, "wrong_state"
	case errors.Is(err, fsm.ErrNotAllowed):
		status, code = http.StatusForbidden, "forbidden"
	case errors.Is(err, cluster.ErrNotLeader), errors.Is(err, cluster.ErrNoLeader):
		status, code = http.StatusServiceUnavailable, "no_leader"
	case errors.Is(err, cluster.ErrLeadershipLost):
		status, code = http.StatusServiceUnavailable, "unknown_outcome"
	case errors.Is(err, cluster.ErrTimeout), errors.Is(err, cluster.ErrShutdown), errors.Is(err, errNoRepository):
		status, code = http.StatusServiceUnavailable, "unavailable"
	case errors.Is(err, context.Canceled):
		// The client went away before the answer was ready; nobody
		// reads it. A command not yet proposed was not applied; one
		// already proposed may still be (cluster.Node.Apply).
		status, code = http.StatusRequestTimeout, "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		status, code = http.StatusServiceUnavailable, "unavailable"
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		// This node's disk is full (a backup being restored could not be
		// kept): nothing was changed.
		status, code = http.StatusInsufficientStorage, "insufficient_storage"
	case errors.Is(err, cluster.ErrGossipNotEncrypted), errors.Is(err, cluster.ErrGossipKeyNotInstalled),
		errors.Is(err, cluster.ErrGossipKeyPrimary), errors.Is(err, cluster.ErrGossipKeyringFull):
		status, code = http.StatusConflict, "wrong_state"
	}
	writeJSON(w, status, api.ErrorBody{Error: err.Error(), Code: code})
}

// answerOptions encode answers as encoding/json would, indented: the
// go-json-experiment engine (encoding/json/v2 to be) indents as it encodes
// and streams, where encoding/json encodes, indents a second copy, then
// writes. Encoding the environments list of the 100k bench state took
// 6.8 ms instead of 14 (and half the garbage); writeJSON was 16% of the
// leader's CPU in the approvals bench.
// TestGoldenAnswers holds every answer to encoding/json's bytes.
var answerOptions = jsonv2.JoinOptions(jsonv1.DefaultOptionsV1(), jsontext.WithIndent("  "))

// answerBuffers hold answers while they are encoded: an answer is sent
// in one write with its length, not flushed in chunks as the encoder
// fills (each chunk a write on the connection). Buffers over
// maxPooledAnswer are left to the collector rather than kept. The list of
// 1,000 environments is 1.2 MB: growing a new buffer for it was 4 MB of
// garbage a request, 60% of what the request allocated, and the collector
// then took 38% of the node's CPU (make bench-state's -large -profile).
// The pool drops what two collections find unused.
var answerBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledAnswer = 4 << 20

func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := answerBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledAnswer {
			buf.Reset()
			answerBuffers.Put(buf)
		}
	}() // a pooled buffer is put back empty
	if err := jsonv2.MarshalWrite(buf, v, answerOptions); err != nil {
		// Only a type that cannot be encoded does this: a bug, not input.
		writeError(w, http.StatusInternalServerError, "internal", fmt.Sprintf("encode the answer: %v", err))
		return
	}
	buf.WriteByte('\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// statusRecorder remembers the status code for the metrics.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// Flush lets server-sent events through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
