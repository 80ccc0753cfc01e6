package ui

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// sessionCookieOf returns the honua_session cookie an answer sets, or nil.
func sessionCookieOf(a *answer) *http.Cookie {
	for _, c := range a.Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	return nil
}

func TestSignIn(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	b := f.browser()

	// Signed out, a page sends the browser to sign in, and back after.
	a := b.get("/ui/deployments/" + f.waiting)
	if a.StatusCode != http.StatusSeeOther || a.Header.Get("Location") != "/ui/signin?next="+url.QueryEscape("/ui/deployments/"+f.waiting) {
		t.Fatalf("signed-out GET = %d to %q; want 303 to the sign-in page with next", a.StatusCode, a.Header.Get("Location"))
	}
	form := b.get(a.Header.Get("Location"))
	for _, want := range []string{`<form id="signin"`, `<label for="token">`, `<input id="token" name="token" type="password"`, `>Sign in</button>`} {
		if !strings.Contains(form.body, want) {
			t.Errorf("sign-in page lacks %s", want)
		}
	}
	next := formValue(t, form.body, "next")
	if next != "/ui/deployments/"+f.waiting {
		t.Errorf("sign-in form's next = %q", next)
	}
	csrf := formValue(t, form.body, "csrf")

	// A bad token: 401, the API's reason, and no session.
	bad := b.do("POST", "/ui/signin", url.Values{"token": {"honua_not-a-token"}, "csrf": {csrf}, "next": {next}}, nil)
	if bad.StatusCode != http.StatusUnauthorized || !hasID(bad.body, "error") || !strings.Contains(bad.body, "unknown token") {
		t.Errorf("bad token = %d; want 401 with #error saying unknown token:\n%s", bad.StatusCode, bad.body)
	}
	if c := sessionCookieOf(bad); c != nil {
		t.Errorf("bad token set a session cookie %v", c)
	}
	if strings.Contains(bad.body, "honua_not-a-token") {
		t.Error("the page echoes the token given")
	}

	// The good token: a session cookie, and back to next.
	csrf = formValue(t, bad.body, "csrf")
	good := b.do("POST", "/ui/signin", url.Values{"token": {f.tokens["alice"]}, "csrf": {csrf}, "next": {next}}, nil)
	if good.StatusCode != http.StatusSeeOther || good.Header.Get("Location") != next {
		t.Fatalf("good token = %d to %q; want 303 to %s", good.StatusCode, good.Header.Get("Location"), next)
	}
	c := sessionCookieOf(good)
	if c == nil {
		t.Fatal("no session cookie after signing in")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/ui/" || c.Secure || c.MaxAge != 8*3600 {
		t.Errorf("session cookie = %+v; want HttpOnly, SameSite=Strict, Path=/ui/, not Secure over http, Max-Age 8h", c)
	}
	page := b.get(next)
	if page.StatusCode != http.StatusOK || textOf(page.body, "whoami") != "alice (approver)" {
		t.Errorf("signed in, GET %s = %d, #whoami %q", next, page.StatusCode, textOf(page.body, "whoami"))
	}
	for _, want := range []string{`<form id="signout"`, `id="live" data-state="connecting"`, `<a href="/ui/">Overview</a>`, `<a href="/ui/cluster">Cluster</a>`, `data-node="node1"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("page lacks %s", want)
		}
	}

	// Signing out needs the session's CSRF field, and clears the cookie.
	if a := b.do("POST", "/ui/signout", url.Values{}, nil); a.StatusCode != http.StatusForbidden {
		t.Errorf("sign-out without csrf = %d; want 403", a.StatusCode)
	}
	out := b.do("POST", "/ui/signout", url.Values{"csrf": {formValue(t, page.body, "csrf")}}, nil)
	if c := sessionCookieOf(out); out.StatusCode != http.StatusSeeOther || c == nil || c.MaxAge >= 0 {
		t.Errorf("sign-out = %d, cookie %v; want 303 clearing the cookie", out.StatusCode, c)
	}
	if a := b.get("/ui/"); a.StatusCode != http.StatusSeeOther {
		t.Errorf("after sign-out GET /ui/ = %d; want 303 to sign in", a.StatusCode)
	}
	f.checkNoTokens()
}

func TestSignInNeedsItsCSRFCookie(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	b := f.browser()
	csrf := formValue(t, b.get("/ui/signin").body, "csrf")
	for name, form := range map[string]url.Values{
		"missing": {"token": {f.tokens["alice"]}},
		"wrong":   {"token": {f.tokens["alice"]}, "csrf": {strings.Repeat("0", len(csrf))}},
	} {
		a := b.do("POST", "/ui/signin", form, nil)
		if a.StatusCode != http.StatusForbidden || sessionCookieOf(a) != nil {
			t.Errorf("sign-in with %s csrf = %d (cookie %v); want 403 and no session", name, a.StatusCode, sessionCookieOf(a))
		}
	}
	// Another browser's form (its cookie) does not match this one's.
	other := f.browser()
	a := other.do("POST", "/ui/signin", url.Values{"token": {f.tokens["alice"]}, "csrf": {csrf}}, nil)
	if a.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in with another browser's csrf = %d; want 403", a.StatusCode)
	}
}

func TestSessionCookieSecureUnderTLS(t *testing.T) {
	f := newFixture(t, fixtureOptions{tls: true})
	b := f.browser()
	form := b.get("/ui/signin")
	a := b.do("POST", "/ui/signin", url.Values{"token": {f.tokens["vera"]}, "csrf": {formValue(t, form.body, "csrf")}}, nil)
	c := sessionCookieOf(a)
	if a.StatusCode != http.StatusSeeOther || c == nil || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("sign-in over TLS = %d, cookie %+v; want a Secure, HttpOnly, SameSite=Strict cookie", a.StatusCode, c)
	}
	if page := b.get("/ui/"); page.StatusCode != http.StatusOK {
		t.Errorf("GET /ui/ over TLS = %d", page.StatusCode)
	}
}

func TestNextStaysInTheDashboard(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	for _, next := range []string{"https://evil.example/ui/", "//evil.example/ui/", "/\\evil.example", "/ui/../v1/status",
		"/ui/%2e%2e/v1/status", "/v1/status", "javascript:alert(1)", "/ui//evil.example", ""} {
		b := f.browser()
		form := b.get("/ui/signin?next=" + url.QueryEscape(next))
		if got := formValue(t, form.body, "next"); got != "/ui/" {
			t.Errorf("sign-in form of next=%q carries next %q; want /ui/", next, got)
		}
		a := b.do("POST", "/ui/signin", url.Values{"token": {f.tokens["vera"]}, "csrf": {formValue(t, form.body, "csrf")}, "next": {next}}, nil)
		if loc := a.Header.Get("Location"); a.StatusCode != http.StatusSeeOther || loc != "/ui/" {
			t.Errorf("sign-in with next=%q = %d to %q; want 303 to /ui/", next, a.StatusCode, loc)
		}
	}
	b := f.browser()
	form := b.get("/ui/signin")
	a := b.do("POST", "/ui/signin", url.Values{"token": {f.tokens["vera"]}, "csrf": {formValue(t, form.body, "csrf")},
		"next": {"/ui/environments/production?state=Completed"}}, nil)
	if loc := a.Header.Get("Location"); loc != "/ui/environments/production?state=Completed" {
		t.Errorf("sign-in with a dashboard next goes to %q", loc)
	}
}

func TestSafeNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/ui/", "/ui/"},
		{"/ui/cluster", "/ui/cluster"},
		{"/ui/deployments/production-3?done=approved", "/ui/deployments/production-3?done=approved"},
		{"/ui", "/ui/"},
		{"/", "/ui/"},
		{"//evil.example/ui/", "/ui/"},
		{"/ui/\\evil", "/ui/"},
		{"/ui/./cluster", "/ui/"},
		{"/ui/%2e%2e/", "/ui/"},
		{"/ui/%2F%2Fevil", "/ui/"},
		{"/ui/\x00", "/ui/"},
		{"/ui/\n", "/ui/"},
		{"https://x/ui/", "/ui/"},
	}
	for _, tt := range tests {
		if got := safeNext(tt.in); got != tt.want {
			t.Errorf("safeNext(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
