package rpc

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// Read endpoints are served from this node's FSM: any node answers them.

// environmentBody is GET /v1/environments/{env}: the environment with its
// current and waiting deployments spelled out.
type environmentBody struct {
	*fsm.Environment
	CurrentDeployment *deploymentSummary `json:"currentDeployment,omitempty"`
	WaitingDeployment *deploymentSummary `json:"waitingDeployment,omitempty"`
}

// deploymentSummary is a deployment without its plan, validation and
// transitions, for lists.
type deploymentSummary struct {
	ID          string              `json:"id"`
	Environment string              `json:"environment"`
	Commit      string              `json:"commit"`
	Branch      string              `json:"branch,omitempty"`
	Kind        fsm.Kind            `json:"kind"`
	Initiator   string              `json:"initiator"`
	DryRun      bool                `json:"dryRun,omitempty"`
	State       fsm.DeploymentState `json:"state"`
	Risk        string              `json:"risk,omitempty"`
	Message     string              `json:"message,omitempty"`
	Error       string              `json:"error,omitempty"`
	Approvals   int                 `json:"approvals"`
	Required    int                 `json:"requiredApprovals,omitempty"`
	CreatedAt   time.Time           `json:"createdAt"`
	UpdatedAt   time.Time           `json:"updatedAt"`
}

func summarize(d *fsm.Deployment) *deploymentSummary {
	if d == nil {
		return nil
	}
	s := &deploymentSummary{
		ID: d.ID, Environment: d.Environment, Commit: d.Commit, Branch: d.Branch, Kind: d.Kind,
		Initiator: d.Initiator, DryRun: d.DryRun, State: d.State, Risk: d.Risk, Error: d.Error,
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
	envs := s.cfg.Store.Environments()
	out := make([]environmentBody, 0, len(envs))
	for _, e := range envs {
		out = append(out, s.environmentBody(e))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) environmentBody(e *fsm.Environment) environmentBody {
	body := environmentBody{Environment: e}
	if d, ok := s.cfg.Store.Deployment(e.Current); ok && e.Current != "" {
		body.CurrentDeployment = summarize(d)
	}
	if d, ok := s.cfg.Store.Deployment(e.Waiting); ok && e.Waiting != "" {
		body.WaitingDeployment = summarize(d)
	}
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
	writeJSON(w, http.StatusOK, s.environmentBody(e))
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
		case "env", "state", "limit":
		default:
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("unknown query parameter %q (use env, state, limit)", key))
			return
		}
	}
	env, state := q.Get("env"), fsm.DeploymentState(q.Get("state"))
	if env != "" && !fsm.ValidEnvironmentName(env) {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("env: %q is not a valid environment name", env))
		return
	}
	if state != "" && !state.Valid() {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("state: %q is not a deployment state (Pending, Validating, ... Superseded)", state))
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
	ds := s.cfg.Store.Deployments(env, state, limit)
	out := make([]*deploymentSummary, 0, len(ds))
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
	writeJSON(w, http.StatusOK, d)
}
