package rpc

import (
	"fmt"
	"net/http"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// The endpoints of this file tell a client what it may do, so that it can
// offer only that (the dashboard shows an action's button only to a token
// the API would let act): who the token is, and which groups may roll an
// environment back or sync it. The API checks every action again.

// handleWhoami answers the request's identity.
func (s *Server) handleWhoami(w http.ResponseWriter, r *http.Request) {
	id := identityOf(r)
	groups := id.Groups
	if groups == nil {
		groups = []string{}
	}
	writeJSON(w, http.StatusOK, api.Identity{Name: id.Name, Role: id.Role.String(), Groups: groups})
}

// handleApprovers answers the approver groups of the policy in force for
// an environment: the groups checkEnvironmentAccess checks a rollback or a
// sync against. The leader serves it (route), since only the leader's
// pipeline reads the policy.
func (s *Server) handleApprovers(w http.ResponseWriter, r *http.Request) {
	env := r.PathValue("env")
	if !fsm.ValidEnvironmentName(env) {
		writeErr(w, fmt.Errorf("%q is not a valid environment name: %w", env, errBadRequest))
		return
	}
	if s.cfg.Pipeline == nil {
		writeErr(w, errNoRepository)
		return
	}
	if _, ok := s.cfg.Store.Environment(env); !ok {
		writeErr(w, fmt.Errorf("environment %s: %w", env, fsm.ErrNotFound))
		return
	}
	groups, err := s.cfg.Pipeline.Approvers(r.Context(), env)
	if err != nil {
		writeErr(w, err)
		return
	}
	if groups == nil {
		groups = []string{}
	}
	writeJSON(w, http.StatusOK, api.EnvironmentApprovers{Environment: env, Groups: groups})
}
