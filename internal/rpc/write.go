package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// Writes run on the leader (route forwards them there). Retrying one is
// safe: the same identity approving twice is one approval.

var (
	errBadRequest   = errors.New("bad request")
	errNoRepository = errors.New("this cluster watches no repository (no repository section in its configuration)")
)

// decode reads a JSON body into v, refusing unknown fields and trailing
// data, and a body whose Content-Type is not application/json. An empty
// body is an empty object, whatever its Content-Type.
func decode(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	if err := checkMediaType(r, "application/json"); err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %v: %w", err, errBadRequest)
	}
	if dec.More() {
		return fmt.Errorf("request body: more than one JSON value: %w", errBadRequest)
	}
	return nil
}

// approveBody is the body of POST /v1/deployments/{id}/approve.
type approveBody struct {
	Comment string `json:"comment"`
}

func (s *Server) handleApprove(w http.ResponseWriter, r *http.Request) {
	var b approveBody
	if err := decode(r, &b); err != nil {
		writeErr(w, err)
		return
	}
	id := identityOf(r)
	res, err := s.cfg.Cluster.Apply(r.Context(), &fsm.Approve{ID: r.PathValue("id"), Identity: id.Name, Groups: id.Groups,
		Time: s.cfg.Now().UTC(), Comment: b.Comment})
	if err != nil {
		writeErr(w, err)
		return
	}
	ar := res.(*fsm.ApproveResult)
	s.log(r).Info("deployment approved", "deployment", ar.Deployment.ID, "by", id.Name, "duplicate", ar.Duplicate)
	writeJSON(w, http.StatusOK, api.ApproveResult{Duplicate: ar.Duplicate, Deployment: s.docs.wireDeployment(ar.Deployment)})
}

// docMemo remembers the API form of the plan and validation documents of
// the deployments last answered for, by deployment id, each with the
// stored bytes it was made from. A deployment's documents are written when
// it is planned and never change after (retention only drops them), yet an
// approval is answered with the whole deployment: converting its documents
// again for each one (decoded as stored, encoded as the API declares) was
// 11–13% of the leader's CPU under a load of approvals (#17). The memo is
// checked against the stored bytes on every use, so an answer is always
// what wireDeployment makes of the record.
type docMemo struct {
	mu sync.Mutex
	m  map[string]memoDocs
}

// memoDocs is one deployment's documents, as stored and in the API's form.
type memoDocs struct {
	plan, validation         fsm.Document // as stored
	wirePlan, wireValidation json.RawMessage
}

// docMemoSize bounds the memo; it starts afresh when full.
const docMemoSize = 512

// wireDeployment is the package's wireDeployment, with d's documents
// converted at most once while they stay the same. d must not change
// after (the FSM returns copies).
func (m *docMemo) wireDeployment(d *fsm.Deployment) *api.Deployment {
	if d == nil {
		return nil
	}
	m.mu.Lock()
	e, ok := m.m[d.ID]
	m.mu.Unlock()
	if !ok || e.plan != d.Plan || e.validation != d.Validation {
		e = memoDocs{plan: d.Plan, validation: d.Validation, wirePlan: wirePlan(d.Plan.JSON()), wireValidation: wireValidation(d.Validation.JSON())}
		m.mu.Lock()
		if m.m == nil || len(m.m) >= docMemoSize {
			m.m = make(map[string]memoDocs, docMemoSize)
		}
		m.m[d.ID] = e
		m.mu.Unlock()
	}
	bare := *d
	bare.Plan, bare.Validation = fsm.Document{}, fsm.Document{}
	out := wireDeployment(&bare)
	out.Plan, out.Validation = e.wirePlan, e.wireValidation
	return out
}

// rejectBody is the body of POST /v1/deployments/{id}/reject.
type rejectBody struct {
	Reason string `json:"reason"`
}

func (s *Server) handleReject(w http.ResponseWriter, r *http.Request) {
	var b rejectBody
	if err := decode(r, &b); err != nil {
		writeErr(w, err)
		return
	}
	if strings.TrimSpace(b.Reason) == "" {
		writeError(w, http.StatusBadRequest, "invalid", `reason is required: {"reason": "why not"}`)
		return
	}
	id := identityOf(r)
	res, err := s.cfg.Cluster.Apply(r.Context(), &fsm.Reject{ID: r.PathValue("id"), Identity: id.Name, Groups: id.Groups,
		Time: s.cfg.Now().UTC(), Reason: b.Reason})
	if err != nil {
		writeErr(w, err)
		return
	}
	d := res.(*fsm.Deployment)
	s.log(r).Info("deployment rejected", "deployment", d.ID, "by", id.Name)
	writeJSON(w, http.StatusOK, s.docs.wireDeployment(d))
}

// rollbackBody is the body of POST /v1/environments/{env}/rollback.
type rollbackBody struct {
	// To is a deployment id or a commit; empty means the previous
	// Completed deployment.
	To string `json:"to"`
}

func (s *Server) handleRollback(w http.ResponseWriter, r *http.Request) {
	var b rollbackBody
	if err := decode(r, &b); err != nil {
		writeErr(w, err)
		return
	}
	env := r.PathValue("env")
	if err := s.checkEnvironmentAccess(r, env); err != nil {
		writeErr(w, err)
		return
	}
	id := identityOf(r)
	d, err := s.cfg.Pipeline.Rollback(r.Context(), env, b.To, id.Name)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, wireDeployment(d))
}

