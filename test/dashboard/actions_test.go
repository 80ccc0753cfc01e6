package dashboard

import (
	"context"
	"fmt"
	"os/exec"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// needChromium skips t, loudly, when chromium is not installed.
func needChromium(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("SKIPPING THE DASHBOARD'S BROWSER TESTS: no chromium on $PATH. " +
			"Install Debian's chromium package (apt-get install --no-install-recommends chromium); .ci/run does.")
	}
	return path
}

// attr returns the attribute name of the first element matching the CSS
// selector, or "" when there is none.
func (p *page) attr(t *testing.T, sel, name string) string {
	t.Helper()
	return eval[string](t, p, fmt.Sprintf(`document.querySelector(%q)?.getAttribute(%q) ?? ""`, sel, name))
}

// html returns the outer HTML of every element matching the CSS selector,
// for a failure message.
func (p *page) html(t *testing.T, sel string) string {
	t.Helper()
	return eval[string](t, p, fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.outerHTML.slice(0, 300)).join("\n")`, sel))
}

// mark sets a marker on the page's window that a navigation or a reload
// would drop.
func (p *page) mark(t *testing.T) {
	t.Helper()
	eval[bool](t, p, `(window.__honuaTestMarker = 1) === 1`)
}

// checkMarked fails t if the page lost the marker of mark: it was
// navigated or reloaded since.
func (p *page) checkMarked(t *testing.T) {
	t.Helper()
	if !eval[bool](t, p, `window.__honuaTestMarker === 1`) {
		t.Errorf("%s's page was reloaded or navigated (its marker is gone); want it updated in place", p.name)
	}
}

// post POSTs the form fields (a JavaScript object literal) to path from
// the page, as a form would, with the csrf field of the page's sign-out
// form and the session's cookie, and returns the answer's status.
func (p *page) post(t *testing.T, path, fields string) int {
	t.Helper()
	csrf := eval[string](t, p, `document.querySelector("form#signout [name=csrf]")?.value ?? ""`)
	if csrf == "" {
		t.Fatalf("%s's page has no csrf field in form#signout\n%s", p.name, p.describe())
	}
	return p.postCSRF(t, path, fields, csrf)
}

// postCSRF is post with the csrf field given (none when empty).
func (p *page) postCSRF(t *testing.T, path, fields, csrf string) int {
	t.Helper()
	return evalAsync[int](t, p, fmt.Sprintf(`(async () => {
		const body = new URLSearchParams(%s);
		if (%q !== "") body.set("csrf", %q);
		const r = await fetch(%q, {method: "POST", body, credentials: "same-origin", redirect: "manual"});
		return r.status;
	})()`, fields, csrf, csrf, path))
}

// cookie returns the browser's honua_session cookie for base's /ui/, or
// nil.
func (p *page) cookie(t *testing.T, base string) *network.Cookie {
	t.Helper()
	res, err := value(p, waitTimeout, func(ctx context.Context, tg *chromedp.Target) (*network.GetCookiesResult, error) {
		r, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/ui/"}})
		return &r, err
	})
	if err != nil {
		t.Fatalf("%s: get cookies: %v", p.name, err)
	}
	for _, c := range res.Cookies {
		if c.Name == "honua_session" {
			return c
		}
	}
	return nil
}
