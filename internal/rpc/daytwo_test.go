package rpc

import (
	"encoding/json"
	"testing"

	"github.com/honua-io/honua-gitops/api"
)

// TestDayTwoControls: suspend and resume answer the environment with its
// suspension, each idempotent; a cancel ends the waiting deployment with
// who and why, and a retry answers the same; an admin's override is
// recorded on the deployment.
func TestDayTwoControls(t *testing.T) {
	f := newAPIFixture(t)
	var env api.Environment
	for i := range 2 {
		rec := f.do(t, "alice", "POST", "/v1/environments/production/suspend", `{"reason":"incident 42"}`)
		if rec.Code != 200 {
			t.Fatalf("suspend #%d = %d %s", i+1, rec.Code, rec.Body)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			t.Fatal(err)
		}
		if s := env.Suspended; s == nil || s.By != "alice" || s.Reason != "incident 42" {
			t.Fatalf("suspend #%d answered suspension %+v; want alice's, for incident 42", i+1, env.Suspended)
		}
	}
	for i := range 2 {
		rec := f.do(t, "alice", "POST", "/v1/environments/production/resume", `{}`)
		if rec.Code != 200 {
			t.Fatalf("resume #%d = %d %s", i+1, rec.Code, rec.Body)
		}
		env = api.Environment{}
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Suspended != nil || env.Name != "production" {
			t.Fatalf("resume #%d answered %s (%v); want production, not suspended", i+1, rec.Body, err)
		}
	}

	rec := f.do(t, "root", "POST", "/v1/deployments/"+f.waiting+"/override", `{"reason":"hotfix"}`)
	var d api.Deployment
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &d) != nil || d.WindowOverride == nil ||
		d.WindowOverride.Identity != "root" || d.WindowOverride.Reason != "hotfix" {
		t.Fatalf("override = %d %s; want root's override recorded", rec.Code, rec.Body)
	}

	for i := range 2 {
		rec := f.do(t, "alice", "POST", "/v1/deployments/"+f.waiting+"/cancel", `{"reason":"wrong commit"}`)
		d = api.Deployment{}
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &d) != nil {
			t.Fatalf("cancel #%d = %d %s", i+1, rec.Code, rec.Body)
		}
		if d.State != api.StateCancelled || d.Cancellation == nil || d.Cancellation.Identity != "alice" ||
			d.Cancellation.Reason != "wrong commit" {
			t.Fatalf("cancel #%d answered %s with %+v; want Cancelled by alice", i+1, d.State, d.Cancellation)
		}
	}
	rec = f.do(t, "root", "POST", "/v1/deployments/"+f.waiting+"/cancel", `{"reason":"me too"}`)
	if rec.Code != 409 || errorCode(t, rec) != "wrong_state" {
		t.Errorf("cancel by another identity = %d %s; want 409 wrong_state", rec.Code, rec.Body)
	}
}
