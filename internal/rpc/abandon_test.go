package rpc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAbandonedWriteAppliesNothing: a write whose client went away before
// the command was proposed is not applied: the handler hands its request's
// context to the cluster, which gives up at once.
func TestAbandonedWriteAppliesNothing(t *testing.T) {
	f := newAPIFixture(t)
	for _, tt := range []struct{ path, body string }{
		{"/v1/deployments/" + f.waiting + "/approve", `{"comment":"ok"}`},
		{"/v1/deployments/" + f.waiting + "/reject", `{"reason":"no"}`},
		{"/v1/environments/production/sync", `{}`},
		{"/v1/environments/production/rollback", `{}`},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req := httptest.NewRequest("POST", tt.path, strings.NewReader(tt.body)).WithContext(ctx)
		req.Header.Set("Authorization", "Bearer "+f.tokens["root"])
		req.Header.Set("Content-Type", "application/json")
		before := f.c.tf.index()
		rec := httptest.NewRecorder()
		f.s.ServeHTTP(rec, req)
		if got := f.c.tf.index(); got != before {
			t.Errorf("POST %s with its client gone applied %d commands (answered %d %s); want none",
				tt.path, got-before, rec.Code, rec.Body)
		}
		if rec.Code != http.StatusRequestTimeout || errorCode(t, rec) != "canceled" {
			t.Errorf("POST %s with its client gone = %d %s; want %d canceled", tt.path, rec.Code, rec.Body, http.StatusRequestTimeout)
		}
	}
	// The same requests, not abandoned, are applied.
	rec := f.do(t, "root", "POST", "/v1/deployments/"+f.waiting+"/approve", `{"comment":"ok"}`)
	if rec.Code != 200 {
		t.Fatalf("approve = %d %s; want 200", rec.Code, rec.Body)
	}
}
