package gitserver

import (
	"crypto/subtle"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// Request is one request an HTTPServer received.
type Request struct {
	Method string
	Path   string // e.g. "/config.git/info/refs"
	Query  string // the raw query, e.g. "service=git-upload-pack"
	Status int    // the status code answered
}

// IsAdvertisement reports whether the request is the ls-remote step: the
// ref advertisement, GET .../info/refs?service=git-upload-pack.
func (r Request) IsAdvertisement() bool {
	return r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/info/refs") &&
		r.Query == "service=git-upload-pack"
}

// IsUploadPack reports whether the request is a fetch: POST .../git-upload-pack.
func (r Request) IsUploadPack() bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/git-upload-pack")
}

// HTTPOption configures StartHTTP.
type HTTPOption func(*HTTPServer)

// WithBasicAuth makes the server answer 401 to requests without these
// basic-auth credentials.
func WithBasicAuth(username, password string) HTTPOption {
	return func(s *HTTPServer) { s.username, s.password = username, password }
}

// WithBearerToken makes the server answer 401 to requests without
// "Authorization: Bearer <token>".
func WithBearerToken(token string) HTTPOption {
	return func(s *HTTPServer) { s.token = token }
}

// HTTPServer serves every repository under a root over smart HTTP with
// `git http-backend`, and records the requests it receives.
type HTTPServer struct {
	srv *httptest.Server

	username, password, token string

	mu       sync.Mutex
	requests []Request
	log      *lockedBuffer // git http-backend's stderr
}

// StartHTTP starts a loopback smart-HTTP server for the repositories under
// root (repository name → URL(name)). It stops at the test's cleanup; if
// the test failed, git http-backend's log is printed.
func StartHTTP(t testing.TB, root string, opts ...HTTPOption) *HTTPServer {
	t.Helper()
	RequireGit(t)
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("gitserver: look up git: %v", err)
	}
	s := &HTTPServer{log: &lockedBuffer{}}
	for _, o := range opts {
		o(s)
	}
	backend := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Root: "/",
		Env: append(GitEnviron(),
			"GIT_PROJECT_ROOT="+root,
			"GIT_HTTP_EXPORT_ALL=1",
		),
		Stderr: s.log,
	}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.requests = append(s.requests, Request{
				Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery, Status: rec.status,
			})
		}()
		if !s.authorized(req) {
			rec.Header().Set("WWW-Authenticate", `Basic realm="gitserver"`)
			http.Error(rec, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(rec, req)
	}))
	t.Cleanup(func() {
		s.srv.Close()
		if t.Failed() {
			t.Logf("gitserver: git http-backend log:\n%s", s.log.String())
		}
	})
	return s
}

// URL returns the http:// URL of the repository named name (Repo.Name).
func (s *HTTPServer) URL(name string) string {
	return s.srv.URL + "/" + name
}

// Requests returns the requests received so far, oldest first.
func (s *HTTPServer) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetRequests forgets the requests received so far.
func (s *HTTPServer) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// CountRequests returns how many requests received so far satisfy match
// (Request.IsAdvertisement, Request.IsUploadPack...).
func (s *HTTPServer) CountRequests(match func(Request) bool) int {
	n := 0
	for _, r := range s.Requests() {
		if match(r) {
			n++
		}
	}
	return n
}

func (s *HTTPServer) authorized(req *http.Request) bool {
	switch {
	case s.token != "":
		got, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		return ok && equal(got, s.token)
	case s.username != "" || s.password != "":
		u, p, ok := req.BasicAuth()
		return ok && equal(u, s.username) && equal(p, s.password)
	}
	return true
}

func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// statusRecorder remembers the status code written through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
