package target

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// statusServer answers each request with next(n), n counting from 1.
func statusServer(t *testing.T, next func(n int64) int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := next(calls.Add(1))
		w.WriteHeader(status)
		if status >= 300 {
			io.WriteString(w, "not ready")
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func always(status int) func(int64) int { return func(int64) int { return status } }

func TestReload(t *testing.T) {
	var method atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method.Store(r.Method)
		if r.URL.Path == "/broken" {
			http.Error(w, "reload failed: metadata.json: unexpected EOF", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()

	if err := Reload(context.Background(), srv.URL+"/admin/metadata/reload"); err != nil {
		t.Errorf("Reload = %v; want nil", err)
	}
	if m, _ := method.Load().(string); m != http.MethodPost {
		t.Errorf("Reload used %s; want POST", m)
	}

	err := Reload(context.Background(), srv.URL+"/broken")
	want := "reload " + srv.URL + "/broken: 500 Internal Server Error: reload failed: metadata.json: unexpected EOF"
	if err == nil || err.Error() != want {
		t.Errorf("Reload = %v; want %q", err, want)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String() + "/reload"
	l.Close()
	err = Reload(context.Background(), down)
	if err == nil || !strings.HasPrefix(err.Error(), "reload "+down+": ") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("Reload of a closed port = %v; want a connection error naming %s", err, down)
	}
}

func TestWaitHealthy(t *testing.T) {
	t.Run("healthy at once", func(t *testing.T) {
		a, ca := statusServer(t, always(200))
		b, cb := statusServer(t, always(204))
		if err := WaitHealthy(context.Background(), []string{a.URL, b.URL + "/healthz"}, 5*time.Second); err != nil {
			t.Fatalf("WaitHealthy = %v; want nil", err)
		}
		if ca.Load() != 1 || cb.Load() != 1 {
			t.Errorf("GETs = %d, %d; want 1 each", ca.Load(), cb.Load())
		}
	})
	t.Run("healthy after failures", func(t *testing.T) {
		const failures = 3
		srv, calls := statusServer(t, func(n int64) int {
			if n <= failures {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		})
		if err := WaitHealthy(context.Background(), []string{srv.URL}, 10*time.Second); err != nil {
			t.Fatalf("WaitHealthy = %v; want nil", err)
		}
		if calls.Load() != failures+1 {
			t.Errorf("GETs = %d; want %d", calls.Load(), failures+1)
		}
	})
	t.Run("flapping", func(t *testing.T) {
		// Each URL alternates 500 and 200, starting with 500: one 2xx
		// each is enough.
		flap := func(n int64) int {
			if n%2 == 1 {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		}
		a, ca := statusServer(t, flap)
		b, cb := statusServer(t, flap)
		if err := WaitHealthy(context.Background(), []string{a.URL, b.URL}, 10*time.Second); err != nil {
			t.Fatalf("WaitHealthy = %v; want nil", err)
		}
		if ca.Load() != 2 || cb.Load() != 2 {
			t.Errorf("GETs = %d, %d; want 2 each (stop at the first 2xx)", ca.Load(), cb.Load())
		}
	})
	t.Run("never healthy", func(t *testing.T) {
		good, _ := statusServer(t, always(200))
		bad, calls := statusServer(t, always(http.StatusServiceUnavailable))
		// Eight intervals: retries happen however loaded the machine is.
		err := WaitHealthy(context.Background(), []string{good.URL, bad.URL + "/healthz"}, 8*healthInterval)
		if err == nil {
			t.Fatal("WaitHealthy = nil; want an error")
		}
		msg := err.Error()
		if !strings.Contains(msg, "health check "+bad.URL+"/healthz: not healthy within 2s") ||
			!strings.Contains(msg, "last: 503 Service Unavailable: not ready") || strings.Contains(msg, good.URL+":") {
			t.Errorf("error = %q; want it to name only %s/healthz and its last answer", msg, bad.URL)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("errors.Is(%v, DeadlineExceeded) = false", err)
		}
		if calls.Load() < 2 {
			t.Errorf("GETs = %d; want retries", calls.Load())
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		down := "http://" + l.Addr().String() + "/healthz"
		l.Close()
		err = WaitHealthy(context.Background(), []string{down}, 300*time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), down) || !strings.Contains(err.Error(), "refused") {
			t.Errorf("WaitHealthy = %v; want an error naming %s and the connection error", err, down)
		}
	})
	t.Run("context canceled", func(t *testing.T) {
		bad, calls := statusServer(t, always(500))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- WaitHealthy(ctx, []string{bad.URL}, 0) }()
		waitUntil(t, 10*time.Second, "a health check GET", func() bool { return calls.Load() > 0 })
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), bad.URL) {
			t.Errorf("WaitHealthy = %v; want context.Canceled naming %s", err, bad.URL)
		}
	})
	t.Run("bad URL", func(t *testing.T) {
		err := WaitHealthy(context.Background(), []string{"http://[::1"}, 5*time.Second)
		if err == nil || !strings.Contains(err.Error(), "health check") {
			t.Errorf("WaitHealthy(bad URL) = %v; want an error at once", err)
		}
	})
	t.Run("no URLs", func(t *testing.T) {
		if err := WaitHealthy(context.Background(), nil, time.Second); err != nil {
			t.Errorf("WaitHealthy(nil) = %v; want nil", err)
		}
	})
}
