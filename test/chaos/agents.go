package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

// Every environment's http target is a real honuad target-agent process
// (test/harness.StartTargetAgent) with a tokens file, which honuad's http
// target reaches with tokenFile. The agent listens on 127.0.0.1 of the
// test's (root) namespace; the nodes reach it through a thin proxy in
// front of it, on the service address (network.go) where the nodes reach
// the git daemon too. The proxy forwards every request unchanged and the
// agent alone decides what to accept; the proxy records each PUT (who
// sent it, its token, the agent's answer), which only the sender's side of
// the connection shows, and holds PUTs when a fault asks it to (the
// fencing faults need a leader's PUT in flight).

// Headers of an http target's PUT (docs/targets.md).
const (
	fencingTokenHeader = "X-Honua-Fencing-Token"
	deploymentIDHeader = "X-Honua-Deployment-Id"
)

// Bounds of the proxy in front of each agent.
const (
	maxBundle    = 64 << 20
	forwardLimit = 90 * time.Second // the agent's lock wait and answer, with room
	heldWait     = 60 * time.Second // how long WaitAnswered waits
)

// Put is one PUT the proxy received and, unless it did not decode,
// forwarded to the agent.
type Put struct {
	Seq    int    // arrival order, from 1
	Remote string // the client's host:port
	// From names the sending node, as the agent's identify function said
	// while the connection was open; empty if it could not tell.
	From  string
	Token uint64 // the fencing token header
	// Manifest is the bundle's manifest, as the PUT carries it.
	Manifest manifest
	// Status is what the agent answered (200: accepted, 409: fenced); 0
	// while the PUT is held or in flight, or when the agent could not be
	// reached (Err says why).
	Status int
	Err    string
	// Received is when the body was read in full, Decided when the agent
	// answered.
	Received, Decided time.Time
}

// String describes the PUT on one line, for failure messages.
func (p Put) String() string {
	from := p.Remote
	if p.From != "" {
		from = p.From + " " + p.Remote
	}
	s := fmt.Sprintf("PUT #%d from %s: deployment %s commit %.12s kind %s token %d → %d",
		p.Seq, from, p.Manifest.DeploymentID, p.Manifest.Commit, p.Manifest.Kind, p.Token, p.Status)
	if p.Err != "" {
		s += " (" + p.Err + ")"
	}
	return s
}

// Held is a PUT the proxy read in full and holds, unforwarded, until the
// test releases it.
type Held struct {
	*Put
	a        *agentTarget
	release  chan struct{}
	once     sync.Once
	answered chan struct{} // closed once the agent answered
}

// Release lets the proxy forward the PUT to the agent, whether or not its
// sender is still there: a late write.
func (h *Held) Release() { h.once.Do(func() { close(h.release) }) }

// WaitAnswered waits until the agent answered the released PUT and
// returns its status.
func (h *Held) WaitAnswered(t testing.TB) int {
	t.Helper()
	select {
	case <-h.answered:
	case <-time.After(heldWait):
		t.Fatalf("held %s: the agent did not answer %v after release", h.Put, heldWait)
	}
	h.a.mu.Lock()
	defer h.a.mu.Unlock()
	return h.Status
}

// agentTarget is one environment's http target: a real target agent and
// the recording proxy the nodes reach it through.
type agentTarget struct {
	name   string
	agent  *harness.TargetAgent
	srv    *http.Server
	ln     net.Listener
	client *http.Client
	held   chan *Held

	mu       sync.Mutex
	identify func(remote string) string
	holdNext int
	puts     []*Put
	holding  []*Held
	closed   bool
}

// startAgentTarget starts a target agent for env, with its files in dir,
// and its proxy on a port of host.
func startAgentTarget(t *testing.T, env, dir, host string) *agentTarget {
	t.Helper()
	a := &agentTarget{
		name:   env,
		agent:  harness.StartTargetAgentIn(t, env, dir),
		held:   make(chan *Held, 64),
		client: &http.Client{Timeout: forwardLimit, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("%s's proxy: listen on %s: %v", a.agent, host, err)
	}
	a.ln = ln
	a.srv = &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	go func() { _ = a.srv.Serve(ln) }()
	t.Cleanup(func() {
		a.ReleaseAll()
		a.mu.Lock()
		a.closed = true
		a.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.srv.Shutdown(ctx); err != nil {
			a.srv.Close()
		}
		if t.Failed() {
			puts := a.Puts()
			const last = 40
			if len(puts) > last {
				t.Logf("%s: %d PUTs; the last %d:", a.agent, len(puts), last)
				puts = puts[len(puts)-last:]
			}
			for _, p := range puts {
				t.Logf("%s: %s", a.agent, p)
			}
		}
	})
	return a
}

// Name is the environment the agent serves.
func (a *agentTarget) Name() string { return a.name }

// URL is where honuad's http target PUTs bundles: the proxy.
func (a *agentTarget) URL() string { return "http://" + a.Addr() + "/v1/bundle" }

// HealthURL is the agent's health check, through the proxy.
func (a *agentTarget) HealthURL() string { return "http://" + a.Addr() + "/healthz" }

// TokenFile holds the bearer token the agent accepts.
func (a *agentTarget) TokenFile() string { return a.agent.TokenFile() }

// Addr is the proxy's host:port.
func (a *agentTarget) Addr() string { return a.ln.Addr().String() }

// Identify sets the function that names the sender of a PUT from the
// client's host:port while the connection is open.
func (a *agentTarget) Identify(f func(remote string) string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.identify = f
}

// HoldNext makes the proxy hold the next n PUTs (0: none).
func (a *agentTarget) HoldNext(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.holdNext = n
}

// ReleaseAll stops holding PUTs and releases every PUT held so far.
func (a *agentTarget) ReleaseAll() {
	a.mu.Lock()
	a.holdNext = 0
	holding := a.holding
	a.mu.Unlock()
	for _, h := range holding {
		h.Release()
	}
}

// Held returns the channel on which every held PUT is sent as it arrives.
func (a *agentTarget) Held() <-chan *Held { return a.held }

// Puts returns a copy of every PUT received, in arrival order.
func (a *agentTarget) Puts() []Put {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Put, len(a.puts))
	for i, p := range a.puts {
		out[i] = *p
	}
	return out
}

