package rpc

// This file holds the rollout controls (docs/domain.md#rollouts): an
// approver promotes the wave that bakes, or aborts a rollout.

import (
	"net/http"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// handlePromote is POST /v1/deployments/{id}/promote: the baking wave's
// bake ends at once.
func (s *Server) handlePromote(w http.ResponseWriter, r *http.Request) {
	if err := decode(r, &struct{}{}); err != nil {
		writeErr(w, err)
		return
	}
	s.controlRollout(w, r, fsm.RolloutPromote, "")
}

// handleAbort is POST /v1/deployments/{id}/abort {"reason": "…"}: the
// rollout stops and the deployment rolls back.
func (s *Server) handleAbort(w http.ResponseWriter, r *http.Request) {
	reason, err := decodeReason(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	s.controlRollout(w, r, fsm.RolloutAbort, reason)
}

func (s *Server) controlRollout(w http.ResponseWriter, r *http.Request, action fsm.RolloutAction, reason string) {
	depID := r.PathValue("id")
	if err := s.checkDeploymentAccess(r, depID); err != nil {
		writeErr(w, err)
		return
	}
	id := identityOf(r)
	res, err := s.cfg.Cluster.Apply(r.Context(), &fsm.ControlRollout{ID: depID, Action: action, Identity: id.Name,
		Groups: id.Groups, Time: s.cfg.Now().UTC(), Reason: reason})
	if err != nil {
		writeErr(w, err)
		return
	}
	s.log(r).Info("rollout "+string(action), "deployment", depID, "by", id.Name, "reason", reason)
	writeJSON(w, http.StatusOK, wireDeployment(res.(*fsm.Deployment)))
}
