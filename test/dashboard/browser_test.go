package dashboard

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/honua-io/honua-gitops/test/harness"
)

// viewportWidth and viewportHeight are the size of every page, fixed so
// that the documentation's screenshots do not depend on the machine.
const viewportWidth, viewportHeight = 1280, 800

// browser is one headless chromium process. Each user gets a page of
// their own in a browser context of their own (their own cookies).
type browser struct {
	ctx context.Context // the first tab's; cancelling it ends chromium
}

// startBrowser starts Debian's chromium headless, trusting only the given
// certificates' keys despite their unknown CA (the nodes' certificates of
// the cluster's test CA), or skips t loudly if chromium is not installed.
func startBrowser(t *testing.T, certFiles ...string) *browser {
	t.Helper()
	path := needChromium(t)
	var spkis []string
	for _, f := range certFiles {
		spkis = append(spkis, spkiHash(t, f))
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Certificate errors are ignored for these public keys only,
		// which chromium honours only with a --user-data-dir.
		chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(spkis, ",")),
		chromedp.UserDataDir(t.TempDir()),
	}
	// chromedp's goroutines may report an error as the browser ends: they
	// log into t only while it runs.
	var logMu sync.Mutex
	ended := false
	logf := func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		if !ended {
			t.Logf("chromedp: "+format, args...)
		}
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logf))
	// Registered after TempDir, so chromium has ended before its
	// directory is removed.
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		logMu.Lock()
		ended = true
		logMu.Unlock()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	version, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.userAgent`))
	if err != nil {
		t.Fatalf("ask chromium its version: %v", err)
	}
	t.Logf("chromium %s: %s", path, version)
	return &browser{ctx: ctx}
}

// spkiHash returns base64(sha256(SubjectPublicKeyInfo)) of the PEM
// certificate in file, as --ignore-certificate-errors-spki-list takes it.
func spkiHash(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s holds no PEM block", file)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// page is one tab in a browser context of its own: one user's session.
// It records what the page's scripts throw, the console's complaints
// about the Content-Security-Policy, and the states #live reports once
// watchLive is called.
type page struct {
	name string
	ctx  context.Context

	mu       sync.Mutex
	problems []string    // uncaught exceptions and CSP violations
	live     []liveEvent // #live's states, in order
}

// liveEvent is #live as a page saw it change.
type liveEvent struct {
	State string    `json:"state"`
	Text  string    `json:"text"`
	URL   string    `json:"url"`
	At    time.Time `json:"-"`
}

// liveReport is the function the page calls to report #live's state to
// the test (chromedp.ExposeFunc: it survives navigations).
const liveReport = "honuaTestLive"

// newPage opens a tab for name in a new browser context, with the fixed
// viewport. It lives until the test t ends.
func (b *browser) newPage(t *testing.T, name string) *page {
	t.Helper()
	p := &page{name: name}
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first Do creates the tab; it lives as long as ctx.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab for %s: %v", name, err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			p.note(m)
		}
	}()
	if err := chromedp.Do(ctx,
		chromedp.ExposeFunc(liveReport, func(_ context.Context, le liveEvent) (chromedp.Void, error) {
			le.At = time.Now()
			p.mu.Lock()
			p.live = append(p.live, le)
			p.mu.Unlock()
			return chromedp.Void{}, nil
		}),
		chromedp.EmulateViewport(viewportWidth, viewportHeight),
	); err != nil {
		t.Fatalf("set up %s's tab: %v", name, err)
	}
	p.ctx = ctx
	return p
}

// note records a console message that is an exception thrown by the
// page's scripts or a violation of its Content-Security-Policy.
func (p *page) note(m chromedp.ConsoleMessage) {
	var problem string
	switch {
	case m.IsException():
		problem = fmt.Sprintf("exception at %s:%d: %s", m.URL, m.Line+1, m.Text)
	case strings.Contains(m.Text, "Content Security Policy"):
		problem = fmt.Sprintf("CSP violation at %s: %s", m.URL, m.Text)
	default:
		return
	}
	p.mu.Lock()
	p.problems = append(p.problems, problem)
	p.mu.Unlock()
}

// takeProblems returns the problems recorded since the last call.
func (p *page) takeProblems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.problems
	p.problems = nil
	return out
}

// checkProblems fails t for each exception thrown and CSP violation
// reported in the page since the last check.
func (p *page) checkProblems(t *testing.T) {
	t.Helper()
	for _, pr := range p.takeProblems() {
		t.Errorf("%s's page: %s", p.name, pr)
	}
}

// run runs actions with a deadline, failing t with what on error.
func (p *page) run(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := p.try(waitTimeout, actions...); err != nil {
		t.Fatalf("%s: %s: %v\n%s", p.name, what, err, p.describe())
	}
}

// try runs actions with a deadline.
func (p *page) try(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// value runs action with a deadline and returns its value.
func value[T any](p *page, timeout time.Duration, action chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	return chromedp.Run(ctx, action)
}

// open navigates to url and waits for its load event.
func (p *page) open(t *testing.T, url string) {
	t.Helper()
	p.run(t, "open "+url, chromedp.Navigate(url))
}

// eval evaluates the JavaScript expression and returns its value.
func eval[T any](t *testing.T, p *page, expr string) T {
	t.Helper()
	v, err := value(p, waitTimeout, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: evaluate %s: %v\n%s", p.name, expr, err, p.describe())
	}
	return v
}

// evalAsync evaluates expr, a promise, and returns what it resolves to.
func evalAsync[T any](t *testing.T, p *page, expr string) T {
	t.Helper()
	v, err := value(p, waitTimeout, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: evaluate %s: %v\n%s", p.name, expr, err, p.describe())
	}
	return v
}

// waitJS waits until the JavaScript expression cond is true in the page,
// and returns how long that took. A page in the middle of a navigation
// does not answer; the wait goes on.
func (p *page) waitJS(t *testing.T, what, cond string) time.Duration {
	t.Helper()
	d, err := p.pollJS(waitTimeout, cond)
	if err != nil {
		t.Fatalf("%s: waiting for %s (%s): %v\n%s", p.name, what, cond, err, p.describe())
	}
	return d
}

// pollJS polls cond every 50ms until it is true or timeout passes.
func (p *page) pollJS(timeout time.Duration, cond string) (time.Duration, error) {
	start := time.Now()
	err := harness.Poll(timeout, cond, func() error {
		ok, err := value(p, 10*time.Second, chromedp.Evaluate[bool]("Boolean("+cond+")"))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("false")
		}
		return nil
	})
	return time.Since(start), err
}

// text returns the trimmed text of the first element matching the CSS
// selector, or "" when there is none.
func (p *page) text(t *testing.T, sel string) string {
	t.Helper()
	return eval[string](t, p, fmt.Sprintf(`(document.querySelector(%q)?.textContent ?? "").replace(/\s+/g, " ").trim()`, sel))
}

// count returns how many elements match the CSS selector.
func (p *page) count(t *testing.T, sel string) int {
	t.Helper()
	return eval[int](t, p, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

// url returns the page's address.
func (p *page) url(t *testing.T) string {
	t.Helper()
	return eval[string](t, p, `location.href`)
}

// describe returns what the page shows, for a failure message: its
// address, #live, #error, #flash and the start of #main's text. A page
// that does not answer says why.
func (p *page) describe() string {
	s, err := value(p, 10*time.Second, chromedp.Evaluate[string](`(() => {
		const txt = (sel, n) => (document.querySelector(sel)?.textContent ?? "(none)").replace(/\s+/g, " ").trim().slice(0, n);
		const live = document.querySelector("#live");
		return ["page " + location.href + " (node " + (document.body?.dataset.node ?? "?") + ")",
			"#live[data-state=" + (live?.dataset.state ?? "?") + "]: " + txt("#live", 200),
			"#error: " + txt("#error", 300), "#flash: " + txt("#flash", 200),
			"main: " + txt("main", 1200)].join("\n  ");
	})()`))
	if err != nil {
		return fmt.Sprintf("(%s's page did not answer: %v)", p.name, err)
	}
	return "  " + s
}

// click clicks the element matching the CSS selector (waiting for it to
// be visible first).
func (p *page) click(t *testing.T, sel string) {
	t.Helper()
	p.run(t, "click "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// typeInto types text into the field matching the CSS selector.
func (p *page) typeInto(t *testing.T, sel, text string) {
	t.Helper()
	p.run(t, "type into "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), text))
}

// signIn signs in through base's sign-in form with token and waits for
// the overview.
func (p *page) signIn(t *testing.T, base, token string) {
	t.Helper()
	p.open(t, base+"/ui/signin")
	p.typeInto(t, "form#signin input#token", token)
	p.click(t, "form#signin button")
	p.waitJS(t, "the overview after signing in", `location.pathname === "/ui/" && document.querySelector("#whoami") !== null`)
}

// watchLive makes the page report every change of #live (its state and
// text) to the test, until it navigates away.
func (p *page) watchLive(t *testing.T) {
	t.Helper()
	ok := eval[bool](t, p, `(() => {
		const live = document.querySelector("#live");
		if (!live) return false;
		const report = () => `+liveReport+`({state: live.dataset.state ?? "", text: live.textContent.replace(/\s+/g, " ").trim(), url: location.href});
		new MutationObserver(report).observe(live, {attributes: true, childList: true, subtree: true, characterData: true});
		report();
		return true;
	})()`)
	if !ok {
		t.Fatalf("%s's page has no #live\n%s", p.name, p.describe())
	}
}

// liveEvents returns the #live changes reported so far.
func (p *page) liveEvents() []liveEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]liveEvent(nil), p.live...)
}

// captureOnFailure saves a full-page screenshot and the HTML of the page
// when t fails: under t.ArtifactDir() with go test -artifacts, else in a
// directory under os.TempDir() whose path it logs.
func (p *page) captureOnFailure(t *testing.T) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		dir := artifactDir(t)
		png, err := value(p, waitTimeout, chromedp.FullScreenshot(90))
		if err != nil {
			t.Logf("screenshot of %s's page: %v", p.name, err)
		}
		html, err := value(p, waitTimeout, chromedp.OuterHTML(chromedp.CSS("html")))
		if err != nil {
			t.Logf("html of %s's page: %v", p.name, err)
		}
		base := filepath.Join(dir, p.name)
		for name, data := range map[string][]byte{base + ".png": png, base + ".html": []byte(html)} {
			if len(data) == 0 {
				continue
			}
			if err := os.WriteFile(name, data, 0o644); err != nil {
				t.Logf("save %s: %v", name, err)
				continue
			}
			t.Logf("saved %s's page as %s", p.name, name)
		}
	})
}

// artifactDir returns where a failing test saves its artifacts.
func artifactDir(t *testing.T) string {
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		return t.ArtifactDir()
	}
	dir, err := os.MkdirTemp("", "honua-dashboard-"+unsafeChars.ReplaceAllString(t.Name(), "_")+"-")
	if err != nil {
		t.Logf("artifacts: %v", err)
		return os.TempDir()
	}
	t.Logf("artifacts of %s in %s (go test -artifacts puts them under -outputdir)", t.Name(), dir)
	return dir
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// docScreenshot writes the page, at the fixed viewport, to name in the
// -dashboard.screenshots directory, if one was given.
func (p *page) docScreenshot(t *testing.T, name string) {
	t.Helper()
	p.docScreenshotAt(t, name, "")
}

// docScreenshotAt is docScreenshot with the page scrolled to the element
// matching the CSS selector (when not empty), and back after.
func (p *page) docScreenshotAt(t *testing.T, name, sel string) {
	t.Helper()
	if *screenshots == "" {
		return
	}
	if sel != "" {
		if !eval[bool](t, p, fmt.Sprintf(`(() => { const e = document.querySelector(%q); e?.scrollIntoView(); return e != null; })()`, sel)) {
			t.Fatalf("%s: no %s to scroll to for %s", p.name, sel, name)
		}
		defer eval[bool](t, p, `(window.scrollTo(0, 0), true)`)
	}
	if err := os.MkdirAll(*screenshots, 0o755); err != nil {
		t.Fatal(err)
	}
	p.run(t, "fix the viewport", chromedp.EmulateViewport(viewportWidth, viewportHeight))
	png, err := value(p, waitTimeout, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(*screenshots, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", path, len(png))
}
