package target

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newHTTPTarget returns an http target for url with a 1ms first backoff.
func newHTTPTarget(t *testing.T, url string) *httpTarget {
	t.Helper()
	h := newTarget(t, Config{Type: "http", URL: url}).(*httpTarget)
	h.backoffMin, h.backoffMax = time.Millisecond, 10*time.Millisecond
	return h
}

// request is what a test server saw.
type request struct {
	method, contentType, token string
	body                       []byte
}

// recorder is an http handler that records requests and answers with the
// statuses given, then 200.
type recorder struct {
	mu       sync.Mutex
	requests []request
	statuses []int
	body     string // of non-2xx answers
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	n := len(rec.requests)
	rec.requests = append(rec.requests, request{r.Method, r.Header.Get("Content-Type"), r.Header.Get(FencingTokenHeader), body})
	status := http.StatusOK
	if n < len(rec.statuses) {
		status = rec.statuses[n]
	}
	rec.mu.Unlock()
	w.WriteHeader(status)
	if status >= 300 {
		io.WriteString(w, rec.body)
	}
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.requests)
}

func TestHTTPApply(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	h := newHTTPTarget(t, srv.URL+"/admin/bundle")
	b := testBundle("production-4", 42)
	b.Files["metadata.json"] = []byte(`{"title": "<roads & rivers>"}`)
	mustApply(t, h, b)

	if rec.count() != 1 {
		t.Fatalf("%d requests; want 1", rec.count())
	}
	r := rec.requests[0]
	if r.method != http.MethodPut || r.contentType != "application/json" || r.token != "42" {
		t.Errorf("request: %s, Content-Type %q, %s %q; want PUT, application/json, 42", r.method, r.contentType, FencingTokenHeader, r.token)
	}
	var doc struct {
		Manifest      Manifest          `json:"manifest"`
		Files         map[string]string `json:"files"`
		FilesEncoding *string           `json:"filesEncoding"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("body is not JSON: %v\n%.300s", err, r.body)
	}
	if !doc.Manifest.sameApply(b.Manifest) || !doc.Manifest.Time.Equal(b.Manifest.Time) {
		t.Errorf("manifest = %+v; want %+v", doc.Manifest, b.Manifest)
	}
	if doc.FilesEncoding != nil {
		t.Errorf("filesEncoding = %q for text files; want it absent", *doc.FilesEncoding)
	}
	if len(doc.Files) != len(b.Files) {
		t.Errorf("%d files; want %d", len(doc.Files), len(b.Files))
	}
	for name, data := range b.Files {
		if doc.Files[name] != string(data) {
			t.Errorf("files[%q] = %.40q; want %.40q", name, doc.Files[name], data)
		}
	}
	if !strings.Contains(string(r.body), `<roads & rivers>`) {
		t.Errorf("body escapes HTML characters: %.300s", r.body)
	}
	if m, err := h.Current(context.Background()); m != nil || err != nil {
		t.Errorf("Current() = %v, %v; want nil, nil", m, err)
	}
}

func TestHTTPApplyBinaryFiles(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	b := testBundle("production-4", 42)
	b.Files["logo.png"] = []byte{0x89, 'P', 'N', 'G', 0xff, 0x00}
	mustApply(t, newHTTPTarget(t, srv.URL), b)

	var doc struct {
		Files         map[string]string `json:"files"`
		FilesEncoding string            `json:"filesEncoding"`
	}
	if err := json.Unmarshal(rec.requests[0].body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.FilesEncoding != "base64" {
		t.Errorf("filesEncoding = %q; want base64", doc.FilesEncoding)
	}
	for name, data := range b.Files {
		got, err := base64.StdEncoding.DecodeString(doc.Files[name])
		if err != nil || string(got) != string(data) {
			t.Errorf("files[%q] decodes to %.40q, %v; want %.40q", name, got, err, data)
		}
	}
}

func TestHTTPRetries(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		want     int // requests
	}{
		{"500 then 200", []int{500, 200}, 2},
		{"502, 503 then 200", []int{502, 503, 200}, 3},
		{"201", []int{201}, 1},
		{"204", []int{204}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{statuses: tt.statuses}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			mustApply(t, newHTTPTarget(t, srv.URL), testBundle("production-1", 1))
			if rec.count() != tt.want {
				t.Errorf("%d requests; want %d", rec.count(), tt.want)
			}
		})
	}
}

func TestHTTPClientErrors(t *testing.T) {
	long := strings.Repeat("y", 2000)
	tests := []struct {
		name    string
		status  int
		body    string
		fenced  bool
		wantErr string
	}{
		{"400", 400, "bad bundle: " + long, false, "400 Bad Request: bad bundle: " + long[:512-len("bad bundle: ")]},
		{"404", 404, "", false, "404 Not Found"},
		{"409 fenced", 409, "token 7 < 9", true, "the server refused fencing token 7 (409 Conflict: token 7 < 9)"},
		{"412 fenced", 412, "", true, "the server refused fencing token 7 (412 Precondition Failed)"},
		{"3xx", 304, "", false, "304 Not Modified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{statuses: []int{tt.status, tt.status}, body: tt.body}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			h := newHTTPTarget(t, srv.URL)
			err := h.Apply(context.Background(), testBundle("production-1", 7))
			if err == nil {
				t.Fatalf("Apply = nil; want an error for %d", tt.status)
			}
			if rec.count() != 1 {
				t.Errorf("%d requests; want exactly 1 (no retry on %d)", rec.count(), tt.status)
			}
			if errors.Is(err, ErrFenced) != tt.fenced {
				t.Errorf("errors.Is(%v, ErrFenced) = %v; want %v", err, !tt.fenced, tt.fenced)
			}
			e := asError(t, err)
			if e.Retryable || e.Op != "put" {
				t.Errorf("op %q, retryable %v; want put, false", e.Op, e.Retryable)
			}
			want := h.String() + ": put: " + tt.wantErr
			if tt.status == 400 {
				if !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), long[:513]) {
					t.Errorf("error = %.200q...; want %.200q with 512 bytes of the body", err, want)
				}
			} else if err.Error() != want {
				t.Errorf("error = %q; want %q", err, want)
			}
		})
	}
}

// fencingServer accepts a bundle unless its token is lower than the
// highest it accepted, as a Honua server does.
type fencingServer struct {
	mu      sync.Mutex
	highest uint64
}

func (s *fencingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, err := strconv.ParseUint(r.Header.Get(FencingTokenHeader), 10, 64)
	if err != nil {
		http.Error(w, "no fencing token", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if token < s.highest {
		http.Error(w, "fencing token "+strconv.FormatUint(token, 10)+" is stale", http.StatusConflict)
		return
	}
	s.highest = token
}

func TestHTTPFencingServer(t *testing.T) {
	srv := httptest.NewServer(&fencingServer{})
	defer srv.Close()
	h := newHTTPTarget(t, srv.URL)
	mustApply(t, h, testBundle("production-1", 5))
	mustApply(t, h, testBundle("production-2", 9))
	err := h.Apply(context.Background(), testBundle("production-3", 7))
	var fe *FencedError
	if !errors.Is(err, ErrFenced) || !errors.As(err, &fe) || fe.Token != 7 {
		t.Fatalf("Apply(7 after 9) = %v; want ErrFenced for token 7", err)
	}
	if !strings.Contains(err.Error(), "fencing token 7 is stale") {
		t.Errorf("error = %v; want the server's answer in it", err)
	}
	mustApply(t, h, testBundle("production-2", 9)) // equal: a retry
}

func TestHTTPRetriesUntilContextEnds(t *testing.T) {
	rec := &recorder{statuses: make([]int, 1000), body: "down for maintenance"}
	for i := range rec.statuses {
		rec.statuses[i] = http.StatusServiceUnavailable
	}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	h := newHTTPTarget(t, srv.URL)
	err := h.Apply(ctx, testBundle("production-1", 1))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "503 Service Unavailable: down for maintenance") {
		t.Fatalf("Apply = %v; want the context's error and the last answer", err)
	}
	if e := asError(t, err); !e.Retryable {
		t.Errorf("Retryable = false for %v", err)
	}
	if rec.count() < 2 {
		t.Errorf("%d requests; want retries", rec.count())
	}
}

// countingTransport reports every failed round trip on a channel.
type countingTransport struct {
	failed chan error
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		select {
		case c.failed <- err:
		default:
		}
	}
	return resp, err
}

func TestHTTPConnectionRefusedThenServerAppears(t *testing.T) {
	// A free port, with nothing listening on it yet.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	h := newHTTPTarget(t, "http://"+addr+"/admin/bundle")
	ct := &countingTransport{failed: make(chan error, 100)}
	h.client.Transport = ct
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.Apply(ctx, testBundle("production-1", 3)) }()

	for range 2 { // two refused attempts
		select {
		case err := <-ct.failed:
			if !strings.Contains(err.Error(), "refused") {
				t.Errorf("attempt failed with %v; want connection refused", err)
			}
		case err := <-done:
			t.Fatalf("Apply returned %v before a server listened", err)
		}
	}
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	rec := &recorder{}
	srv := httptest.NewUnstartedServer(rec)
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	if err := <-done; err != nil {
		t.Fatalf("Apply = %v; want success once the server listens", err)
	}
	if rec.count() != 1 || rec.requests[0].token != "3" {
		t.Errorf("server saw %d requests; want 1 with token 3", rec.count())
	}
}

func TestHTTPAttemptTimeout(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so the server notices the client hang up
		if calls.Add(1) == 1 {
			select { // hang until the client gives up
			case <-r.Context().Done():
			case <-release:
			}
		}
	}))
	defer srv.Close()
	defer close(release)
	h := newHTTPTarget(t, srv.URL)
	h.timeout = 100 * time.Millisecond
	err := h.Apply(context.Background(), testBundle("production-1", 1))
	if err != nil {
		t.Fatalf("Apply = %v; want success on the second attempt", err)
	}
	if calls.Load() != 2 {
		t.Errorf("%d requests; want 2 (the hung one, then a retry)", calls.Load())
	}
}

// TestHTTPFencedNamesHighest: a 409 whose JSON body names the highest
// token accepted (as a target agent's does) gives it as the FencedError's
// Highest, when it is above the bundle's token; otherwise Highest is 0.
func TestHTTPFencedNamesHighest(t *testing.T) {
	for _, c := range []struct {
		body string
		want uint64
	}{
		{`{"highestFencingToken":9,"code":"fenced","error":"fencing token 3 is lower than 9"}`, 9},
		{`{"highestFencingToken":2,"code":"fenced"}`, 0},
		{`fencing token 3 is stale`, 0},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, c.body)
		}))
		err := newHTTPTarget(t, srv.URL).Apply(t.Context(), testBundle("d1", 3))
		srv.Close()
		var fe *FencedError
		if !errors.As(err, &fe) || fe.Highest != c.want {
			t.Errorf("409 %s: Apply = %v; want a FencedError with Highest %d", c.body, err, c.want)
		}
	}
}

// TestHTTPInsufficientStorageNotRetried: a 507 (the server has no room for
// the bundle, as a target agent on a full disk answers) fails at once, so
// that the deployment fails and rolls back instead of retrying until its
// deadline; other 5xx answers are retried.
func TestHTTPInsufficientStorageNotRetried(t *testing.T) {
	rec := &recorder{statuses: []int{http.StatusInsufficientStorage, http.StatusInsufficientStorage}, body: "no space left on device"}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := newHTTPTarget(t, srv.URL).Apply(ctx, testBundle("d1", 1))
	if e := asError(t, err); e.Retryable || !strings.Contains(err.Error(), "507") || !strings.Contains(err.Error(), "no space left") {
		t.Errorf("Apply against a 507: %v (retryable %v); want the 507 and its body, not retryable", err, e.Retryable)
	}
	if n := rec.count(); n != 1 {
		t.Errorf("requests = %d; want 1 (a 507 is not retried)", n)
	}
}
