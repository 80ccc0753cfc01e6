package ui

import (
	"context"
	"github.com/honua-io/honua-gitops/test/logbuf"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/cluster/clustertest"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/gitrepo"
	"github.com/honua-io/honua-gitops/internal/reconcile"
	"github.com/honua-io/honua-gitops/internal/rpc"
	"github.com/honua-io/honua-gitops/test/gitserver"
)

// fixture is one real node (raft, FSM) serving the real API and the
// dashboard over real HTTP, as honuad mounts them, with a tokens file of
// each role and — without a pipeline — production-1 waiting for two
// approvals of devops-team.
type fixture struct {
	t       *testing.T
	c       *clustertest.Cluster
	srv     *httptest.Server
	tokens  map[string]string // name → token
	waiting string
	// deadAddr is the API address of the dead peer (deadPeer).
	deadAddr string
	logs     *syncBuffer
	// rec is the pipeline, when a repository is watched.
	rec *reconcile.Reconciler
	// seen collects every body, URL and Location the tests saw, to check
	// that no token is in any.
	seenMu sync.Mutex
	seen   strings.Builder
}

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

type fixtureOptions struct {
	tls    bool
	noAuth bool
	// deadPeer adds a second node whose API address nobody serves.
	deadPeer bool
	// repo, when set, is the repository a real pipeline (reconcile)
	// watches, polling only when asked.
	repo *gitserver.Repo
}

func newFixture(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	f := &fixture{t: t, tokens: map[string]string{}, logs: &syncBuffer{}}
	var file strings.Builder
	file.WriteString("tokens:\n")
	for _, u := range []struct {
		name   string
		role   rpc.Role
		groups []string
	}{{"vera", rpc.RoleViewer, nil}, {"alice", rpc.RoleApprover, []string{"devops-team"}},
		{"bob", rpc.RoleApprover, []string{"devops-team"}}, {"carol", rpc.RoleApprover, []string{"devops-team"}}, {"olga", rpc.RoleApprover, []string{"interns"}}} {
		tok, entry, err := rpc.NewToken(u.name, u.role, u.groups)
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[u.name] = tok
		file.WriteString(entry)
	}
	var tokens *rpc.Tokens
	if !o.noAuth {
		path := filepath.Join(t.TempDir(), "tokens.yaml")
		if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		var err error
		if tokens, err = rpc.LoadTokens(path); err != nil {
			t.Fatal(err)
		}
	}
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.srv = httptest.NewUnstartedServer(nil)
	nodes := 1
	if o.deadPeer {
		nodes = 2
	}
	f.c = clustertest.Start(t, nodes, clustertest.Options{
		Adjust: func(i int, cfg *cluster.Config) {
			cfg.APIAddr = f.srv.Listener.Addr().String()
			if i > 0 {
				cfg.APIAddr = closedAddr(t)
				f.deadAddr = cfg.APIAddr
			}
		},
		Setup: func(i int, n *cluster.Node, fs *fsm.FSM) {
			if i > 0 {
				return
			}
			cfg := rpc.Config{Cluster: n, Store: fs, Tokens: tokens, Logger: logger}
			if o.repo != nil {
				src, err := gitrepo.Open(gitrepo.Config{URL: o.repo.Path(), Dir: filepath.Join(t.TempDir(), "repo")})
				if err != nil {
					t.Fatal(err)
				}
				rec := reconcile.New(reconcile.Config{Source: src, PollInterval: time.Hour}, n, fs)
				f.rec = rec
				n.RegisterLeaderWork("reconcile", rec.Run)
				cfg.Pipeline, cfg.Repository = rec, &rpc.RepositoryInfo{URL: src.URL(), Branch: "main"}
			}
			api := rpc.NewServer(cfg)
			mux := http.NewServeMux()
			mux.Handle("/ui/", New(Config{API: api, NodeID: n.ID(), TLS: o.tls, AuthEnabled: tokens != nil, Logger: logger}))
			mux.Handle("/", api)
			f.srv.Config.Handler = mux
		},
	})
	if o.tls {
		f.srv.StartTLS()
	} else {
		f.srv.Start()
	}
	t.Cleanup(f.srv.Close)
	if o.repo == nil {
		// (A pipeline would take a deployment made by hand for its own.)
		f.waiting = f.awaitingDeployment()
	}
	return f
}

// pollNow makes the pipeline poll the repository now (the fixture polls
// every hour otherwise).
func (f *fixture) pollNow() {
	if f.rec != nil {
		f.rec.PollNow("test")
	}
}

