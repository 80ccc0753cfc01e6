package main

import (
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/api"
)

func TestNotifications(t *testing.T) {
	f := newFakeAPI(t)
	r := f.ctl(t, "notifications")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout,
		[]string{"ID", "EVENT", "DEPLOYMENT", "CHANNEL", "STATE", "ATTEMPTS", "LAST ERROR"},
		[]string{"staging-3.ApprovalRequired.team ", "ApprovalRequired", "staging-3", "team", "delivered", "1", "-"},
		[]string{"staging-3.ApprovalRequired.approvers-mail", "approvers-mail", "failed", "5",
			"smtp.example.com:587: 535 5.7.8 authentication failed"},
		[]string{"staging-3.DeploymentCreated.ops-hook", "DeploymentCreated", "ops-hook", "pending", "2", "503 Service Unavailable"},
		[]string{"development-2.DeploymentFailed.ops-hook", "DeploymentFailed", "development-2", "delivered"},
	)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[1], "staging-3.ApprovalRequired.team ") {
		t.Errorf("want a header and 4 notifications, newest first:\n%s", r.stdout)
	}

	r = f.ctl(t, "notifications", "--state", "FAILED", "--deployment", "staging-3", "--limit", "2", "-o", "json")
	wantCode(t, r, exitOK)
	req, _ := f.last("GET", "/v1/notifications")
	if req.Query != "deployment=staging-3&limit=2&state=failed" {
		t.Errorf("query = %q; want deployment, limit and the state spelled as the API does", req.Query)
	}
	var ns []api.Notification
	decode(t, r.stdout, &ns)
	if len(ns) != 1 || ns[0].ID != "staging-3.ApprovalRequired.approvers-mail" || ns[0].Attempts != 5 {
		t.Errorf("notifications JSON = %+v; want the failed one alone", ns)
	}

	r = f.ctl(t, "notifications", "--deployment", "nowhere-1")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"No notifications."})
	r = f.ctl(t, "notifications", "--deployment", "nowhere-1", "-o", "json")
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("empty JSON list = %q; want []", r.stdout)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"notifications", "--state", "sent"}, `--state "sent": not a notification state (pending, delivered, failed)`},
		{[]string{"notifications", "--limit", "-1"}, "--limit -1: must be positive"},
		{[]string{"notifications", "resend"}, `unknown subcommand "resend"`},
		{[]string{"notifications", "retry"}, "missing argument <id>"},
		{[]string{"notifications", "retry", "a", "b"}, `unexpected argument "b"`},
	} {
		before := len(f.seen())
		r := f.ctl(t, tc.args...)
		wantCode(t, r, exitUsage)
		wantLines(t, r.stderr, []string{tc.want})
		if len(f.seen()) != before {
			t.Errorf("%q sent a request", tc.args)
		}
	}
}

func TestNotificationRetry(t *testing.T) {
	f := newFakeAPI(t)
	id := "staging-3.ApprovalRequired.approvers-mail"
	r := f.ctl(t, "notifications", "retry", id)
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Retrying " + id + ": it is pending again, and the leader delivers it to approvers-mail next."})
	if _, ok := f.last("POST", "/v1/notifications/"+id+"/retry"); !ok {
		t.Errorf("no POST /v1/notifications/%s/retry in %+v", id, f.seen())
	}

	// It is pending now: the server refuses, and honuactl says why.
	r = f.ctl(t, "notifications", "retry", id, "-o", "json")
	wantCode(t, r, exitRefused)
	wantLines(t, r.stderr, []string{"it is pending; only a failed notification is retried", "(409 wrong_state)"})
	r = f.ctl(t, "notifications", "retry", "staging-3.Approved.team")
	wantCode(t, r, exitRefused)
	wantLines(t, r.stderr, []string{"staging-3.Approved.team", "(404 not_found)"})

	f.mu.Lock()
	f.notifications[1].State = api.NotificationFailed
	f.mu.Unlock()
	r = f.ctl(t, "-o", "json", "notifications", "retry", id)
	wantCode(t, r, exitOK)
	var n api.Notification
	decode(t, r.stdout, &n)
	if n.ID != id || n.State != api.NotificationPending || n.Attempts != 0 {
		t.Errorf("retry JSON = %+v; want %s pending, attempts 0", n, id)
	}
}

func TestDeploymentNotifications(t *testing.T) {
	f := newFakeAPI(t)
	r := f.ctl(t, "deployment", "staging-3")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout,
		[]string{"Notifications:"},
		[]string{"EVENT", "CHANNEL", "STATE", "ATTEMPTS", "WHEN", "LAST ERROR"},
		[]string{"ApprovalRequired", "team", "delivered", "1", "delivered 9m ago", "-"},
		[]string{"ApprovalRequired", "approvers-mail", "failed", "5", "535 5.7.8 authentication failed"},
		[]string{"DeploymentCreated", "ops-hook", "pending", "2", "next try in 2m", "503 Service Unavailable"},
	)
	if i, j := strings.Index(r.stdout, "History:"), strings.Index(r.stdout, "Notifications:"); i < 0 || j < i {
		t.Errorf("notifications are not listed after the history:\n%s", r.stdout)
	}
	r = f.ctl(t, "deployment", "staging-3", "-o", "json")
	var d api.Deployment
	decode(t, r.stdout, &d)
	if len(d.Notifications) != 3 || d.Notifications[2].NextTry.IsZero() {
		t.Errorf("deployment JSON notifications = %+v; want staging-3's three", d.Notifications)
	}

	r = f.ctl(t, "deployment", "production-7")
	wantCode(t, r, exitOK)
	if strings.Contains(r.stdout, "Notifications") {
		t.Errorf("a deployment without notifications lists them:\n%s", r.stdout)
	}
}
