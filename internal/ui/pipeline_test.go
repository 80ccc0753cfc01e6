package ui

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/internal/cluster/clustertest"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// TestSyncAndRollBackThroughTheDashboard runs a real pipeline on a real
// repository: the sync and roll-back actions are shown to the tokens the
// policy's approver groups allow (GET /v1/environments/{env}/approvers),
// and work through the dashboard.
func TestSyncAndRollBackThroughTheDashboard(t *testing.T) {
	repo, policy := stagingRepo(t)
	f := newFixture(t, fixtureOptions{repo: repo})
	completed := func(n int) func(*fsm.FSM) error {
		return func(fs *fsm.FSM) error {
			done := 0
			for _, d := range fs.History("staging") {
				if d.State == fsm.StateCompleted && d.Kind != fsm.KindRollback {
					done++
				}
			}
			if done != n {
				return fmt.Errorf("%d of staging's deployments completed; want %d", done, n)
			}
			return nil
		}
	}
	f.c.WaitForState("staging's first deployment", completed(1))
	first := f.c.Leader().FSM.History("staging")[0].ID

	alice, olga, vera := f.browser(), f.browser(), f.browser()
	alice.signIn("alice")
	olga.signIn("olga")
	vera.signIn("vera")
	if p := olga.get("/ui/environments/staging"); hasID(p.body, "sync") {
		t.Error("olga, an approver outside staging's approver groups, sees Sync now")
	}
	if p := vera.get("/ui/environments/staging"); hasID(p.body, "sync") {
		t.Error("a viewer sees Sync now")
	}
	page := alice.get("/ui/environments/staging")
	if !strings.Contains(page.body, `<form id="sync"`) || !strings.Contains(page.body, ">Sync now</button>") {
		t.Fatalf("alice's staging page has no Sync now:\n%s", page.body)
	}
	csrf := formValue(t, page.body, "csrf")
	if a := olga.do("POST", "/ui/environments/staging/sync", url.Values{"csrf": {csrfFor(f.tokens["olga"])}}, nil); a.StatusCode != http.StatusForbidden ||
		!hasID(a.body, "error") {
		t.Errorf("olga's sync = %d; want the API's 403 in #error", a.StatusCode)
	}

	// A new commit, deployed at once on alice's sync.
	repo.Commit(sampleconfig.Merge(policy, sampleconfig.Env("staging", sampleconfig.Points, sampleconfig.Roads)), "add roads")
	a := alice.do("POST", "/ui/environments/staging/sync", url.Values{"csrf": {csrf}}, nil)
	if a.StatusCode != http.StatusSeeOther || a.Header.Get("Location") != "/ui/environments/staging?done=synced" {
		t.Fatalf("sync = %d to %q:\n%s", a.StatusCode, a.Header.Get("Location"), a.body)
	}
	f.c.WaitForState("staging's second deployment, after the sync", completed(2))

	// Roll back to the first: the link, the confirmation as the CLI shows
	// it, the POST.
	var link string
	clustertest.WaitFor(t, "a Roll back link to "+first, func() error {
		page = alice.get("/ui/environments/staging")
		m := regexp.MustCompile(`<a href="(/ui/environments/staging/rollback\?to=[^"]+)">Roll back to this</a>`).FindStringSubmatch(page.body)
		if m == nil {
			return errors.New("no Roll back to this link")
		}
		link = strings.ReplaceAll(m[1], "&amp;", "&")
		return nil
	})
	if link != "/ui/environments/staging/rollback?to="+first {
		t.Fatalf("Roll back link = %q; want to %s", link, first)
	}
	confirm := alice.get(link)
	if !hasID(confirm.body, "rollback-current") || !strings.Contains(confirm.body, `id="rollback-target"><a href="/ui/deployments/`+first+`">`) ||
		!strings.Contains(confirm.body, ">Roll back</button>") {
		t.Fatalf("confirmation page lacks current, target or its button:\n%s", confirm.body)
	}
	if p := olga.get(link); hasID(p.body, "rollback") {
		t.Error("olga sees the Roll back form")
	}
	a = alice.do("POST", "/ui/environments/staging/rollback", url.Values{"csrf": {csrf}, "to": {first}}, nil)
	if a.StatusCode != http.StatusSeeOther || !strings.HasSuffix(a.Header.Get("Location"), "?done=rolledback") {
		t.Fatalf("rollback = %d to %q:\n%s", a.StatusCode, a.Header.Get("Location"), a.body)
	}
	f.c.WaitForState("a rollback deployment of staging to "+first, func(fs *fsm.FSM) error {
		for _, d := range fs.History("staging") {
			if d.Kind == fsm.KindRollback && d.RollbackTo == first {
				return nil
			}
		}
		return errors.New("none yet")
	})
	f.checkNoTokens()
}