// awaitingDeployment creates a deployment of production waiting for two
// approvals of devops-team.
func (f *fixture) awaitingDeployment() string {
	f.t.Helper()
	res, err := f.c.Apply(&fsm.CreateDeployment{Environment: "production", Commit: "c1c1c1c1c1c1c1c1", Kind: fsm.KindAuto, Time: t0})
	if err != nil {
		f.t.Fatal(err)
	}
	id := res.(*fsm.Deployment).ID
	for _, to := range []fsm.DeploymentState{fsm.StateValidating, fsm.StatePlanning, fsm.StateAwaitingApproval} {
		c := &fsm.TransitionDeployment{ID: id, To: to, Time: t0}
		if to == fsm.StateAwaitingApproval {
			c.Approval = &fsm.ApprovalRequirement{Required: 2, Groups: []string{"devops-team"}}
		}
		if _, err := f.c.Apply(c); err != nil {
			f.t.Fatal(err)
		}
	}
	return id
}

// deployment returns a deployment from the node's FSM.
func (f *fixture) deployment(id string) *fsm.Deployment {
	f.t.Helper()
	d, ok := f.c.Leader().FSM.Deployment(id)
	if !ok {
		f.t.Fatalf("deployment %s is not in the state", id)
	}
	return d
}

// browser is a user agent with its own cookies that does not follow
// redirects, so the tests see each answer.
type browser struct {
	f    *fixture
	hc   *http.Client
	base *url.URL
}

func (f *fixture) browser() *browser {
	jar, _ := cookiejar.New(nil)
	// Each browser its own client: srv.Client() is shared.
	hc := &http.Client{Transport: f.srv.Client().Transport, Jar: jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	u, _ := url.Parse(f.srv.URL)
	return &browser{f: f, hc: hc, base: u}
}

// answer is a response read whole.
type answer struct {
	*http.Response
	body string
}

// do sends a request as a browser on the dashboard's own pages would: a
// POST carries Origin and Sec-Fetch-Site same-origin unless hdr says
// otherwise.
func (b *browser) do(method, path string, form url.Values, hdr map[string]string) *answer {
	b.f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(context.Background(), method, b.base.String()+path, body)
	if err != nil {
		b.f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base.Scheme+"://"+b.base.Host)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.f.t.Fatal(err)
	}
	b.f.saw(path, resp.Header.Get("Location"), string(raw))
	return &answer{Response: resp, body: string(raw)}
}

func (b *browser) get(path string) *answer { return b.do("GET", path, nil, nil) }

// signIn signs in with the token of name through the form.
func (b *browser) signIn(name string) {
	b.f.t.Helper()
	a := b.get("/ui/signin")
	if a.StatusCode != http.StatusOK {
		b.f.t.Fatalf("GET /ui/signin = %d", a.StatusCode)
	}
	a = b.do("POST", "/ui/signin", url.Values{"token": {b.f.tokens[name]}, "csrf": {formValue(b.f.t, a.body, "csrf")}, "next": {"/ui/"}}, nil)
	if a.StatusCode != http.StatusSeeOther {
		b.f.t.Fatalf("sign in as %s = %d; want 303 (body %s)", name, a.StatusCode, a.body)
	}
}

// csrfOf returns the CSRF field of a signed-in page.
func (b *browser) csrfOf(path string) string {
	b.f.t.Helper()
	return formValue(b.f.t, b.get(path).body, "csrf")
}

func (f *fixture) saw(s ...string) {
	f.seenMu.Lock()
	defer f.seenMu.Unlock()
	for _, x := range s {
		f.seen.WriteString(x + "\n")
	}
}

// formValue returns the value of the first input named name in a page.
func formValue(t *testing.T, page, name string) string {
	t.Helper()
	m := regexp.MustCompile(`<input type="hidden" name="` + regexp.QuoteMeta(name) + `" value="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no input %q in the page:\n%s", name, page)
	}
	return m[1]
}

// hasID reports whether a page has an element with id.
func hasID(page, id string) bool { return strings.Contains(page, `id="`+id+`"`) }

// textOf returns the text of the element with id (no nested elements).
func textOf(page, id string) string {
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return m[1]
}

// syncBuffer is a log sink the test reads while others write.
type syncBuffer = logbuf.Buffer

// checkNoTokens fails the test if any token appears in a page, a URL or a
// Location the tests saw, or in the node's logs.
func (f *fixture) checkNoTokens() {
	f.t.Helper()
	f.seenMu.Lock()
	seen := f.seen.String()
	f.seenMu.Unlock()
	if len(seen) == 0 {
		f.t.Fatal("checkNoTokens: the test saw no page")
	}
	logs := f.logs.String()
	for name, tok := range f.tokens {
		if strings.Contains(seen, tok) {
			f.t.Errorf("%s's token appears in a page, URL or Location", name)
		}
		if strings.Contains(logs, tok) {
			f.t.Errorf("%s's token appears in the logs", name)
		}
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
