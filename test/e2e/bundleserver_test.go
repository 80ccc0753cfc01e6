package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The headers an http target sends with a bundle (internal/target).
const (
	fencingTokenHeader = "X-Honua-Fencing-Token"
	deploymentIDHeader = "X-Honua-Deployment-Id"
)

// bundleDoc is the body of an http target's PUT: the manifest and every
// file of the bundle.
type bundleDoc struct {
	Manifest struct {
		DeploymentID string `json:"deploymentId"`
		Environment  string `json:"environment"`
		Commit       string `json:"commit"`
		Kind         string `json:"kind"`
		FencingToken uint64 `json:"fencingToken"`
	} `json:"manifest"`
	Files         map[string]string `json:"files"`
	FilesEncoding string            `json:"filesEncoding"`
}

// bundlePut is one PUT the bundle server received.
type bundlePut struct {
	Seq    int    // arrival order, from 1
	Remote string // the client's host:port
	Token  uint64 // from the fencing token header
	Doc    bundleDoc
	Body   []byte
	// Status is what the server answered (200: accepted); 0 while the
	// request is held.
	Status int
}

func (p bundlePut) String() string {
	return fmt.Sprintf("PUT #%d from %s: deployment %s commit %.12s kind %s token %d → %d",
		p.Seq, p.Remote, p.Doc.Manifest.DeploymentID, p.Doc.Manifest.Commit, p.Doc.Manifest.Kind, p.Token, p.Status)
}

// heldPut is a PUT the server received in full and holds, unanswered,
// until the test releases it.
type heldPut struct {
	*bundlePut
	release  chan struct{}
	once     sync.Once
	answered chan struct{} // closed once the server decided the answer
}

// Release lets the server decide and send its answer.
func (h *heldPut) Release() { h.once.Do(func() { close(h.release) }) }

// WaitAnswered waits until the server decided the held request's answer
// and returns it.
func (h *heldPut) WaitAnswered(t *testing.T) int {
	t.Helper()
	select {
	case <-h.answered:
	case <-time.After(waitTimeout):
		t.Fatalf("held %s: no answer decided %v after release", h.bundlePut, waitTimeout)
	}
	return h.Status // written before answered was closed
}

// bundleServer plays a Honua server's bundle endpoint for an http target.
// It records every PUT, keeps the highest fencing token it accepted and
// refuses a lower one with 409, as a real server would; it can answer every
// PUT with a fixed status instead, and hold the next PUTs, read in full,
// until the test releases them. It decides a held PUT's answer when it is
// released, whether or not its client is still there: a late write.
type bundleServer struct {
	srv  *httptest.Server
	held chan *heldPut

	mu       sync.Mutex
	holdNext int
	status   int // when non-zero, the answer to every PUT
	highest  uint64
	puts     []*bundlePut // in arrival order
	order    []*bundlePut // the accepted ones, in the order accepted
	holding  []*heldPut
	closed   bool
}

// newBundleServer starts a bundle server on 127.0.0.1; it stops at the
// test's cleanup, after releasing whatever it still holds.
func newBundleServer(t *testing.T) *bundleServer {
	t.Helper()
	s := &bundleServer{held: make(chan *heldPut, 64)}
	s.srv = httptest.NewServer(s)
	t.Cleanup(func() {
		s.mu.Lock()
		s.closed = true
		holding := s.holding
		s.mu.Unlock()
		for _, h := range holding {
			h.Release()
		}
		s.srv.CloseClientConnections()
		s.srv.Close()
		if t.Failed() {
			for _, p := range s.Puts() {
				t.Logf("bundle server: %s", p)
			}
		}
	})
	return s
}

// URL is where the http target PUTs bundles.
func (s *bundleServer) URL() string { return s.srv.URL + "/admin/bundle" }

// Addr is the server's host:port.
func (s *bundleServer) Addr() string { return s.srv.Listener.Addr().String() }

// HoldNext makes the server hold the next n PUTs.
func (s *bundleServer) HoldNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holdNext = n
}

// AnswerAll makes the server answer every PUT with status (0: decide by
// the fencing token again).
func (s *bundleServer) AnswerAll(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// WaitHeld waits for the next held PUT.
func (s *bundleServer) WaitHeld(t *testing.T) *heldPut {
	t.Helper()
	select {
	case h := <-s.held:
		return h
	case <-time.After(waitTimeout):
		t.Fatalf("timed out after %v waiting for a PUT to hold; PUTs so far: %v", waitTimeout, s.Puts())
		return nil
	}
}

// Puts returns a copy of every PUT received, in arrival order.
func (s *bundleServer) Puts() []bundlePut {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]bundlePut, len(s.puts))
	for i, p := range s.puts {
		out[i] = *p
	}
	return out
}

// Accepted returns a copy of every PUT accepted, in the order accepted.
func (s *bundleServer) Accepted() []bundlePut {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]bundlePut, len(s.order))
	for i, p := range s.order {
		out[i] = *p
	}
	return out
}

func (s *bundleServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut || r.URL.Path != "/admin/bundle" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	p, malformed := readPut(r)
	s.mu.Lock()
	s.puts = append(s.puts, p)
	p.Seq = len(s.puts)
	var h *heldPut
	if malformed != "" {
		p.Status = http.StatusBadRequest
	} else if s.holdNext > 0 && !s.closed {
		s.holdNext--
		h = &heldPut{bundlePut: p, release: make(chan struct{}), answered: make(chan struct{})}
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
	p.Status = code
	s.mu.Unlock()
	if h != nil {
		close(h.answered)
	}
	http.Error(w, msg, code)
}

// readPut reads a PUT in full; malformed says what is wrong with it, if
// anything (a client that died mid-body sends a body that does not parse).
func readPut(r *http.Request) (p *bundlePut, malformed string) {
	p = &bundlePut{Remote: r.RemoteAddr}
	var err error
	if p.Body, err = io.ReadAll(r.Body); err != nil {
		return p, "read body: " + err.Error()
	}
	if p.Token, err = strconv.ParseUint(r.Header.Get(fencingTokenHeader), 10, 64); err != nil {
		return p, fencingTokenHeader + ": " + err.Error()
	}
	if err := json.Unmarshal(p.Body, &p.Doc); err != nil {
		return p, "body: " + err.Error()
	}
	if p.Doc.Manifest.FencingToken != p.Token || r.Header.Get(deploymentIDHeader) != p.Doc.Manifest.DeploymentID {
		return p, "headers do not match the manifest"
	}
	return p, ""
}
