package rpc

import (
	"testing"
)

// TestBearerSchemeIsCaseInsensitive: HTTP auth schemes are
// case-insensitive (RFC 9110 §11.1), so "bearer" and "BEARER" are Bearer;
// anything else is still refused.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	f := newAPIFixture(t)
	tok := f.tokens["vera"]
	tests := []struct {
		header string
		want   int
	}{
		{"Bearer " + tok, 200},
		{"bearer " + tok, 200},
		{"BEARER " + tok, 200},
		{"bEaReR " + tok, 200},
		{"Bearer  " + tok, 200},
		{"Basic " + tok, 401},
		{"Bearer" + tok, 401},
		{"Bearer ", 401},
		{"bearer", 401},
		{tok, 401},
	}
	for _, tt := range tests {
		rec := do(t, f.s, "GET", "/v1/status", "", map[string]string{"Authorization": tt.header})
		if rec.Code != tt.want {
			t.Errorf("GET /v1/status with Authorization %q = %d %s; want %d", tt.header, rec.Code, rec.Body, tt.want)
		}
	}
}
