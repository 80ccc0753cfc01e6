package ui

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

func TestActionNeedsTheSessionsCSRF(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	b := f.browser()
	b.signIn("alice")
	path := "/ui/deployments/" + f.waiting + "/approve"
	for name, form := range map[string]url.Values{
		"missing":       {"comment": {"ok"}},
		"wrong":         {"comment": {"ok"}, "csrf": {strings.Repeat("a", 64)}},
		"another token": {"comment": {"ok"}, "csrf": {csrfFor(f.tokens["bob"])}},
	} {
		a := b.do("POST", path, form, nil)
		if a.StatusCode != http.StatusForbidden || !hasID(a.body, "error") {
			t.Errorf("approve with %s csrf = %d; want 403 with #error", name, a.StatusCode)
		}
	}
	if n := len(f.deployment(f.waiting).Approvals); n != 0 {
		t.Errorf("%d approvals after refused posts; want 0", n)
	}
	f.checkNoTokens()
}

func TestCrossOriginPostRefused(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	b := f.browser()
	b.signIn("alice")
	csrf := b.csrfOf("/ui/deployments/" + f.waiting)
	path := "/ui/deployments/" + f.waiting + "/approve"
	for name, hdr := range map[string]map[string]string{
		"Sec-Fetch-Site cross-site": {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
		"Origin of another site":    {"Sec-Fetch-Site": "", "Origin": "https://evil.example"},
	} {
		a := b.do("POST", path, url.Values{"csrf": {csrf}}, hdr)
		if a.StatusCode != http.StatusForbidden {
			t.Errorf("approve from %s = %d; want 403", name, a.StatusCode)
		}
	}
	if n := len(f.deployment(f.waiting).Approvals); n != 0 {
		t.Errorf("%d approvals after cross-origin posts; want 0", n)
	}
	// Signing in from another site is refused too.
	form := b.get("/ui/signin")
	a := b.do("POST", "/ui/signin", url.Values{"token": {f.tokens["alice"]}, "csrf": {formValue(t, form.body, "csrf")}},
		map[string]string{"Sec-Fetch-Site": "cross-site"})
	if a.StatusCode != http.StatusForbidden || sessionCookieOf(a) != nil {
		t.Errorf("cross-site sign-in = %d; want 403 and no session", a.StatusCode)
	}
}

func TestViewerSeesNoActionsAndIsRefused(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	b := f.browser()
	b.signIn("vera")
	page := b.get("/ui/deployments/" + f.waiting)
	if page.StatusCode != http.StatusOK || !strings.Contains(page.body, `id="deployment" data-state="AwaitingApproval"`) {
		t.Fatalf("viewer's deployment page = %d:\n%s", page.StatusCode, page.body)
	}
	for _, id := range []string{"approve", "reject"} {
		if hasID(page.body, id) {
			t.Errorf("a viewer sees form#%s", id)
		}
	}
	env := b.get("/ui/environments/production")
	if hasID(env.body, "sync") || strings.Contains(env.body, "Roll back to this") {
		t.Error("a viewer sees the environment's actions")
	}
	// Posting anyway: the API's 403, shown as #error.
	csrf := formValue(t, page.body, "csrf")
	a := b.do("POST", "/ui/deployments/"+f.waiting+"/approve", url.Values{"csrf": {csrf}, "comment": {"sneaky"}}, nil)
	if a.StatusCode != http.StatusForbidden || !hasID(a.body, "error") || !strings.Contains(a.body, "needs the approver role") {
		t.Errorf("viewer's approve = %d; want 403 with the API's reason in #error:\n%s", a.StatusCode, a.body)
	}
	if n := len(f.deployment(f.waiting).Approvals); n != 0 {
		t.Errorf("%d approvals after a viewer's post; want 0", n)
	}
	// An approver outside the approval's groups sees no buttons either.
	o := f.browser()
	o.signIn("olga")
	if p := o.get("/ui/deployments/" + f.waiting); hasID(p.body, "approve") || hasID(p.body, "reject") {
		t.Error("an approver outside devops-team sees the approve and reject forms")
	}
}

func TestApproveThroughTheDashboard(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	b := f.browser()
	b.signIn("alice")
	page := b.get("/ui/deployments/" + f.waiting)
	for _, want := range []string{`<form id="approve"`, `<label for="comment">`, `<textarea id="comment" name="comment"`, `>Approve</button>`,
		`<form id="reject"`, `<label for="reason">`, `<textarea id="reason" name="reason" required`, `>Reject</button>`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("approver's deployment page lacks %s", want)
		}
	}
	a := b.do("POST", "/ui/deployments/"+f.waiting+"/approve", url.Values{"csrf": {formValue(t, page.body, "csrf")}, "comment": {"looks right"}}, nil)
	if a.StatusCode != http.StatusSeeOther || !strings.HasPrefix(a.Header.Get("Location"), "/ui/deployments/"+f.waiting) {
		t.Fatalf("approve = %d to %q; want 303 back to the deployment:\n%s", a.StatusCode, a.Header.Get("Location"), a.body)
	}
	d := f.deployment(f.waiting)
	if len(d.Approvals) != 1 || d.Approvals[0].Identity != "alice" || d.Approvals[0].Comment != "looks right" {
		t.Fatalf("approvals = %+v; want alice's with her comment", d.Approvals)
	}
	after := b.get(a.Header.Get("Location"))
	if !hasID(after.body, "flash") || !strings.Contains(after.body, "<td>alice</td>") || hasID(after.body, "approve") {
		t.Errorf("after approving, the page lacks #flash or alice's row, or still offers Approve:\n%s", after.body)
	}

	// A rejection needs a reason; with one, the state changes.
	c := f.browser()
	c.signIn("bob")
	csrf := c.csrfOf("/ui/deployments/" + f.waiting)
	if a := c.do("POST", "/ui/deployments/"+f.waiting+"/reject", url.Values{"csrf": {csrf}, "reason": {"  "}}, nil); a.StatusCode != http.StatusBadRequest || !hasID(a.body, "error") {
		t.Errorf("reject without reason = %d; want 400 with #error", a.StatusCode)
	}
	if a := c.do("POST", "/ui/deployments/"+f.waiting+"/reject", url.Values{"csrf": {csrf}, "reason": {"wrong window"}}, nil); a.StatusCode != http.StatusSeeOther {
		t.Fatalf("reject = %d:\n%s", a.StatusCode, a.body)
	}
	if st := f.deployment(f.waiting).State; st != fsm.StateRejected {
		t.Errorf("state after reject = %s; want Rejected", st)
	}
	// Approving now (carol had not): the API's 409, on the deployment
	// page. (alice's approval again would be a duplicate, answered as
	// such.)
	k := f.browser()
	k.signIn("carol")
	if p := k.get("/ui/deployments/" + f.waiting); hasID(p.body, "approve") {
		t.Error("a rejected deployment offers Approve")
	}
	a = k.do("POST", "/ui/deployments/"+f.waiting+"/approve", url.Values{"csrf": {csrfFor(f.tokens["carol"])}}, nil)
	if a.StatusCode != http.StatusConflict || !hasID(a.body, "error") || !strings.Contains(a.body, `data-state="Rejected"`) {
		t.Errorf("approve of a rejected deployment = %d; want 409 with #error on its page:\n%s", a.StatusCode, a.body)
	}
	f.checkNoTokens()
}

func TestFormBounds(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	b := f.browser()
	b.signIn("alice")
	csrf := b.csrfOf("/ui/deployments/" + f.waiting)
	a := b.do("POST", "/ui/deployments/"+f.waiting+"/approve", url.Values{"csrf": {csrf}, "comment": {strings.Repeat("x", maxForm)}}, nil)
	if a.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a form over %d bytes = %d; want 413", maxForm, a.StatusCode)
	}
	a = b.do("POST", "/ui/deployments/"+f.waiting+"/approve", url.Values{"csrf": {csrf}, "comment": {strings.Repeat("x", maxText+1)}}, nil)
	if a.StatusCode != http.StatusBadRequest || !hasID(a.body, "error") {
		t.Errorf("a comment over %d bytes = %d; want 400", maxText, a.StatusCode)
	}
	if n := len(f.deployment(f.waiting).Approvals); n != 0 {
		t.Errorf("%d approvals after refused forms; want 0", n)
	}
}
