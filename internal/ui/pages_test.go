package ui

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/cluster/clustertest"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// checkHeaders checks the security headers every answer of the dashboard
// carries.
func checkHeaders(t *testing.T, what string, a *answer) {
	t.Helper()
	csp := a.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
		"form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %s", what, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("%s: CSP %q allows something unsafe", what, csp)
	}
	if a.Header.Get("X-Content-Type-Options") != "nosniff" || a.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("%s: X-Content-Type-Options %q, Referrer-Policy %q", what, a.Header.Get("X-Content-Type-Options"), a.Header.Get("Referrer-Policy"))
	}
	if strings.HasPrefix(a.Header.Get("Content-Type"), "text/html") && a.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: a page with Cache-Control %q; want no-store", what, a.Header.Get("Cache-Control"))
	}
}

func TestEveryPage(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	// A completed deployment to roll back to.
	res, err := f.c.Apply(&fsm.CreateDeployment{Environment: "staging", Commit: "a0a0a0a0a0a0a0a0", Kind: fsm.KindAuto, Time: t0})
	if err != nil {
		t.Fatal(err)
	}
	done := res.(*fsm.Deployment).ID
	for _, to := range []fsm.DeploymentState{fsm.StateValidating, fsm.StatePlanning, fsm.StateBackingUp,
		fsm.StateApplying, fsm.StatePostValidating, fsm.StateCompleted} {
		if _, err := f.c.Apply(&fsm.TransitionDeployment{ID: done, To: to, Time: t0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	b := f.browser()
	checkHeaders(t, "sign-in page", b.get("/ui/signin"))
	checkHeaders(t, "redirect to sign in", b.get("/ui/"))
	checkHeaders(t, "style sheet", b.get("/ui/static/style.css"))
	b.signIn("alice")
	pages := []struct {
		path  string
		want  []string
		state int
	}{
		{"/ui/", []string{`class="env-card" data-env="production"`, `class="env-card" data-env="staging"`, `class="waiting"`, "0 of 2 approvals",
			`class="deployed-commit"><code>a0a0a0a0a0a0</code>`, `class="risk risk-none"`}, 200},
		{"/ui/deployments/" + f.waiting, []string{`id="deployment" data-state="AwaitingApproval"`, `id="state">AwaitingApproval<`, `id="plan"`,
			`id="validation"`, `id="approvals"`, `id="timeline"`, `id="fencing-token"`, `id="notifications"`}, 200},
		{"/ui/environments/staging", []string{`id="history"`, `tr data-deployment="` + done + `"`, `<form id="filter"`, `<label for="state">State</label>`,
			`<select id="state" name="state">`, `<svg id="chart" role="img"`, "<title>"}, 200},
		{"/ui/environments/production?state=AwaitingApproval", []string{`tr data-deployment="` + f.waiting + `"`, `value="AwaitingApproval" selected`}, 200},
		{"/ui/environments/production?state=Completed", []string{"No deployments."}, 200},
		{"/ui/environments/staging/rollback?to=" + done, []string{`id="rollback-current"`, `id="rollback-target"`, done}, 200},
		{"/ui/cluster", []string{`id="leader">node1`, `id="term"`, `id="applied-index"`, `<table id="members"`, `tr data-member="node1"`,
			`class="ready">ready<`, `class="last-contact">leader<`}, 200},
		{"/ui/deployments/production-99", []string{`id="error"`}, 404},
		{"/ui/environments/Not_Valid", []string{`id="error"`}, 400},
		{"/ui/environments/production?state=Bogus", []string{`id="error"`}, 400},
		{"/ui/environments/production?limit=0", []string{`id="error"`}, 400},
		{"/ui/nope", []string{`id="error"`}, 404},
	}
	for _, p := range pages {
		a := b.get(p.path)
		if a.StatusCode != p.state {
			t.Errorf("GET %s = %d; want %d:\n%s", p.path, a.StatusCode, p.state, a.body)
			continue
		}
		checkHeaders(t, p.path, a)
		for _, want := range p.want {
			if !strings.Contains(a.body, want) {
				t.Errorf("GET %s lacks %s", p.path, want)
			}
		}
		if !strings.Contains(a.body, `<main id="main">`) || textOf(a.body, "whoami") != "alice (approver)" {
			t.Errorf("GET %s lacks #main or #whoami", p.path)
		}
		if strings.Contains(a.body, "<script>") || strings.Contains(a.body, " style=") || strings.Contains(a.body, "<style") {
			t.Errorf("GET %s has an inline script or style, which the CSP refuses", p.path)
		}
	}
	// Paging: one row a page, and a link to the next.
	a := b.get("/ui/environments/staging?limit=1")
	if !strings.Contains(a.body, `rel="next"`) && strings.Count(a.body, "tr data-deployment=") > 1 {
		t.Errorf("history page of limit 1 has %d rows", strings.Count(a.body, "tr data-deployment="))
	}
	f.checkNoTokens()
}

func TestHistoryPaging(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	for _, c := range []string{"b1", "b2", "b3"} {
		if _, err := f.c.Apply(&fsm.CreateDeployment{Environment: "qa", Commit: c, Kind: fsm.KindAuto, Time: t0}); err != nil {
			t.Fatal(err)
		}
	}
	b := f.browser()
	b.signIn("vera")
	seen := map[string]bool{}
	path := "/ui/environments/qa?limit=1"
	for range 5 {
		a := b.get(path)
		for _, m := range regexp.MustCompile(`tr data-deployment="([^"]+)"`).FindAllStringSubmatch(a.body, -1) {
			seen[m[1]] = true
		}
		next := regexp.MustCompile(`<a rel="next" href="([^"]+)"`).FindStringSubmatch(a.body)
		if next == nil {
			break
		}
		path = strings.ReplaceAll(next[1], "&amp;", "&")
	}
	if len(seen) != 3 {
		t.Errorf("paging through qa's history showed %v; want its 3 deployments", seen)
	}
}

func TestNeedsTokensFile(t *testing.T) {
	f := newFixture(t, fixtureOptions{noAuth: true})
	b := f.browser()
	for _, r := range []struct{ method, path string }{{"GET", "/ui/"}, {"GET", "/ui/signin"}, {"POST", "/ui/signin"},
		{"GET", "/ui/deployments/" + f.waiting}, {"GET", "/ui/events"}, {"POST", "/ui/deployments/" + f.waiting + "/approve"}} {
		var form url.Values
		if r.method == "POST" {
			form = url.Values{"token": {"x"}}
		}
		a := b.do(r.method, r.path, form, nil)
		if a.StatusCode != http.StatusServiceUnavailable || !hasID(a.body, "error") || !strings.Contains(a.body, "needs a tokens file") ||
			strings.Contains(a.body, "<form") {
			t.Errorf("%s %s without a tokens file = %d; want only the page saying it needs one:\n%s", r.method, r.path, a.StatusCode, a.body)
		}
		checkHeaders(t, r.path, a)
	}
	if len(f.deployment(f.waiting).Approvals) != 0 {
		t.Error("a post without a tokens file approved")
	}
	// The static files are still served (the page's style).
	if a := b.get("/ui/static/style.css"); a.StatusCode != http.StatusOK {
		t.Errorf("style sheet without a tokens file = %d", a.StatusCode)
	}
}

func TestEventsStreamTransitions(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	b := f.browser()
	b.signIn("vera")
	page := b.get("/ui/deployments/" + f.waiting)
	index := regexp.MustCompile(`data-index="(\d+)"`).FindStringSubmatch(page.body)
	if index == nil || index[1] == "0" {
		t.Fatalf("the page names no applied index:\n%s", page.body)
	}
	// Signed out, no stream.
	if a := f.browser().get("/ui/events"); a.StatusCode != http.StatusSeeOther {
		t.Errorf("signed-out GET /ui/events = %d; want 303", a.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), clustertest.Timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/ui/events?after="+index[1], nil)
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /ui/events = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("event stream's CSP = %q", csp)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	// The stream has begun (its first comment) before the transition, so
	// the event comes live, not from a replay of what the page showed.
	if l := <-lines; !strings.HasPrefix(l, ": stream of node1") {
		t.Fatalf("first line %q", l)
	}
	if _, err := f.c.Apply(&fsm.Reject{ID: f.waiting, Identity: "bob", Groups: []string{"devops-team"}, Time: t0, Reason: "no"}); err != nil {
		t.Fatal(err)
	}
	var event []string
	for l := range lines {
		if strings.HasPrefix(l, "event: ") || strings.HasPrefix(l, "data: ") || strings.HasPrefix(l, "id: ") {
			event = append(event, l)
		}
		if l == "" && len(event) > 0 {
			break
		}
	}
	got := strings.Join(event, "\n")
	if !strings.Contains(got, "event: transition") || !strings.Contains(got, `"deploymentId":"`+f.waiting+`"`) || !strings.Contains(got, `"to":"Rejected"`) {
		t.Errorf("event = %q; want the transition of %s to Rejected (and none of those before the page)", got, f.waiting)
	}
	cancel()
	_, _ = io.Copy(io.Discard, resp.Body)
	f.checkNoTokens()
}

// TestVendoredHTMX: the embedded htmx is the file the vendor README names.
func TestVendoredHTMX(t *testing.T) {
	js, err := staticFiles.ReadFile("static/vendor/htmx.min.js")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("static/vendor/README.md")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(js)
	if !strings.Contains(string(readme), hex.EncodeToString(sum[:])) {
		t.Errorf("static/vendor/README.md does not name the sha256 %x of htmx.min.js", sum)
	}
}

func TestClusterPageShowsAnUnreachableMember(t *testing.T) {
	f := newFixture(t, fixtureOptions{deadPeer: true})
	b := f.browser()
	b.signIn("vera")
	var page *answer
	clustertest.WaitFor(t, "both members on the cluster page", func() error {
		page = b.get("/ui/cluster")
		if !strings.Contains(page.body, `tr data-member="node2"`) {
			return errors.New("node2 is not listed yet")
		}
		return nil
	})
	row := regexp.MustCompile(`(?s)<tr data-member="node2">.*?</tr>\s*<tr class="problem">.*?</tr>`).FindString(page.body)
	if !strings.Contains(row, "unreachable") || !strings.Contains(row, `class="ready">unknown<`) {
		t.Errorf("node2's row = %q; want it unreachable, readiness unknown", row)
	}
	if !strings.Contains(page.body, `tr data-member="node1"`) || !strings.Contains(page.body, `class="ready">ready<`) {
		t.Errorf("node1 is not shown ready:\n%s", page.body)
	}
	// The page names node2's dashboard for live.js, in the meta and the CSP.
	addr := f.deadAddr
	if !strings.Contains(page.body, `<meta name="honua-nodes" content="http://`+addr+`">`) ||
		!strings.Contains(page.Header.Get("Content-Security-Policy"), "connect-src 'self' http://"+addr+";") {
		t.Errorf("node2 (%s) is not in the page's honua-nodes and CSP (%q)", addr, page.Header.Get("Content-Security-Policy"))
	}
}
