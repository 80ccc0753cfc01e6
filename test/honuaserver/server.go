// Package honuaserver plays the bundle endpoint of a Honua server for
// honuad's http targets in tests: it records every PUT with its fencing
// token, keeps the highest token it accepted and refuses a lower one with
// 409, as a real server would. A test can make it answer every PUT with a
// fixed status, or hold PUTs, read in full, until it releases them.
//
// It also answers a reload URL (POST /admin/metadata/reload) and a health
// check (GET /healthz) with 200, so a target can name both.
package honuaserver

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The headers an http target sends with a bundle (internal/target).
const (
	FencingTokenHeader = "X-Honua-Fencing-Token"
	DeploymentIDHeader = "X-Honua-Deployment-Id"
)

// DefaultWaitTimeout bounds WaitHeld and WaitAnswered unless the server's
// WaitTimeout says otherwise.
const DefaultWaitTimeout = 60 * time.Second

// Manifest is the bundle's .honua/deployment.json, as the PUT carries it.
type Manifest struct {
	DeploymentID string `json:"deploymentId"`
	Environment  string `json:"environment"`
	Commit       string `json:"commit"`
	Kind         string `json:"kind"`
	FencingToken uint64 `json:"fencingToken"`
}

// Doc is the body of an http target's PUT: the manifest and every file of
// the bundle.
type Doc struct {
	Manifest      Manifest          `json:"manifest"`
	Files         map[string]string `json:"files"`
	FilesEncoding string            `json:"filesEncoding"`
}

// Put is one PUT the server received.
type Put struct {
	Seq    int    // arrival order, from 1
	Remote string // the client's host:port
	// From names the sender, as the server's Identify function said when
	// the PUT arrived; empty without one.
	From  string
	Token uint64 // from the fencing token header
	Doc   Doc
	Body  []byte
	// Status is what the server answered (200: accepted); 0 while the
	// request is held.
	Status int
	// Received is when the body was read in full, Decided when the answer
	// was decided.
	Received, Decided time.Time
}

// String describes the PUT on one line, for failure messages.
func (p Put) String() string {
	from := p.Remote
	if p.From != "" {
		from = p.From + " " + p.Remote
	}
	return fmt.Sprintf("PUT #%d from %s: deployment %s commit %.12s kind %s token %d → %d",
		p.Seq, from, p.Doc.Manifest.DeploymentID, p.Doc.Manifest.Commit, p.Doc.Manifest.Kind, p.Token, p.Status)
}

// Held is a PUT the server received in full and holds, unanswered, until
// the test releases it.
type Held struct {
	*Put
	srv      *Server
	release  chan struct{}
	once     sync.Once
	answered chan struct{} // closed once the server decided the answer
}

// Release lets the server decide and send its answer.
func (h *Held) Release() { h.once.Do(func() { close(h.release) }) }

// WaitAnswered waits until the server decided the held request's answer
// and returns it.
func (h *Held) WaitAnswered(t testing.TB) int {
	t.Helper()
	select {
	case <-h.answered:
	case <-time.After(h.srv.waitTimeout()):
		t.Fatalf("held %s: no answer decided %v after release", h.Put, h.srv.waitTimeout())
	}
	h.srv.mu.Lock()
	defer h.srv.mu.Unlock()
	return h.Status
}

// Server plays a Honua server's bundle endpoint. It decides a held PUT's
// answer when it is released, whether or not its client is still there: a
// late write.
type Server struct {
	name string
	srv  *httptest.Server
	held chan *Held

	// WaitTimeout bounds WaitHeld and WaitAnswered; zero means
	// DefaultWaitTimeout. Set it before use.
	WaitTimeout time.Duration

	mu       sync.Mutex
	identify func(remote string) string
	holdNext int
	status   int // when non-zero, the answer to every PUT
	highest  uint64
	puts     []*Put // in arrival order
	order    []*Put // the accepted ones, in the order accepted
	holding  []*Held
	reloads  int
	closed   bool
	metrics  metrics
}

// New starts a server on 127.0.0.1; name is used in its messages. It stops
// at the test's cleanup, after releasing whatever it still holds; if the
// test failed, it logs the last PUTs it received.
func New(t testing.TB, name string) *Server {
	t.Helper()
	return NewAt(t, name, "127.0.0.1")
}

// NewAt is New listening on a port of host, an IP address of this machine,
// instead of 127.0.0.1: the address of a network namespace's service route,
// say, for nodes that cannot reach this loopback.
func NewAt(t testing.TB, name, host string) *Server {
	t.Helper()
	s := &Server{name: name, held: make(chan *Held, 64)}
	s.srv = httptest.NewUnstartedServer(s)
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("bundle server %s: listen on %s: %v", name, host, err)
	}
	s.srv.Listener.Close()
	s.srv.Listener = ln
	s.srv.Start()
	t.Cleanup(func() {
		s.ReleaseAll()
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.srv.CloseClientConnections()
		s.srv.Close()
		if t.Failed() {
			puts := s.Puts()
			const last = 40
			if len(puts) > last {
				t.Logf("bundle server %s: %d PUTs; the last %d:", s.name, len(puts), last)
				puts = puts[len(puts)-last:]
			}
			for _, p := range puts {
				t.Logf("bundle server %s: %s", s.name, p)
			}
		}
	})
	return s
}

func (s *Server) waitTimeout() time.Duration {
	if s.WaitTimeout > 0 {
		return s.WaitTimeout
	}
	return DefaultWaitTimeout
}

// Name is the name the server was started with.
func (s *Server) Name() string { return s.name }

// URL is where the http target PUTs bundles.
func (s *Server) URL() string { return s.srv.URL + "/admin/bundle" }

