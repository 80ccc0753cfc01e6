package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Preview is what a deployment of a branch or commit to an environment
// would get, computed by the leader without deploying (GET
// /v1/environments/{env}/plan?ref=): the validation, the plan against what
// is deployed now, and what the policy in force would ask of it.
type Preview struct {
	Environment string `json:"environment"`
	// Ref is the branch or commit asked for; Commit what it resolved to.
	Ref    string `json:"ref"`
	Commit string `json:"commit"`
	// Valid is false when the ref fails validation (Validation says why);
	// Plan and Approval are then absent.
	Valid      bool              `json:"valid"`
	Validation *ValidationReport `json:"validation"`
	Plan       *PlanDocument     `json:"plan,omitempty"`
	// Changes is true when the plan changes anything.
	Changes  bool             `json:"changes"`
	Approval *PreviewApproval `json:"approval,omitempty"`
	Gate     *PreviewGate     `json:"gate,omitempty"`
	// Suspended is set when the environment is suspended: a deployment
	// would wait until it is resumed.
	Suspended *Suspension `json:"suspended,omitempty"`
}

// PreviewApproval is what the policy in force would ask of a deployment.
type PreviewApproval struct {
	Required bool `json:"required"`
	// Approvals and Groups: how many approvals, from whom (none listed:
	// any approver), when Required.
	Approvals int      `json:"approvals,omitempty"`
	Groups    []string `json:"groups,omitempty"`
	// Reason says why approval is or is not required; PolicyFrom where
	// the policy in force was read.
	Reason     string `json:"reason"`
	PolicyFrom string `json:"policyFrom"`
}

// PreviewGate says whether the deployment windows and blackouts would let
// the deployment start now.
type PreviewGate struct {
	Open   bool      `json:"open"`
	Reason string    `json:"reason,omitempty"`
	Opens  time.Time `json:"opens,omitzero"`
}

// Preview asks the leader what a deployment of ref (a branch name or a
// full commit hash) to env would get.
func (c *Client) Preview(ctx context.Context, env, ref string) (*Preview, error) {
	var p Preview
	_, err := c.do(ctx, http.MethodGet, "/v1/environments/"+url.PathEscape(env)+"/plan", url.Values{"ref": {ref}}, nil, &p)
	return &p, err
}
