package rpc

// This file holds the day-two controls' endpoints: suspend and resume an
// environment, cancel a deployment, override a deployment window
// (docs/domain.md#day-two-controls). Each is one FSM command, which checks
// the caller's groups or role again on every node.

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// reasonBody is the body of the day-two writes that need a reason.
type reasonBody struct {
	Reason string `json:"reason"`
}

// decodeReason reads a reasonBody whose reason is required.
func decodeReason(r *http.Request) (string, error) {
	var b reasonBody
	if err := decode(r, &b); err != nil {
		return "", err
	}
	if strings.TrimSpace(b.Reason) == "" {
		return "", fmt.Errorf(`reason is required: {"reason": "why"}: %w`, errBadRequest)
	}
	return b.Reason, nil
}

func (s *Server) handleSuspend(w http.ResponseWriter, r *http.Request) {
	reason, err := decodeReason(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	s.setSuspension(w, r, true, reason)
}

func (s *Server) handleResume(w http.ResponseWriter, r *http.Request) {
	if err := decode(r, &struct{}{}); err != nil {
		writeErr(w, err)
		return
	}
	s.setSuspension(w, r, false, "")
}

// setSuspension suspends or resumes the environment the path names, for an
// identity in the approver groups of its policy.
func (s *Server) setSuspension(w http.ResponseWriter, r *http.Request, suspend bool, reason string) {
	env := r.PathValue("env")
	if err := s.checkEnvironmentAccess(r, env); err != nil {
		writeErr(w, err)
		return
	}
	id := identityOf(r)
	res, err := s.cfg.Cluster.Apply(r.Context(), &fsm.SetSuspension{Environment: env, Suspend: suspend,
		Identity: id.Name, Reason: reason, Time: s.cfg.Now().UTC()})
	if err != nil {
		writeErr(w, err)
		return
	}
	out := res.(*fsm.SuspensionResult)
	if !out.Unchanged {
		verb := "environment resumed"
		if suspend {
			verb = "environment suspended"
		}
		s.log(r).Info(verb, "env", env, "by", id.Name, "reason", reason)
	}
	writeJSON(w, http.StatusOK, wireEnvironment(out.Environment))
}

func (s *Server) handleCancel(w http.ResponseWriter, r *http.Request) {
	reason, err := decodeReason(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	depID := r.PathValue("id")
	if err := s.checkDeploymentAccess(r, depID); err != nil {
		writeErr(w, err)
		return
	}
	id := identityOf(r)
	res, err := s.cfg.Cluster.Apply(r.Context(), &fsm.CancelDeployment{ID: depID, Identity: id.Name, Groups: id.Groups,
		Time: s.cfg.Now().UTC(), Reason: reason})
	if err != nil {
		writeErr(w, err)
		return
	}
	out := res.(*fsm.CancelResult)
	if !out.Duplicate {
		s.log(r).Info("deployment cancelled", "deployment", depID, "by", id.Name)
	}
	writeJSON(w, http.StatusOK, wireDeployment(out.Deployment))
}

// checkDeploymentAccess checks the deployment exists and that the
// identity may act on its environment (checkEnvironmentAccess). A leader
// elected a moment ago may not have applied every committed entry yet: a
// deployment it lacks is looked for again once its Barrier is applied.
func (s *Server) checkDeploymentAccess(r *http.Request, id string) error {
	d, ok := s.cfg.Store.Deployment(id)
	if !ok {
		if err := s.confirmLeadership(); err != nil {
			return err
		}
		if d, ok = s.cfg.Store.Deployment(id); !ok {
			return fmt.Errorf("deployment %s: %w", id, fsm.ErrNotFound)
		}
	}
	return s.checkEnvironmentAccess(r, d.Environment)
}

func (s *Server) handleOverride(w http.ResponseWriter, r *http.Request) {
	reason, err := decodeReason(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	id := identityOf(r)
	res, err := s.cfg.Cluster.Apply(r.Context(), &fsm.OverrideWindow{ID: r.PathValue("id"), Identity: id.Name,
		Role: id.Role.String(), Time: s.cfg.Now().UTC(), Reason: reason})
	if err != nil {
		writeErr(w, err)
		return
	}
	d := res.(*fsm.Deployment)
	s.log(r).Info("deployment window overridden", "deployment", d.ID, "by", id.Name)
	if s.cfg.Pipeline != nil {
		s.cfg.Pipeline.PollNow("window of " + d.ID + " overridden by " + id.Name)
	}
	writeJSON(w, http.StatusOK, wireDeployment(d))
}