// ReloadURL answers POST with 200 and counts the reloads.
func (s *Server) ReloadURL() string { return s.srv.URL + "/admin/metadata/reload" }

// HealthURL answers GET with 200.
func (s *Server) HealthURL() string { return s.srv.URL + "/healthz" }

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.srv.Listener.Addr().String() }

// Identify sets a function that names the sender of a PUT from the
// client's host:port while the connection is still open (which process
// holds it, say); its answer is recorded in Put.From.
func (s *Server) Identify(f func(remote string) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identify = f
}

// HoldNext makes the server hold the next n PUTs (0: none).
func (s *Server) HoldNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holdNext = n
}

// ReleaseAll stops holding PUTs and releases every PUT held so far.
func (s *Server) ReleaseAll() {
	s.mu.Lock()
	s.holdNext = 0
	holding := s.holding
	s.mu.Unlock()
	for _, h := range holding {
		h.Release()
	}
}

// AnswerAll makes the server answer every PUT with status (0: decide by
// the fencing token again).
func (s *Server) AnswerAll(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// Held returns the channel on which every held PUT is sent as it arrives,
// for a test that waits on several servers at once.
func (s *Server) Held() <-chan *Held { return s.held }

// WaitHeld waits for the next held PUT.
func (s *Server) WaitHeld(t testing.TB) *Held {
	t.Helper()
	select {
	case h := <-s.held:
		return h
	case <-time.After(s.waitTimeout()):
		t.Fatalf("bundle server %s: timed out after %v waiting for a PUT to hold; PUTs so far: %v", s.name, s.waitTimeout(), s.Puts())
		return nil
	}
}

// Puts returns a copy of every PUT received, in arrival order.
func (s *Server) Puts() []Put {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Put, len(s.puts))
	for i, p := range s.puts {
		out[i] = *p
	}
	return out
}

// Accepted returns a copy of every PUT accepted, in the order accepted.
func (s *Server) Accepted() []Put {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Put, len(s.order))
	for i, p := range s.order {
		out[i] = *p
	}
	return out
}

// Last returns the last PUT accepted, and false if none was.
func (s *Server) Last() (Put, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) == 0 {
		return Put{}, false
	}
	return *s.order[len(s.order)-1], true
}

// Highest returns the highest fencing token accepted so far.
func (s *Server) Highest() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.highest
}

// Reloads returns how many reloads were POSTed.
func (s *Server) Reloads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reloads
}

// ServeHTTP serves the bundle endpoint, the reload URL, the health
// check and the request metrics (see SetErrorRate).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPut && r.URL.Path == "/admin/bundle":
		s.servePut(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/admin/metadata/reload":
		_, _ = io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		s.reloads++
		s.mu.Unlock()
		http.Error(w, "reloaded", http.StatusOK)
	case r.Method == http.MethodGet && r.URL.Path == "/metrics":
		s.serveMetrics(w)
	case r.Method == http.MethodGet && r.URL.Path == "/healthz":
		http.Error(w, "ok", http.StatusOK)
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

func (s *Server) servePut(w http.ResponseWriter, r *http.Request) {
	p, malformed := readPut(r)
	s.mu.Lock()
	identify := s.identify
	s.mu.Unlock()
	if identify != nil {
		p.From = identify(r.RemoteAddr)
	}
	s.mu.Lock()
	s.puts = append(s.puts, p)
	p.Seq = len(s.puts)
	var h *Held
	if malformed != "" {
		p.Status, p.Decided = http.StatusBadRequest, time.Now()
	} else if s.holdNext > 0 && !s.closed {
		s.holdNext--
		h = &Held{Put: p, srv: s, release: make(chan struct{}), answered: make(chan struct{})}
		s.holding = append(s.holding, h)
	}
	s.mu.Unlock()
	if malformed != "" {
		http.Error(w, malformed, http.StatusBadRequest)
		return
	}
	if h != nil {
		s.held <- h
		<-h.release
	}

	s.mu.Lock()
	code, msg := s.status, ""
	switch {
	case code != 0:
		msg = "refused by the test"
	case p.Token < s.highest:
		code, msg = http.StatusConflict, fmt.Sprintf("fencing token %d is lower than %d, already accepted", p.Token, s.highest)
	default:
		code, msg = http.StatusOK, "applied"
		s.highest = p.Token
		s.order = append(s.order, p)
	}
	p.Status, p.Decided = code, time.Now()
	highest := s.highest
	s.mu.Unlock()
	if h != nil {
		close(h.answered)
	}
	if code == http.StatusConflict {
		// As docs/targets.md has a server refuse a token: the JSON body
		// names the highest token accepted.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"highestFencingToken": highest, "code": "fenced", "error": msg})
		return
	}
	http.Error(w, msg, code)
}

// readPut reads a PUT in full; malformed says what is wrong with it, if
// anything (a client that died mid-body sends a body that does not parse).
func readPut(r *http.Request) (p *Put, malformed string) {
	p = &Put{Remote: r.RemoteAddr}
	var err error
	p.Body, err = io.ReadAll(r.Body)
	p.Received = time.Now()
	if err != nil {
		return p, "read body: " + err.Error()
	}
	if p.Token, err = strconv.ParseUint(r.Header.Get(FencingTokenHeader), 10, 64); err != nil {
		return p, FencingTokenHeader + ": " + err.Error()
	}
	if err := json.Unmarshal(p.Body, &p.Doc); err != nil {
		return p, "body: " + err.Error()
	}
	if p.Doc.Manifest.FencingToken != p.Token || r.Header.Get(DeploymentIDHeader) != p.Doc.Manifest.DeploymentID {
		return p, "headers do not match the manifest"
	}
	return p, ""
}
