package agent

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// serveCapped serves h on loopback behind a capListener of max connections,
// with an idle timeout long enough that only the cap closes idle ones.
func serveCapped(t *testing.T, max int, h http.Handler) (*capListener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newCapListener(ln, max)
	srv := &http.Server{Handler: h, IdleTimeout: 10 * time.Minute, ReadHeaderTimeout: 10 * time.Second,
		ConnState: l.connState}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return l, "http://" + ln.Addr().String()
}

// get makes a request on its own client (its own connection) and returns
// the status.
func get(client *http.Client, url string) (int, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func newClient() *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{}}
}

// Idle keep-alive connections holding every slot do not keep a new client
// waiting for the idle timeout: the longest idle one is closed for it.
func TestCapListenerClosesIdleConnectionsForAWaitingClient(t *testing.T) {
	_, url := serveCapped(t, 2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	a, b := newClient(), newClient()
	for _, c := range []*http.Client{a, b} {
		if code, err := get(c, url); err != nil || code != 200 {
			t.Fatalf("first requests: %d %v", code, err)
		}
	}
	// a and b now each hold an idle keep-alive connection: both slots.
	start := time.Now()
	if code, err := get(newClient(), url); err != nil || code != 200 {
		t.Fatalf("a third client while two idle connections hold both slots: %d %v; want 200 (idle timeout 10m)", code, err)
	}
	t.Logf("third client answered after %v", time.Since(start).Round(time.Millisecond))
	// The client whose connection was closed reconnects.
	for _, c := range []*http.Client{a, b} {
		if code, err := get(c, url); err != nil || code != 200 {
			t.Errorf("a client whose idle connection may have been closed: %d %v; want 200", code, err)
		}
	}
}

// Busy connections are never closed for a waiting client: it waits for
// one of them to finish.
func TestCapListenerWaitsForBusyConnections(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	l, url := serveCapped(t, 2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			entered <- struct{}{}
			<-release
		}
	}))
	busy := make(chan error, 2)
	for range 2 {
		go func() {
			code, err := get(newClient(), url+"/busy")
			if err == nil && code != 200 {
				err = errors.New(http.StatusText(code))
			}
			busy <- err
		}()
		<-entered
	}
	third := make(chan error, 1)
	go func() {
		code, err := get(newClient(), url)
		if err == nil && code != 200 {
			err = errors.New(http.StatusText(code))
		}
		third <- err
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l.mu.Lock()
		waiting := l.waiting
		l.mu.Unlock()
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the third connection never waited for a slot")
		}
		select {
		case err := <-third:
			t.Fatalf("the third request finished (%v) while both slots were busy", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	close(release)
	for range 2 {
		if err := <-busy; err != nil {
			t.Errorf("a busy request: %v; want 200", err)
		}
	}
	if err := <-third; err != nil {
		t.Errorf("the waiting request: %v; want 200", err)
	}
}

// TestWithDashboard: /ui/... goes to the dashboard, /ui to /ui/, and every
// other path (the API's, /uix too) to the API's handler unchanged.
func TestWithDashboard(t *testing.T) {
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Served-By", name)
			_, _ = io.WriteString(w, r.URL.Path)
		})
	}
	h := withDashboard(named("api"), named("ui"))
	for _, tt := range []struct{ method, path, by string }{
		{"GET", "/ui/", "ui"}, {"GET", "/ui/deployments/p-1", "ui"}, {"POST", "/ui/signin", "ui"},
		{"GET", "/v1/status", "api"}, {"GET", "/healthz", "api"}, {"GET", "/", "api"}, {"GET", "/uix", "api"},
		{"POST", "/ui", "api"}, {"GET", "/v1//status", "api"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if got := rec.Header().Get("X-Served-By"); got != tt.by || rec.Body.String() != tt.path {
			t.Errorf("%s %s served by %q with path %q; want %s with the path unchanged", tt.method, tt.path, got, rec.Body, tt.by)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/ui", nil))
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/ui/" {
		t.Errorf("GET /ui = %d to %q; want 301 to /ui/", rec.Code, rec.Header().Get("Location"))
	}
}
