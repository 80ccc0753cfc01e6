package dashboard

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/test/harness"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// TestDashboard drives the dashboard of a three-node cluster from a
// browser, as its users would. The steps share the cluster and run in
// order; a step that needs an earlier one skips, saying so, when that one
// failed.
//
//	setup  production's first deployment approved with honuactl; then a
//	       breaking change (sample-points' SRID 4326 → 3857) waits for two
//	       approvals
//	a      alice signs in on a follower, finds it on the overview ("0 of 2
//	       approvals"), reads the SRID change in the plan, approves it
//	b      bob approves with honuactl; alice's page shows the deployment
//	       leave AwaitingApproval and complete, without a reload
//	c      carol, a viewer, sees no action on any page and gets 403 for
//	       every action she posts anyway; nothing changes
//	g      axe-core finds no serious or critical violation on any page; Tab
//	       reaches the approve button (and the documentation's screenshots)
//	reject alice rejects the next change with a reason
//	e      alice rolls production back to its first deployment from the
//	       environment page, through the confirmation
//	f      sign-out: the cookie (HttpOnly, SameSite=Strict, Secure) goes,
//	       and /ui/ asks to sign in again
//	d      the leader dies under an open page: the page says so, moves to
//	       another node, and shows a later deployment live
func TestDashboard(t *testing.T) {
	skipIfShort(t)
	needChromium(t)
	start := time.Now()
	f := newFixture(t)
	b := startBrowser(t, f.certs()...)
	f.start()

	first := f.repo.Head()
	prod0 := f.deploymentOf(t, "production", first)
	f.waitFor(t, prod0, "AwaitingApproval")
	f.approve(t, "alice", prod0)
	f.approve(t, "bob", prod0)
	f.waitFor(t, prod0, "Completed")
	mercator := sampleconfig.Layer{ID: sampleconfig.Points.ID, SRID: 3857}
	second := f.commit(t, "production", "sample-points in web mercator", mercator)
	prod1 := f.deploymentOf(t, "production", second)
	f.waitFor(t, prod1, "AwaitingApproval")
	t.Logf("cluster up, %s waiting for approval, after %v", prod1, time.Since(start).Round(time.Millisecond))

	followers := f.followers(t)
	aliceBase, carolBase := followers[0].URL(), followers[len(followers)-1].URL()
	alice := b.newPage(t, "alice")

	t.Run("a approve in the browser", func(t *testing.T) {
		alice.captureOnFailure(t)
		alice.signIn(t, aliceBase, f.tokens["alice"])
		if who := alice.text(t, "#whoami"); who != "alice (approver)" {
			t.Errorf("#whoami = %q; want %q", who, "alice (approver)")
		}
		card := `.env-card[data-env="production"]`
		alice.waitJS(t, "production's card to show the waiting deployment", `document.querySelector('`+card+` .waiting a') !== null`)
		if got := alice.text(t, card+" .waiting"); !strings.Contains(got, "0 of 2 approvals") {
			t.Errorf("production's card says %q; want %q", got, "0 of 2 approvals")
		}
		if got := alice.text(t, card+" .risk"); got != "high" {
			t.Errorf("production's card .risk = %q; want the newest deployment's risk, high (a breaking change)", got)
		}
		if got := alice.text(t, card+" .deployed-commit"); !strings.Contains(got, first[:12]) ||
			!strings.Contains(got, "development and production serve sample-points") {
			t.Errorf("production's card .deployed-commit = %q; want the deployed %.12s and its subject", got, first)
		}
		alice.click(t, card+" .waiting a")
		alice.waitJS(t, "the waiting deployment's page", `location.pathname === "/ui/deployments/`+prod1+`" && document.querySelector("#deployment") !== null`)
		if got := alice.attr(t, "#deployment", "data-state"); got != "AwaitingApproval" {
			t.Errorf("#deployment[data-state] = %q; want AwaitingApproval", got)
		}
		if got := alice.text(t, "#state"); got != "AwaitingApproval" {
			t.Errorf("#state = %q; want AwaitingApproval", got)
		}

		// The diff: the breaking SRID change, as a field diff and a
		// geospatial callout.
		srid := `#plan .change.breaking .field-diff[data-field="srid"]`
		if from, to := alice.text(t, srid+" .from"), alice.text(t, srid+" .to"); from != "4326" || to != "3857" {
			t.Errorf("%s shows %q → %q; want 4326 → 3857", srid, from, to)
		}
		if got := alice.text(t, "#plan .geo-srid"); !strings.Contains(got, "SRID 4326 → 3857") {
			t.Errorf("#plan .geo-srid = %q; want the callout SRID 4326 → 3857", got)
		}

		const comment = "SRID change read in the dashboard"
		alice.typeInto(t, "form#approve textarea#comment", comment)
		alice.click(t, "form#approve button")
		alice.waitJS(t, "#flash after approving", `location.pathname === "/ui/deployments/`+prod1+`" && (document.querySelector("#flash")?.textContent ?? "").trim() !== ""`)
		t.Logf("flash: %q", alice.text(t, "#flash"))
		d := f.deployment(t, prod1)
		if d.State != api.StateAwaitingApproval || len(d.Approvals) != 1 || d.Approvals[0].Identity != "alice" || d.Approvals[0].Comment != comment {
			t.Errorf("after alice's approval in the browser %s is %s with approvals %+v; want AwaitingApproval, alice's with comment %q",
				prod1, d.State, d.Approvals, comment)
		}
		// The page the action lands on shows the action: a follower's
		// dashboard must not render what it has not applied yet.
		if got := alice.text(t, "#approvals"); !strings.Contains(got, "alice") || !strings.Contains(got, comment) {
			t.Errorf("#approvals = %q right after %q; want alice's approval with its comment: the page is older than the approval it announces, and an approval that leaves the deployment waiting is no transition, so no live update follows",
				got, alice.text(t, "#flash"))
		}
		alice.checkProblems(t)
	})

	t.Run("b approval from honuactl shows live", func(t *testing.T) {
		if d := f.deployment(t, prod1); len(d.Approvals) != 1 || alice.count(t, "#deployment") != 1 {
			t.Skipf("needs alice's approval from step a and her page on %s; %s has approvals %+v", prod1, prod1, d.Approvals)
		}
		alice.captureOnFailure(t)
		alice.waitJS(t, "#live to be live", `document.querySelector("#live")?.dataset.state === "live"`)
		alice.mark(t)
		f.approve(t, "bob", prod1)
		left := alice.waitJS(t, "the deployment to leave AwaitingApproval", `document.querySelector("#deployment") !== null && document.querySelector("#deployment").dataset.state !== "AwaitingApproval"`)
		t.Logf("LIVE UPDATE: the page showed %s leave AwaitingApproval %v after honuactl approve returned",
			prod1, left.Round(time.Millisecond))
		done := alice.waitJS(t, "the deployment to complete", `document.querySelector("#deployment")?.dataset.state === "Completed"`)
		t.Logf("the page showed %s Completed %v after that", prod1, done.Round(time.Millisecond))
		alice.checkMarked(t)
		if got := alice.text(t, "#approvals"); !strings.Contains(got, "bob") {
			t.Errorf("#approvals = %q; want bob's approval too", got)
		}
		alice.checkProblems(t)
	})
	f.approveAll(t, prod1, "alice", "bob") // if a or b failed
	f.waitFor(t, prod1, "Completed")

	retitled := sampleconfig.Layer{ID: sampleconfig.Points.ID, SRID: 4326, Title: "Sample points, back in WGS 84"}
	third := f.commit(t, "production", "sample-points back in WGS 84", retitled)
	prod2 := f.deploymentOf(t, "production", third)
	f.waitFor(t, prod2, "AwaitingApproval")

	t.Run("c viewer has no actions", func(t *testing.T) {
		carol := b.newPage(t, "carol")
		carol.captureOnFailure(t)
		carol.signIn(t, carolBase, f.tokens["carol"])
		if who := carol.text(t, "#whoami"); who != "carol (viewer)" {
			t.Errorf("#whoami = %q; want %q", who, "carol (viewer)")
		}
		const actions = `form#approve, form#reject, form#sync, form#rollback, a[href*="/rollback"]`
		for _, path := range []string{"/ui/", "/ui/deployments/" + prod2, "/ui/environments/production",
			"/ui/environments/production/rollback?to=" + prod0, "/ui/cluster"} {
			carol.open(t, carolBase+path)
			carol.waitJS(t, path, `document.querySelector("#main") !== null || document.querySelector("#error") !== null`)
			if n := carol.count(t, actions); n != 0 {
				t.Errorf("%s shows the viewer %d actions (%s)", path, n, carol.html(t, actions))
			}
		}
		// Posted anyway, from her signed-in page with a valid CSRF token:
		// each is refused, and nothing changes.
		carol.open(t, carolBase+"/ui/deployments/"+prod2)
		posts := []struct{ path, fields string }{
			{"/ui/deployments/" + prod2 + "/approve", `{comment: "a viewer tries"}`},
			{"/ui/deployments/" + prod2 + "/reject", `{reason: "a viewer tries"}`},
			{"/ui/environments/production/sync", `{}`},
			{"/ui/environments/production/rollback", `{to: "` + prod0 + `"}`},
		}
		for _, p := range posts {
			if got := carol.post(t, p.path, p.fields); got != 403 {
				t.Errorf("the viewer's POST %s = %d; want 403", p.path, got)
			}
		}
		if d := f.deployment(t, prod2); d.State != api.StateAwaitingApproval || len(d.Approvals) != 0 {
			t.Errorf("after the viewer's posts %s is %s with approvals %+v; want AwaitingApproval, none", prod2, d.State, d.Approvals)
		}
		var list []api.DeploymentSummary
		f.ctlJSON(t, "admin", &list, "deployments", "--env", "production")
		if len(list) == 0 || list[0].ID != prod2 {
			t.Errorf("production's newest deployment after the viewer's posts: %v; want still %s", ids(list), prod2)
		}
		carol.takeProblems() // the refused fetches log 403s; nothing else ran

		// An approver's POST with a wrong CSRF field is refused too.
		alice.open(t, aliceBase+"/ui/deployments/"+prod2)
		if got := alice.postCSRF(t, "/ui/deployments/"+prod2+"/approve", `{comment: "forged"}`, strings.Repeat("0", 64)); got != 403 {
			t.Errorf("an approver's POST approve with a wrong csrf field = %d; want 403", got)
		}
		if got := alice.postCSRF(t, "/ui/deployments/"+prod2+"/approve", `{comment: "forged"}`, ""); got != 403 {
			t.Errorf("an approver's POST approve without a csrf field = %d; want 403", got)
		}
		if d := f.deployment(t, prod2); len(d.Approvals) != 0 {
			t.Errorf("after posts with a wrong csrf field %s has approvals %+v; want none", prod2, d.Approvals)
		}
		alice.takeProblems()
	})

	t.Run("g accessibility and keyboard", func(t *testing.T) {
		alice.captureOnFailure(t)
		pages := []struct{ name, path, shot string }{
			{"overview", "/ui/", "overview.png"},
			{"deployment", "/ui/deployments/" + prod2, "deployment.png"},
			{"environment", "/ui/environments/production", "environment.png"},
			{"rollback confirmation", "/ui/environments/production/rollback?to=" + prod0, ""},
			{"cluster", "/ui/cluster", "cluster.png"},
		}
		for _, pg := range pages {
			alice.open(t, aliceBase+pg.path)
			alice.waitJS(t, pg.name, `document.querySelector("#main") !== null && document.querySelector("#live")?.dataset.state === "live"`)
			if pg.shot != "" {
				alice.docScreenshot(t, pg.shot)
			}
			if pg.name == "deployment" {
				alice.docScreenshotAt(t, "deployment-plan.png", "#plan")
			}
			alice.axe(t, pg.name)
		}
		anon := b.newPage(t, "signed-out")
		anon.captureOnFailure(t)
		anon.open(t, aliceBase+"/ui/signin")
		anon.waitJS(t, "the sign-in form", `document.querySelector("form#signin") !== null`)
		anon.docScreenshot(t, "signin.png")
		anon.axe(t, "sign-in")

		alice.open(t, aliceBase+"/ui/deployments/"+prod2)
		alice.tabTo(t, "form#approve button")
		alice.checkProblems(t)
		anon.checkProblems(t)
	})

	t.Run("reject in the browser", func(t *testing.T) {
		alice.captureOnFailure(t)
		alice.open(t, aliceBase+"/ui/deployments/"+prod2)
		const reason = "keep web mercator this quarter"
		alice.typeInto(t, "form#reject textarea#reason", reason)
		alice.click(t, "form#reject button")
		alice.waitJS(t, "#flash after rejecting", `(document.querySelector("#flash")?.textContent ?? "").trim() !== ""`)
		d := f.waitFor(t, prod2, "Rejected")
		if d.Rejection == nil || d.Rejection.Identity != "alice" || d.Rejection.Reason != reason {
			t.Errorf("%s rejected with %+v; want alice's rejection, reason %q", prod2, d.Rejection, reason)
		}
		alice.checkProblems(t)
	})
	if d := f.deployment(t, prod2); d.State == api.StateAwaitingApproval {
		if res := f.ctl(t, "bob", "reject", prod2, "--reason", "the browser's rejection failed"); res.code != 0 {
			t.Fatal(res)
		}
	}

	t.Run("e rollback from the browser", func(t *testing.T) {
		alice.captureOnFailure(t)
		alice.open(t, aliceBase+"/ui/environments/production")
		row := `#history tr[data-deployment="` + prod0 + `"]`
		alice.waitJS(t, "the first deployment's row", `document.querySelector('`+row+`') !== null`)
		link := row + ` a[href*="/rollback"]`
		if got := alice.text(t, link); got != "Roll back to this" {
			t.Errorf("%s = %q; want %q", link, got, "Roll back to this")
		}
		alice.click(t, link)
		alice.waitJS(t, "the confirmation", `document.querySelector("#rollback-current") !== null && document.querySelector("#rollback-target") !== null`)
		if got := alice.text(t, "#rollback-current"); !strings.Contains(got, second[:12]) {
			t.Errorf("#rollback-current = %q; want the deployed commit %.12s", got, second)
		}
		if got := alice.text(t, "#rollback-target"); !strings.Contains(got, first[:12]) {
			t.Errorf("#rollback-target = %q; want the target commit %.12s", got, first)
		}
		alice.click(t, "form#rollback button")
		alice.waitJS(t, "#flash after rolling back", `(document.querySelector("#flash")?.textContent ?? "").trim() !== ""`)
		var rbID string
		err := harness.Poll(waitTimeout, "a rollback of production to "+prod0, func() error {
			var list []api.DeploymentSummary
			f.ctlJSON(t, "admin", &list, "deployments", "--env", "production")
			if len(list) == 0 || list[0].Kind != string(api.KindRollback) {
				return fmt.Errorf("newest first: %v", ids(list))
			}
			rbID = list[0].ID
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		rb := f.deployment(t, rbID)
		if rb.Commit != first || rb.RollbackTo != prod0 || rb.Initiator != "alice" {
			t.Errorf("rollback %s: commit %.12s, to %q, by %q; want %.12s, %s, alice", rb.ID, rb.Commit, rb.RollbackTo, rb.Initiator, first, prod0)
		}
		alice.waitJS(t, "the page to show the rollback "+rb.ID,
			`location.pathname.endsWith("/`+rb.ID+`") || document.querySelector('[data-deployment="`+rb.ID+`"]') !== null`)
		f.waitFor(t, rb.ID, "Completed")
		alice.checkProblems(t)
	})

	t.Run("f sign out", func(t *testing.T) {
		p := b.newPage(t, "alice-signing-out")
		p.captureOnFailure(t)
		p.signIn(t, aliceBase, f.tokens["alice"])
		if u := p.url(t); strings.Contains(u, f.tokens["alice"]) {
			t.Errorf("the token is in the page's URL %s", u)
		}
		c := p.cookie(t, aliceBase)
		if c == nil {
			t.Fatalf("no honua_session cookie after signing in")
		}
		if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || !c.Secure || c.Path != "/ui/" {
			t.Errorf("honua_session: HttpOnly %v, SameSite %q, Secure %v, Path %q; want HttpOnly, Strict, Secure (TLS), /ui/",
				c.HTTPOnly, c.SameSite, c.Secure, c.Path)
		}
		if seen := eval[bool](t, p, `document.cookie.includes("honua_session")`); seen {
			t.Errorf("the page's scripts can read honua_session")
		}
		p.click(t, "form#signout button")
		p.waitJS(t, "the sign-in page after signing out", `location.pathname === "/ui/signin"`)
		if c := p.cookie(t, aliceBase); c != nil && c.Value != "" {
			t.Errorf("honua_session is still set after signing out: %+v", c)
		}
		p.open(t, aliceBase+"/ui/")
		p.waitJS(t, "/ui/ to send a signed-out browser to sign in",
			`location.pathname === "/ui/signin" && new URLSearchParams(location.search).get("next") === "/ui/"`)
		p.checkProblems(t)
	})

	t.Run("d leader dies under an open page", func(t *testing.T) {
		alice.captureOnFailure(t)
		leader := f.waitForHealthy()
		alice.open(t, leader.URL()+"/ui/")
		alice.waitJS(t, "the overview on the leader, live", `document.body.dataset.node === "`+leader.ID()+`" && document.querySelector("#live")?.dataset.state === "live"`)
		alice.watchLive(t)
		leaderURL, err := url.Parse(leader.URL())
		if err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		leader.Kill()
		t.Logf("killed the leader %s", leader)

		var lost liveEvent
		err = harness.Poll(waitTimeout, "#live[data-state=lost]", func() error {
			for _, e := range alice.liveEvents() {
				if e.State == "lost" {
					lost = e
					return nil
				}
			}
			return fmt.Errorf("#live went through %v", alice.liveEvents())
		})
		if err != nil {
			t.Fatalf("%v\n%s", err, alice.describe())
		}
		t.Logf("the page said %q %v after the kill", lost.Text, lost.At.Sub(killed).Round(time.Millisecond))
		if !strings.Contains(lost.Text, "Lost contact with "+leader.ID()) {
			t.Errorf("#live lost says %q; want it to name the node: Lost contact with %s", lost.Text, leader.ID())
		}
		for _, n := range f.c.Nodes() {
			if n != leader && !strings.Contains(lost.Text, n.URL()) {
				t.Errorf("#live lost says %q; want it to point to %s's dashboard at %s", lost.Text, n.ID(), n.URL())
			}
		}
		alice.waitJS(t, "the page to move to another node, live",
			`location.port !== "`+leaderURL.Port()+`" && document.body.dataset.node !== "`+leader.ID()+`" && document.querySelector("#live")?.dataset.state === "live"`)
		t.Logf("the page moved to %s (node %s), live, %v after the kill", alice.url(t),
			alice.attr(t, "body", "data-node"), time.Since(killed).Round(time.Millisecond))

		f.waitForHealthy()
		alice.mark(t)
		next := f.commit(t, "development", "development gains the roads layer", sampleconfig.Points, sampleconfig.Roads)
		dev := f.deploymentOf(t, "development", next)
		f.waitFor(t, dev, "Completed")
		card := `.env-card[data-env="development"] .deployed-commit`
		shown := alice.waitJS(t, "development's card to show the new commit",
			`(document.querySelector('`+card+`')?.textContent ?? "").includes("`+next[:12]+`")`)
		t.Logf("LIVE UPDATE after failover: the overview showed development's %.12s %v after honuactl wait saw it Completed",
			next, shown.Round(time.Millisecond))
		alice.checkMarked(t)
		alice.checkProblems(t)
	})
	t.Logf("TestDashboard took %v", time.Since(start).Round(time.Millisecond))
}

// ids returns the ids of the deployments, for a failure message.
func ids(ds []api.DeploymentSummary) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID+" ("+d.Kind+", "+string(d.State)+")")
	}
	return out
}
