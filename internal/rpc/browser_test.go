package rpc

import (
	"testing"
)

// A web page can make a browser send a cross-origin POST without asking the
// server first (a "simple request") only with no body or a text/plain,
// form or multipart one; the browser marks it with Origin and
// Sec-Fetch-Site. These tests check that none of those acts on the API.

// TestJSONEndpointsTakeOnlyJSON: a write's body is read only when it says
// it is JSON.
func TestJSONEndpointsTakeOnlyJSON(t *testing.T) {
	endpoints := []struct{ path, body string }{
		{"/v1/deployments/production-3/approve", `{"comment":"ok"}`},
		{"/v1/deployments/production-3/reject", `{"reason":"no"}`},
		{"/v1/environments/production/rollback", `{}`},
		{"/v1/environments/production/sync", `{}`},
	}
	for _, e := range endpoints {
		for _, ct := range []string{"", "text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded",
			"multipart/form-data; boundary=x", "application/jsonx", "application/json,"} {
			t.Run(e.path+" as "+ct, func(t *testing.T) {
				f := newAPIFixture(t)
				before := f.c.tf.index()
				rec := f.doWith(t, "root", "POST", e.path, e.body, map[string]string{"Content-Type": ct})
				if rec.Code != 415 || errorCode(t, rec) != "unsupported_media_type" {
					t.Errorf("POST %s with Content-Type %q = %d %s; want 415 unsupported_media_type", e.path, ct, rec.Code, rec.Body)
				}
				if f.c.tf.index() != before {
					t.Errorf("POST %s with Content-Type %q applied %d commands; want none", e.path, ct, f.c.tf.index()-before)
				}
			})
		}
		for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON"} {
			t.Run(e.path+" as "+ct, func(t *testing.T) {
				f := newAPIFixture(t)
				rec := f.doWith(t, "root", "POST", e.path, e.body, map[string]string{"Content-Type": ct})
				if rec.Code >= 400 {
					t.Errorf("POST %s with Content-Type %q = %d %s; want success", e.path, ct, rec.Code, rec.Body)
				}
			})
		}
	}
}

// TestCrossOriginWritesAreRefused: a write a browser marks as coming from
// another origin is refused before anything is read or applied, token or
// not.
func TestCrossOriginWritesAreRefused(t *testing.T) {
	// httptest requests are for Host example.com.
	tests := []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"another site", map[string]string{"Origin": "http://attacker.example"}, 403},
		{"another port", map[string]string{"Origin": "http://example.com:8080"}, 403},
		{"an opaque origin", map[string]string{"Origin": "null"}, 403},
		{"not an origin", map[string]string{"Origin": "::"}, 403},
		{"cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same site, another origin", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"same origin", map[string]string{"Origin": "http://example.com", "Sec-Fetch-Site": "same-origin"}, 200},
		{"same origin in capitals", map[string]string{"Origin": "http://EXAMPLE.com"}, 200},
		{"typed by the user", map[string]string{"Sec-Fetch-Site": "none"}, 200},
		{"not a browser", map[string]string{}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAPIFixture(t)
			before := f.c.tf.index()
			// An empty body: what a page can POST without a preflight.
			rec := f.doWith(t, "root", "POST", "/v1/deployments/"+f.waiting+"/approve", "", copyHeaders(tt.headers))
			if rec.Code != tt.want {
				t.Fatalf("approve with %v = %d %s; want %d", tt.headers, rec.Code, rec.Body, tt.want)
			}
			if tt.want == 403 {
				if code := errorCode(t, rec); code != "cross_origin" {
					t.Errorf("approve with %v: code %q; want cross_origin", tt.headers, code)
				}
				if f.c.tf.index() != before {
					t.Errorf("approve with %v applied %d commands; want none", tt.headers, f.c.tf.index()-before)
				}
				for _, w := range []struct{ method, path string }{{"DELETE", "/v1/cluster/members/node2"}, {"POST", "/v1/snapshot"}} {
					rec := f.doWith(t, "root", w.method, w.path, "", copyHeaders(tt.headers))
					if rec.Code != 403 || errorCode(t, rec) != "cross_origin" {
						t.Errorf("%s %s with %v = %d %s; want 403 cross_origin", w.method, w.path, tt.headers, rec.Code, rec.Body)
					}
				}
			}
			// A read with a token is not a browser's: a page cannot send the
			// token across origins without a preflight, which is never
			// answered.
			if rec := f.doWith(t, "vera", "GET", "/v1/status", "", copyHeaders(tt.headers)); rec.Code != 200 {
				t.Errorf("GET /v1/status with a token and %v = %d %s; want 200", tt.headers, rec.Code, rec.Body)
			}
		})
	}
}

func copyHeaders(h map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		out[k] = v
	}
	return out
}

// TestWithoutTokensBrowsersAreRefused: without a tokens file a request
// needs no secret, and a page can reach a loopback API through the user's
// browser, also as the same origin by rebinding its own name to 127.0.0.1
// (which defeats an Origin check). So without tokens, every request a
// browser marks as made by a page is refused, reads too; an address the
// user typed, and every client that is not a browser, are served.
func TestWithoutTokensBrowsersAreRefused(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"a page of another site", map[string]string{"Origin": "http://attacker.example", "Sec-Fetch-Site": "cross-site"}, 403},
		{"a page rebound to this address", map[string]string{"Origin": "http://example.com", "Sec-Fetch-Site": "same-origin"}, 403},
		{"an older browser's same-origin page", map[string]string{"Origin": "http://example.com"}, 403},
		{"a fetch without Origin", map[string]string{"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}, 403},
		{"typed by the user", map[string]string{"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"}, 200},
		{"not a browser", map[string]string{}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c, _ := noAuthFixture(t)
			for _, path := range []string{"/v1/status", "/v1/deployments", "/v1/snapshot"} {
				rec := do(t, s, "GET", path, "", copyHeaders(tt.headers))
				if rec.Code != tt.want {
					t.Errorf("GET %s with %v = %d %s; want %d", path, tt.headers, rec.Code, rec.Body, tt.want)
				}
				if tt.want == 403 && errorCode(t, rec) != "cross_origin" {
					t.Errorf("GET %s with %v: code %s; want cross_origin", path, tt.headers, errorCode(t, rec))
				}
			}
			if tt.want != 403 {
				return
			}
			before := c.tf.index()
			h := copyHeaders(tt.headers)
			h["Content-Type"] = "text/plain"
			if rec := do(t, s, "POST", "/v1/environments/production/sync", "", h); rec.Code != 403 {
				t.Errorf("POST sync with %v = %d %s; want 403", tt.headers, rec.Code, rec.Body)
			}
			if c.tf.index() != before {
				t.Errorf("a refused sync applied %d commands", c.tf.index()-before)
			}
			// Probes and metrics stay open.
			for _, path := range []string{"/healthz", "/metrics"} {
				if rec := do(t, s, "GET", path, "", copyHeaders(tt.headers)); rec.Code != 200 {
					t.Errorf("GET %s with %v = %d; want 200", path, tt.headers, rec.Code)
				}
			}
		})
	}
}