// TestSuspendCancelResumeThroughTheDashboard: an approver of staging
// suspends it from its page (the reason is required), a new commit's
// deployment then waits Pending and is cancelled from its page, and the
// environment is resumed; a viewer sees none of these forms and is
// refused when posting anyway.
func TestSuspendCancelResumeThroughTheDashboard(t *testing.T) {
	repo, policy := stagingRepo(t)
	f := newFixture(t, fixtureOptions{repo: repo})
	f.c.WaitForState("staging's first deployment", func(fs *fsm.FSM) error {
		if e, ok := fs.Environment("staging"); !ok || e.DeployedCommit == "" {
			return errors.New("nothing deployed yet")
		}
		return nil
	})
	alice, vera := f.browser(), f.browser()
	alice.signIn("alice")
	vera.signIn("vera")
	if p := vera.get("/ui/environments/staging"); hasID(p.body, "suspend") || hasID(p.body, "resume") {
		t.Error("a viewer sees Suspend or Resume")
	}
	if a := vera.do("POST", "/ui/environments/staging/suspend", url.Values{"csrf": {csrfFor(f.tokens["vera"])}, "reason": {"x"}}, nil); a.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer's suspend = %d; want 403", a.StatusCode)
	}
	page := alice.get("/ui/environments/staging")
	if !hasID(page.body, "suspend") || !strings.Contains(page.body, `<label for="suspend-reason">`) {
		t.Fatalf("alice's staging page has no labelled Suspend form:\n%s", page.body)
	}
	csrf := formValue(t, page.body, "csrf")
	if a := alice.do("POST", "/ui/environments/staging/suspend", url.Values{"csrf": {csrf}, "reason": {" "}}, nil); a.StatusCode != http.StatusBadRequest || !hasID(a.body, "error") {
		t.Errorf("suspend without a reason = %d; want 400 in #error", a.StatusCode)
	}
	a := alice.do("POST", "/ui/environments/staging/suspend", url.Values{"csrf": {csrf}, "reason": {"INC-7"}}, nil)
	if a.StatusCode != http.StatusSeeOther || a.Header.Get("Location") != "/ui/environments/staging?done=suspended" {
		t.Fatalf("suspend = %d to %q:\n%s", a.StatusCode, a.Header.Get("Location"), a.body)
	}
	page = alice.get("/ui/environments/staging?done=suspended")
	if !hasID(page.body, "suspended") || !strings.Contains(page.body, "INC-7") || !hasID(page.body, "resume") {
		t.Fatalf("the suspended page shows no suspension or no Resume:\n%s", page.body)
	}

	next := repo.Commit(sampleconfig.Merge(policy, sampleconfig.Env("staging", sampleconfig.Points, sampleconfig.Roads)), "add roads")
	var waiting string
	f.c.WaitForState("the new commit's deployment, waiting", func(fs *fsm.FSM) error {
		for _, d := range fs.History("staging") {
			if d.Commit == next {
				if d.State != fsm.StatePending {
					return fmt.Errorf("%s is %s; want Pending while suspended", d.ID, d.State)
				}
				waiting = d.ID
				return nil
			}
		}
		f.pollNow()
		return errors.New("not created yet")
	})
	dp := alice.get("/ui/deployments/" + waiting)
	if !hasID(dp.body, "cancel") || !strings.Contains(dp.body, `<label for="cancel-reason">`) {
		t.Fatalf("alice's page of the waiting deployment has no labelled Cancel form:\n%s", dp.body)
	}
	if p := vera.get("/ui/deployments/" + waiting); hasID(p.body, "cancel") {
		t.Error("a viewer sees Cancel")
	}
	a = alice.do("POST", "/ui/deployments/"+waiting+"/cancel", url.Values{"csrf": {csrf}, "reason": {"not during INC-7"}}, nil)
	if a.StatusCode != http.StatusSeeOther || !strings.HasSuffix(a.Header.Get("Location"), "?done=cancelled") {
		t.Fatalf("cancel = %d to %q:\n%s", a.StatusCode, a.Header.Get("Location"), a.body)
	}
	dp = alice.get("/ui/deployments/" + waiting)
	if !strings.Contains(dp.body, `data-state="Cancelled"`) || !hasID(dp.body, "cancellation") || hasID(dp.body, "cancel") {
		t.Errorf("the cancelled deployment's page:\n%s", dp.body)
	}
	a = alice.do("POST", "/ui/environments/staging/resume", url.Values{"csrf": {csrf}}, nil)
	if a.StatusCode != http.StatusSeeOther || a.Header.Get("Location") != "/ui/environments/staging?done=resumed" {
		t.Fatalf("resume = %d to %q:\n%s", a.StatusCode, a.Header.Get("Location"), a.body)
	}
	if e, _ := f.c.Leader().FSM.Environment("staging"); e.Suspended != nil {
		t.Errorf("staging is still suspended after Resume: %+v", e.Suspended)
	}
	f.checkNoTokens()
}

// stagingRepo is a repository whose first commit deploys staging with
// sample-points at once, under a policy whose approvers are devops-team;
// policy is the policy file, for later commits.
func stagingRepo(t *testing.T) (*gitserver.Repo, map[string]string) {
	t.Helper()
	repo := gitserver.NewRepo(t)
	policy := sampleconfig.WithPolicy(`apiVersion: honua.io/v1
kind: DeploymentPolicy
environments:
  staging:
    requireApproval: never
    approvers: [devops-team]
`)
	repo.Commit(sampleconfig.Merge(policy, sampleconfig.Env("staging", sampleconfig.Points)), "initial")
	return repo, policy
}