// ServeHTTP forwards a request to the agent; a PUT of a bundle is read in
// full, recorded, held if asked, and forwarded without its sender's
// context, so that a released PUT lands even when its sender is gone.
func (a *agentTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBundle))
	if err != nil {
		// A sender that died mid-body: the agent would refuse the torn
		// document too; nothing is forwarded.
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if r.Method != http.MethodPut {
		a.forward(w, r, body, nil)
		return
	}
	p := &Put{Remote: r.RemoteAddr, Received: time.Now()}
	p.Token, _ = strconv.ParseUint(r.Header.Get(fencingTokenHeader), 10, 64)
	var doc struct {
		Manifest manifest `json:"manifest"`
	}
	_ = json.Unmarshal(body, &doc) // the agent judges the document
	p.Manifest = doc.Manifest
	if p.Manifest.DeploymentID == "" {
		p.Manifest.DeploymentID = r.Header.Get(deploymentIDHeader)
	}
	a.mu.Lock()
	identify := a.identify
	a.mu.Unlock()
	if identify != nil {
		p.From = identify(r.RemoteAddr)
	}
	a.mu.Lock()
	a.puts = append(a.puts, p)
	p.Seq = len(a.puts)
	var h *Held
	if a.holdNext > 0 && !a.closed {
		a.holdNext--
		h = &Held{Put: p, a: a, release: make(chan struct{}), answered: make(chan struct{})}
		a.holding = append(a.holding, h)
	}
	a.mu.Unlock()
	if h != nil {
		a.held <- h
		<-h.release
	}
	a.forward(w, r, body, p)
	if h != nil {
		close(h.answered)
	}
}

// forward sends the request to the agent and its answer back, recording
// the answer in p when p is not nil.
func (a *agentTarget) forward(w http.ResponseWriter, r *http.Request, body []byte, p *Put) {
	ctx, cancel := context.WithTimeout(context.Background(), forwardLimit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, "http://"+a.agent.Addr()+r.URL.RequestURI(), bytes.NewReader(body))
	if err == nil {
		req.Header = r.Header.Clone()
		var resp *http.Response
		if resp, err = a.client.Do(req); err == nil {
			defer resp.Body.Close()
			answer, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			a.decided(p, resp.StatusCode, rerr)
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			_, _ = w.Write(answer)
			return
		}
	}
	a.decided(p, 0, err)
	http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
}

func (a *agentTarget) decided(p *Put, status int, err error) {
	if p == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	p.Status, p.Decided = status, time.Now()
	if err != nil {
		p.Err = err.Error()
	}
}

// Status asks the agent what it serves and the highest token it accepted
// (GET /v1/bundle, with its token).
func (a *agentTarget) Status() (harness.TargetAgentStatus, error) { return a.agent.Status() }

// served is one bundle the agent's log says it served.
type served struct {
	DeploymentID, Commit string
	Token                uint64
}

func (s served) String() string {
	return fmt.Sprintf("deployment %s commit %.12s token %d", s.DeploymentID, s.Commit, s.Token)
}

var servedLine = regexp.MustCompile(`msg="bundle served".* bundle=(\S+) commit=(\S+) fencingToken=(\d+)`)

// Served returns every bundle the agent switched in, in the order it did,
// from its log (its "bundle served" lines).
func (a *agentTarget) Served() ([]served, error) {
	return parseServed(a.agent.Log())
}

func parseServed(log string) ([]served, error) {
	var out []served
	for _, m := range servedLine.FindAllStringSubmatch(log, -1) {
		tok, err := strconv.ParseUint(m[3], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("agent log: %q: %w", m[0], err)
		}
		suffix := "-" + m[3]
		id := m[1]
		if len(id) <= len(suffix) || id[len(id)-len(suffix):] != suffix {
			return nil, errors.New("agent log: bundle " + id + " does not end with its token " + m[3])
		}
		out = append(out, served{DeploymentID: id[:len(id)-len(suffix)], Commit: m[2], Token: tok})
	}
	return out, nil
}
