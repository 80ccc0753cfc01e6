package target

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// redirector answers every request with status and a Location header,
// counting the requests.
func redirector(t *testing.T, status int, location string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Location", location)
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// elsewhere is the server a redirect points to; it must never be asked.
func elsewhere(t *testing.T) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return srv, rec
}

// timeout bounds an Apply that would retry (a connection error) until its
// context ends.
func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestHTTPRedirectNotFollowed: an http target never sends the bundle and
// its fencing token anywhere but its URL. A redirect is a permanent error
// that names where it pointed.
func TestHTTPRedirectNotFollowed(t *testing.T) {
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			other, rec := elsewhere(t)
			srv, calls := redirector(t, status, other.URL+"/admin/bundle")
			h := newHTTPTarget(t, srv.URL+"/admin/bundle")
			err := h.Apply(timeout(t), testBundle("production-1", 7))
			if rec.count() != 0 {
				t.Errorf("the server redirected to got %d requests (%s, token %q); want none", rec.count(), rec.requests[0].method, rec.requests[0].token)
			}
			if err == nil {
				t.Fatalf("Apply = nil; want an error for a %d redirect", status)
			}
			if calls.Load() != 1 {
				t.Errorf("%d requests to the target; want 1 (a redirect is not retried)", calls.Load())
			}
			e := asError(t, err)
			if e.Retryable || e.Op != "put" || !errors.Is(err, ErrRedirected) {
				t.Errorf("op %q, retryable %v, ErrRedirected %v; want put, false, true", e.Op, e.Retryable, errors.Is(err, ErrRedirected))
			}
			want := h.String() + ": put: " + strconv.Itoa(status) + " " + http.StatusText(status) + " to " + other.URL + "/admin/bundle: redirect not followed"
			if err.Error() != want {
				t.Errorf("error = %q; want %q", err, want)
			}
		})
	}
	t.Run("relative Location with a password", func(t *testing.T) {
		srv, _ := redirector(t, http.StatusTemporaryRedirect, "//mallory:s3cret@127.0.0.1:1/steal")
		h := newHTTPTarget(t, srv.URL+"/admin/bundle")
		err := h.Apply(timeout(t), testBundle("production-1", 7))
		if err == nil || !strings.Contains(err.Error(), "to http://mallory:xxxxx@127.0.0.1:1/steal: redirect not followed") ||
			strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Apply = %v; want the Location resolved against the URL, its password masked", err)
		}
	})
}

// TestReloadRedirectNotFollowed: a reload URL that redirects fails,
// naming where it pointed; the server redirected to gets nothing.
func TestReloadRedirectNotFollowed(t *testing.T) {
	other, rec := elsewhere(t)
	srv, calls := redirector(t, http.StatusTemporaryRedirect, other.URL+"/reload")
	err := Reload(context.Background(), srv.URL+"/admin/metadata/reload")
	want := "reload " + srv.URL + "/admin/metadata/reload: 307 Temporary Redirect to " + other.URL + "/reload: redirect not followed"
	if err == nil || err.Error() != want || !errors.Is(err, ErrRedirected) {
		t.Errorf("Reload = %v; want %q", err, want)
	}
	if rec.count() != 0 || calls.Load() != 1 {
		t.Errorf("requests: %d to the reload URL, %d to the server redirected to; want 1 and 0", calls.Load(), rec.count())
	}
}

// TestHealthCheckRedirectNotFollowed: a health check URL that redirects
// is not healthy (its answer is not 2xx, like a 404's), and the error
// names where it pointed; the server redirected to gets nothing.
func TestHealthCheckRedirectNotFollowed(t *testing.T) {
	other, rec := elsewhere(t)
	srv, calls := redirector(t, http.StatusFound, other.URL+"/login")
	err := WaitHealthy(context.Background(), []string{srv.URL + "/healthz"}, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "health check "+srv.URL+"/healthz: not healthy within 300ms") ||
		!strings.Contains(err.Error(), "last: 302 Found to "+other.URL+"/login: redirect not followed") {
		t.Errorf("WaitHealthy = %v; want not healthy, naming %s/login", err, other.URL)
	}
	if rec.count() != 0 || calls.Load() < 1 {
		t.Errorf("requests: %d to the health check, %d to the server redirected to; want some and 0", calls.Load(), rec.count())
	}
}
