package api

import (
	"context"
	"net/http"
	"net/url"
)

// The day-two controls: suspend and resume an environment, cancel a
// deployment, override a deployment window.

// Suspend suspends env: no deployment of it starts until it is resumed.
// reason is required. Suspending a suspended environment keeps the first
// suspension.
func (c *Client) Suspend(ctx context.Context, env, reason string) (*Environment, error) {
	var e Environment
	_, err := c.do(ctx, http.MethodPost, "/v1/environments/"+url.PathEscape(env)+"/suspend", nil,
		map[string]string{"reason": reason}, &e)
	return &e, err
}

// Resume resumes a suspended env; resuming one that is not suspended
// changes nothing.
func (c *Client) Resume(ctx context.Context, env string) (*Environment, error) {
	var e Environment
	_, err := c.do(ctx, http.MethodPost, "/v1/environments/"+url.PathEscape(env)+"/resume", nil, struct{}{}, &e)
	return &e, err
}

// Cancel cancels a deployment that has not started changing targets;
// reason is required. Cancelling it again as the same identity answers the
// cancelled deployment.
func (c *Client) Cancel(ctx context.Context, id, reason string) (*Deployment, error) {
	var d Deployment
	_, err := c.do(ctx, http.MethodPost, "/v1/deployments/"+url.PathEscape(id)+"/cancel", nil,
		map[string]string{"reason": reason}, &d)
	return &d, err
}

// OverrideWindow lets a waiting deployment through its environment's
// deployment windows and blackouts (admin); reason is required.
func (c *Client) OverrideWindow(ctx context.Context, id, reason string) (*Deployment, error) {
	var d Deployment
	_, err := c.do(ctx, http.MethodPost, "/v1/deployments/"+url.PathEscape(id)+"/override", nil,
		map[string]string{"reason": reason}, &d)
	return &d, err
}

// Promote ends the bake of the wave a deployment's rollout is baking
// (approver).
func (c *Client) Promote(ctx context.Context, id string) (*Deployment, error) {
	var d Deployment
	_, err := c.do(ctx, http.MethodPost, "/v1/deployments/"+url.PathEscape(id)+"/promote", nil, struct{}{}, &d)
	return &d, err
}

// Abort stops a deployment's rollout, which then rolls back (approver);
// reason is required.
func (c *Client) Abort(ctx context.Context, id, reason string) (*Deployment, error) {
	var d Deployment
	_, err := c.do(ctx, http.MethodPost, "/v1/deployments/"+url.PathEscape(id)+"/abort", nil,
		map[string]string{"reason": reason}, &d)
	return &d, err
}
