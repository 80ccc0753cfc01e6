package rpc

import (
	"fmt"
	"net/http"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/reconcile"
)

// maxRefLength bounds the ref of a preview.
const maxRefLength = 256

// handlePreview answers GET /v1/environments/{env}/plan?ref=: what a
// deployment of the ref would get. The leader computes it (it fetches the
// ref and reads the policy), so the route is forwarded like a write.
func (s *Server) handlePreview(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "ref" && k != "consistent" {
			writeErr(w, fmt.Errorf("unknown parameter %q (only ref): %w", k, errBadRequest))
			return
		}
	}
	ref := q.Get("ref")
	if ref == "" || len(ref) > maxRefLength {
		writeErr(w, fmt.Errorf("ref is required: a branch name or a full commit hash of at most %d bytes: %w", maxRefLength, errBadRequest))
		return
	}
	if s.cfg.Pipeline == nil {
		writeErr(w, errNoRepository)
		return
	}
	p, err := s.cfg.Pipeline.Preview(r.Context(), r.PathValue("env"), ref)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, wirePreview(p))
}

// wirePreview converts the pipeline's preview.
func wirePreview(p *reconcile.Preview) api.Preview {
	out := api.Preview{Environment: p.Environment, Ref: p.Ref, Commit: p.Commit, Valid: p.Plan != nil,
		Validation: wireValidationReport(&p.Report), Suspended: wireSuspension(p.Suspended)}
	if p.Plan == nil {
		return out
	}
	out.Plan = wirePlanDocument(p.Plan)
	out.Changes = p.Plan.Plan != nil && (p.Plan.Plan.Added+p.Plan.Plan.Modified+p.Plan.Plan.Removed > 0 || p.Plan.Plan.PolicyChanged)
	out.Approval = &api.PreviewApproval{Required: p.Approval != nil, Reason: p.Why, PolicyFrom: p.PolicyFrom}
	if a := p.Approval; a != nil {
		out.Approval.Approvals, out.Approval.Groups = a.Required, a.Groups
	}
	out.Gate = &api.PreviewGate{Open: p.GateOpen, Reason: p.GateReason, Opens: p.GateOpens}
	return out
}