func (s *Server) handleSync(w http.ResponseWriter, r *http.Request) {
	if err := decode(r, &struct{}{}); err != nil {
		writeErr(w, err)
		return
	}
	env := r.PathValue("env")
	if err := s.checkEnvironmentAccess(r, env); err != nil {
		writeErr(w, err)
		return
	}
	id := identityOf(r)
	res, err := s.cfg.Cluster.Apply(r.Context(), &fsm.RequestSync{Environment: env, By: id.Name, Time: s.cfg.Now().UTC()})
	if err != nil {
		writeErr(w, err)
		return
	}
	s.cfg.Pipeline.PollNow("sync of " + env + " requested by " + id.Name)
	writeJSON(w, http.StatusAccepted, wireEnvironment(syncedEnvironment(res)))
}

// checkEnvironmentAccess checks that env exists, that a repository is
// watched, and that the identity is in the approver groups of the policy
// in force for env.
func (s *Server) checkEnvironmentAccess(r *http.Request, env string) error {
	if !fsm.ValidEnvironmentName(env) {
		return fmt.Errorf("%q is not a valid environment name: %w", env, errBadRequest)
	}
	if s.cfg.Pipeline == nil {
		return errNoRepository
	}
	if _, ok := s.cfg.Store.Environment(env); !ok {
		return fmt.Errorf("environment %s: %w", env, fsm.ErrNotFound)
	}
	approvers, err := s.cfg.Pipeline.Approvers(r.Context(), env)
	if err != nil {
		return err
	}
	if id := identityOf(r); !mayDecide(id, approvers) {
		return errNotApprover(id, env, approvers)
	}
	return nil
}

func (s *Server) handleRemoveMember(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.cfg.Cluster.RemoveMember(id); err != nil {
		writeErr(w, err)
		return
	}
	s.log(r).Info("member removed by an operator", "member", id, "by", identityOf(r).Name)
	writeJSON(w, http.StatusOK, map[string]string{"removed": id})
}

func (s *Server) handleSnapshotSave(w http.ResponseWriter, r *http.Request) {
	// The backup streams from the leader's point-in-time view as it is
	// encoded, never held whole: the answer's headers go out with its
	// first bytes, so an error before them (no leader, a Barrier that
	// timed out) is still a JSON error.
	out := &startWriter{w: w, start: func() {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="honua-backup.snap"`)
		w.WriteHeader(http.StatusOK)
	}, flush: func() { _ = http.NewResponseController(w).Flush() }}
	err := s.cfg.Cluster.SaveBackup(out)
	switch {
	case err != nil && !out.started:
		writeErr(w, err)
		return
	case err != nil:
		// Half a backup was sent: cut the connection, so that the client
		// sees a broken answer rather than a short backup (its header
		// line says its size, too).
		s.log(r).Error("backup cut short", "by", identityOf(r).Name, "bytes", out.n, "error", err)
		panic(http.ErrAbortHandler)
	}
	s.log(r).Info("backup saved", "by", identityOf(r).Name, "bytes", out.n)
}

// startWriter calls start before its first write, and counts the bytes.
type startWriter struct {
	w       io.Writer
	start   func()
	flush   func() // after the first write, if set
	started bool
	n       int64
}

func (s *startWriter) Write(p []byte) (int, error) {
	if !s.started {
		s.started = true
		s.start()
	}
	n, err := s.w.Write(p)
	if s.n == 0 && err == nil && s.flush != nil {
		s.flush() // the header line goes out at once, not with the first 4 KiB
	}
	s.n += int64(n)
	return n, err
}

// bodyChecks check a request's body, by route name, before it is forwarded
// to the leader or served: a follower refuses a bad body itself rather than
// send it on. A check may replace r.Body.
var bodyChecks = map[string]func(r *http.Request) error{
	"snapshot_restore": checkBackupBody,
}

// checkBackupBody checks the body of POST /v1/snapshot: a backup, sent as
// application/octet-stream, whose header line (read here, at most 4 KiB)
// is a backup's and says the size the body has.
func checkBackupBody(r *http.Request) error {
	if err := checkMediaType(r, "application/octet-stream"); err != nil {
		return err
	}
	size, backup, err := cluster.CheckBackupHeader(r.Body)
	if err != nil {
		return err
	}
	if r.ContentLength >= 0 && r.ContentLength != size {
		return fmt.Errorf("%w: the body is %d bytes, and the backup's header says %d", cluster.ErrBadBackup, r.ContentLength, size)
	}
	r.Body = readCloser{Reader: backup, Closer: r.Body}
	return nil
}

// readCloser is a body read through another reader.
type readCloser struct {
	io.Reader
	io.Closer
}

func (s *Server) handleSnapshotRestore(w http.ResponseWriter, r *http.Request) {
	index, err := s.cfg.Cluster.RestoreBackup(r.Body)
	if err != nil {
		writeErr(w, err)
		return
	}
	s.log(r).Warn("state restored from a backup", "by", identityOf(r).Name, "applied_index", index)
	writeJSON(w, http.StatusOK, map[string]uint64{"appliedIndex": index})
}

// syncedEnvironment is the environment a RequestSync command returns.
func syncedEnvironment(res any) *fsm.Environment {
	e, _ := res.(*fsm.Environment)
	return e
}
