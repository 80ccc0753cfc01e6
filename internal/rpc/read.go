package rpc

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// Read endpoints are served from this node's FSM: any node answers them.

// summarize is a deployment as lists give it.
func summarize(d *fsm.Deployment) *api.DeploymentSummary {
	if d == nil {
		return nil
	}
	s := &api.DeploymentSummary{
		ID: d.ID, Environment: d.Environment, Commit: d.Commit, Branch: d.Branch, Kind: string(d.Kind),
		Initiator: d.Initiator, DryRun: d.DryRun, Subject: d.Subject, State: api.DeploymentState(d.State.String()), Risk: d.Risk, Error: d.Error,
		Approvals: len(d.Approvals), CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
	if n := len(d.Transitions); n > 0 {
		s.Message = d.Transitions[n-1].Message
	}
	if d.Approval != nil {
		s.Required = d.Approval.Required
	}
	return s
}

func (s *Server) handleEnvironments(w http.ResponseWriter, _ *http.Request) {
	envs := s.cfg.Store.BriefEnvironments()
	out := make([]api.EnvironmentDetail, 0, len(envs))
	for _, e := range envs {
		out = append(out, s.environmentBody(e.Environment, e.HistoryLength, e.Latest))
	}
	writeJSON(w, http.StatusOK, out)
}

// environmentBody is an environment's record with the summaries of its
// deployments: historyLength is how many it has, latest the newest's id.
// The list of every environment leaves out the ids of their histories
// (record.History is nil there), as those ids would be most of it
// (100,000 ids and 91% of its time on the bench's 100k state).
func (s *Server) environmentBody(record *fsm.Environment, historyLength int, latest string) api.EnvironmentDetail {
	body := api.EnvironmentDetail{Environment: wireEnvironment(record)}
	body.HistoryLength = historyLength
	// Summaries of the live records: a copy of each (a deployment's plan,
	// transitions and approvals) was most of this answer's allocations,
	// and of the collector's work on a large state.
	brief := func(id string) (out *api.DeploymentSummary) {
		if id != "" {
			s.cfg.Store.Peek(id, func(d *fsm.Deployment) { out = summarize(d) })
		}
		return out
	}
	body.CurrentDeployment = brief(record.Current)
	body.WaitingDeployment = brief(record.Waiting)
	body.LatestDeployment = brief(latest)
	body.Deployed = brief(record.DeployedDeployment)
	return body
}

func (s *Server) handleEnvironment(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("env")
	if !fsm.ValidEnvironmentName(name) {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("%q is not a valid environment name", name))
		return
	}
	e, ok := s.cfg.Store.Environment(name)
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("environment %s is not known", name))
		return
	}
	writeJSON(w, http.StatusOK, s.environmentBody(e, len(e.History), e.Newest()))
}

// Limits of GET /v1/deployments.
const (
	defaultDeploymentsLimit = 50
	maxDeploymentsLimit     = 1000
)

func (s *Server) handleDeployments(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for key := range q {
		switch key {
		case "env", "state", "limit", "consistent": // consistent: see route
		default:
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("unknown query parameter %q (use env, state, limit, consistent)", key))
			return
		}
	}
	env, stateName := q.Get("env"), q.Get("state")
	if env != "" && !fsm.ValidEnvironmentName(env) {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("env: %q is not a valid environment name", env))
		return
	}
	state, ok := fsm.ParseState(stateName)
	if !ok {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("state: %q is not a deployment state (Pending, Validating, ... Superseded)", stateName))
		return
	}
	limit := defaultDeploymentsLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxDeploymentsLimit {
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("limit: %q must be a number from 1 to %d", v, maxDeploymentsLimit))
			return
		}
		limit = n
	}
	ds := s.cfg.Store.BriefDeployments(env, state, limit)
	out := make([]*api.DeploymentSummary, 0, len(ds))
	for _, d := range ds {
		out = append(out, summarize(d))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleDeployment(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, ok := s.cfg.Store.Deployment(id)
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("deployment %s is not known (it may have been pruned from history)", id))
		return
	}
	body := wireDeployment(d)
	if ns := s.cfg.Store.Notifications(fsm.NotificationFilter{DeploymentID: d.ID}); len(ns) > 0 {
		body.Notifications = mapSlice(ns, wireNotification)
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	env := r.PathValue("env")
	if !fsm.ValidEnvironmentName(env) {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("%q is not a valid environment name", env))
		return
	}
	if _, ok := s.cfg.Store.Environment(env); !ok {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("environment %s is not known", env))
		return
	}
	q := r.URL.Query()
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxDeploymentsLimit {
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("limit: %q must be a number from 1 to %d", v, maxDeploymentsLimit))
			return
		}
		limit = n
	}
	all := s.cfg.Store.BriefHistory(env) // newest first
	start := 0
	if c := q.Get("cursor"); c != "" {
		start = -1
		for i, d := range all {
			if d.ID == c {
				start = i + 1
				break
			}
		}
		if start < 0 {
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("cursor: deployment %s is not in %s's history (pruned?)", c, env))
			return
		}
	}
	body := api.History{Environment: env, Deployments: []*api.DeploymentSummary{}, Totals: totals(all)}
	end := min(start+limit, len(all))
	for _, d := range all[start:end] {
		body.Deployments = append(body.Deployments, summarize(d))
	}
	if end < len(all) && end > start {
		body.NextCursor = all[end-1].ID
	}
	writeJSON(w, http.StatusOK, body)
}

func totals(ds []*fsm.Deployment) api.HistoryTotals {
	var t api.HistoryTotals
	var sum time.Duration
	for _, d := range ds {
		t.Total++
		switch d.State {
		case fsm.StateCompleted:
			t.Completed++
			sum += d.UpdatedAt.Sub(d.CreatedAt)
		case fsm.StateFailed:
			t.Failed++
		case fsm.StateRolledBack:
			t.RolledBack++
		case fsm.StateRejected:
			t.Rejected++
		case fsm.StateSuperseded:
			t.Superseded++
		case fsm.StateCancelled:
			t.Cancelled++
		default:
			t.InProgress++
		}
	}
	if n := t.Completed + t.Failed + t.RolledBack; n > 0 {
		t.SuccessRate = float64(t.Completed) / float64(n)
	}
	if t.Completed > 0 {
		avg := sum / time.Duration(t.Completed)
		t.AverageDuration, t.AverageSeconds = avg.Round(time.Millisecond).String(), avg.Seconds()
	}
	return t
}

func (s *Server) handleMembers(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, mapSlice(s.cfg.Cluster.Members(), wireMember))
}

// debugState is GET /v1/debug/state: a digest of this node's replicated
// state, equal on every node that applied the same log (for operators and
// the chaos tests comparing nodes).
type debugState struct {
	AppliedIndex uint64 `json:"appliedIndex"`
	SHA256       string `json:"sha256"`
	Bytes        int    `json:"bytes"`
}

func (s *Server) handleDebugState(w http.ResponseWriter, _ *http.Request) {
	b, err := s.cfg.Store.Dump()
	if err != nil {
		writeErr(w, err)
		return
	}
	var snap struct {
		AppliedIndex uint64 `json:"appliedIndex"`
	}
	_ = json.Unmarshal(b, &snap)
	sum := sha256.Sum256(b)
	writeJSON(w, http.StatusOK, debugState{AppliedIndex: snap.AppliedIndex, SHA256: hex.EncodeToString(sum[:]), Bytes: len(b)})
}
