package rpc

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// notified are the deployments and notifications of notificationFixture.
type notified struct {
	failedDeployment, waitingDeployment string
	// delivered, failed and retrying are notifications of
	// failedDeployment: delivered, given up on, and pending after a failed
	// attempt.
	delivered, failed, retrying string
}

// notificationFixture is newAPIFixture's API with routes in force and two
// staging deployments that raised notifications after them (production's,
// created before the routes, raised none):
//
//	staging-4  created, then Failed: DeploymentCreated and DeploymentFailed
//	           to ops-hook and team; created to ops-hook delivered, failed
//	           to team given up on, failed to ops-hook pending after one
//	           failed attempt
//	staging-5  created, then AwaitingApproval: DeploymentCreated to ops-hook
//	           and team, ApprovalRequired to approvers-mail, all pending
//
// The server's clock reads t0+30m.
func notificationFixture(t *testing.T) (*apiFixture, notified) {
	t.Helper()
	f := newAPIFixture(t)
	tf := f.c.tf
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	tf.apply(&fsm.SetNotificationRoutes{Routes: []fsm.NotificationRoute{
		{Events: []fsm.NotificationEvent{fsm.EventDeploymentCreated, fsm.EventDeploymentFailed}, Channels: []string{"ops-hook", "team"}},
		{Events: []fsm.NotificationEvent{fsm.EventApprovalRequired}, Environments: []string{"staging"}, Channels: []string{"approvers-mail"}},
	}})
	var n notified
	n.failedDeployment = tf.apply(&fsm.CreateDeployment{Environment: "staging", Commit: "c8", Kind: fsm.KindAuto,
		Initiator: "watcher", Time: at(1), Message: "commit c8 seen"}).(*fsm.Deployment).ID
	tf.apply(&fsm.TransitionDeployment{ID: n.failedDeployment, To: fsm.StateFailed, Time: at(2), Message: "to Failed",
		Error: "validation failed"})
	n.delivered = fsm.NotificationID(n.failedDeployment, fsm.EventDeploymentCreated, "ops-hook")
	n.failed = fsm.NotificationID(n.failedDeployment, fsm.EventDeploymentFailed, "team")
	n.retrying = fsm.NotificationID(n.failedDeployment, fsm.EventDeploymentFailed, "ops-hook")
	tf.apply(&fsm.MarkNotificationDelivered{ID: n.delivered, Time: at(3)})
	for i := range 3 {
		tf.apply(&fsm.RecordNotificationAttempt{ID: n.failed, Time: at(4 + i), Error: "POST https://hooks.slack.example/x: 500 Internal Server Error",
			NextTry: at(5 + i), GiveUp: i == 2})
	}
	tf.apply(&fsm.RecordNotificationAttempt{ID: n.retrying, Time: at(4), Error: "dial tcp 10.0.0.9:443: connection refused", NextTry: at(9)})
	n.waitingDeployment = tf.apply(&fsm.CreateDeployment{Environment: "staging", Commit: "c9", Kind: fsm.KindAuto,
		Initiator: "watcher", Time: at(10), Message: "commit c9 seen"}).(*fsm.Deployment).ID
	for i, to := range []fsm.DeploymentState{fsm.StateValidating, fsm.StatePlanning, fsm.StateAwaitingApproval} {
		tr := &fsm.TransitionDeployment{ID: n.waitingDeployment, To: to, Time: at(11 + i), Message: "to " + to.String()}
		if to == fsm.StateAwaitingApproval {
			tr.Approval = &fsm.ApprovalRequirement{Required: 1, Groups: []string{"devops-team"}}
		}
		tf.apply(tr)
	}
	f.s.cfg.Now = func() time.Time { return at(30) }
	return f, n
}

// notificationIDs lists the notifications of a GET /v1/notifications
// answer, failing the test unless it is a 200 with a JSON list.
func notificationIDs(t *testing.T, rec *httptest.ResponseRecorder) []string {
	t.Helper()
	var ns []api.Notification
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &ns) != nil || ns == nil {
		t.Fatalf("= %d %s; want 200 and a JSON list", rec.Code, rec.Body)
	}
	ids := make([]string, len(ns))
	for i, n := range ns {
		ids[i] = n.ID
	}
	return ids
}

// TestNotificationsList: GET /v1/notifications filters by state,
// deployment and limit, newest first, for a viewer.
func TestNotificationsList(t *testing.T) {
	f, n := notificationFixture(t)
	s4, s5 := n.failedDeployment, n.waitingDeployment
	id := func(d string, ev fsm.NotificationEvent, ch string) string { return fsm.NotificationID(d, ev, ch) }
	all := []string{
		id(s5, fsm.EventApprovalRequired, "approvers-mail"),
		id(s5, fsm.EventDeploymentCreated, "team"), id(s5, fsm.EventDeploymentCreated, "ops-hook"),
		n.failed, n.retrying,
		id(s4, fsm.EventDeploymentCreated, "team"), n.delivered,
	}
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"", all},
		{"?consistent=true", all},
		{"?state=failed", []string{n.failed}},
		{"?state=delivered", []string{n.delivered}},
		{"?state=pending", []string{all[0], all[1], all[2], n.retrying, all[5]}},
		{"?deployment=" + s4, all[3:]},
		{"?deployment=" + s4 + "&state=pending", []string{n.retrying, all[5]}},
		{"?limit=2", all[:2]},
		{"?deployment=" + s5 + "&limit=1", all[:1]},
		{"?deployment=production-3", []string{}},
		{"?deployment=staging-99", []string{}},
	} {
		got := notificationIDs(t, f.do(t, "vera", "GET", "/v1/notifications"+tt.query, ""))
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("GET /v1/notifications%s = %q; want %q", tt.query, got, tt.want)
		}
	}

	// Every field reaches the client.
	var ns []api.Notification
	rec := f.do(t, "vera", "GET", "/v1/notifications?state=failed", "")
	if err := json.Unmarshal(rec.Body.Bytes(), &ns); err != nil || len(ns) != 1 {
		t.Fatalf("failed notifications = %s", rec.Body)
	}
	want := api.Notification{ID: n.failed, DeploymentID: s4, Environment: "staging", Channel: "team",
		Event: api.EventDeploymentFailed, State: api.NotificationFailed, CreatedAt: t0.Add(2 * time.Minute),
		Actor: "watcher", Reason: "to Failed: validation failed", Attempts: 3,
		LastError: "POST https://hooks.slack.example/x: 500 Internal Server Error"}
	if ns[0] != want {
		t.Errorf("failed notification = %+v; want %+v", ns[0], want)
	}
}

// TestNotificationsBadParameters: what GET /v1/notifications refuses.
func TestNotificationsBadParameters(t *testing.T) {
	f, _ := notificationFixture(t)
	for _, tt := range []struct{ query, want string }{
		{"?colour=red", `unknown query parameter "colour"`},
		{"?env=staging", `unknown query parameter "env"`},
		{"?state=Failed", `state: "Failed" is not a notification state (pending, delivered, failed)`},
		{"?state=sent", "not a notification state"},
		{"?limit=0", "limit: \"0\" must be a number from 1 to 1000"},
		{"?limit=1001", "must be a number from 1 to 1000"},
		{"?limit=ten", "must be a number from 1 to 1000"},
		{"?limit=1&limit=2", "limit: given 2 times"},
		{"?deployment=" + strings.Repeat("x", 257), "is not a deployment id"},
		{"?deployment=a%0Ab", "is not a deployment id"},
	} {
		rec := f.do(t, "vera", "GET", "/v1/notifications"+tt.query, "")
		var body api.ErrorBody
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != 400 || body.Code != "invalid" || !strings.Contains(body.Error, tt.want) {
			t.Errorf("GET /v1/notifications%s = %d %s; want 400 invalid %q", tt.query, rec.Code, rec.Body, tt.want)
		}
	}
}

// TestNotificationRetry: only an admin retries, only a failed
// notification, which becomes pending at the server's time with its
// attempts counted anew.
func TestNotificationRetry(t *testing.T) {
	f, n := notificationFixture(t)
	path := "/v1/notifications/" + n.failed + "/retry"
	for _, who := range []string{"vera", "alice"} {
		if rec := f.do(t, who, "POST", path, ""); rec.Code != 403 || errorCode(t, rec) != "forbidden" {
			t.Errorf("%s retrying = %d %s; want 403 forbidden", who, rec.Code, rec.Body)
		}
	}
	if got, _ := f.c.tf.f.Notification(n.failed); got.State != fsm.NotificationFailed {
		t.Fatalf("a refused retry changed the notification: %+v", got)
	}
	for _, tt := range []struct {
		name, path, body string
		status           int
		code, msg        string
	}{
		{"unknown", "/v1/notifications/staging-4.DeploymentFailed.pager/retry", "", 404, "not_found", "staging-4.DeploymentFailed.pager"},
		{"pending", "/v1/notifications/" + n.retrying + "/retry", "", 409, "wrong_state", "it is pending; only a failed notification is retried"},
		{"delivered", "/v1/notifications/" + n.delivered + "/retry", "", 409, "wrong_state", "it is delivered"},
		{"too long an id", "/v1/notifications/" + strings.Repeat("x", 300) + "/retry", "", 400, "invalid", "longer than"},
		{"unknown field", path, `{"force":true}`, 400, "invalid", "force"},
	} {
		rec := f.do(t, "root", "POST", tt.path, tt.body)
		if rec.Code != tt.status || errorCode(t, rec) != tt.code || !strings.Contains(rec.Body.String(), tt.msg) {
			t.Errorf("retry %s = %d %s; want %d %s %q", tt.name, rec.Code, rec.Body, tt.status, tt.code, tt.msg)
		}
	}

	rec := f.do(t, "root", "POST", path, "")
	var got api.Notification
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &got) != nil {
		t.Fatalf("admin retrying = %d %s; want 200", rec.Code, rec.Body)
	}
	now := t0.Add(30 * time.Minute) // the fixture's server clock
	if got.ID != n.failed || got.State != api.NotificationPending || got.Attempts != 0 || !got.NextTry.Equal(now) ||
		got.LastError == "" {
		t.Errorf("retried = %+v; want it pending, due %v, attempts 0, its last error kept", got, now)
	}
	if st, _ := f.c.tf.f.Notification(n.failed); st.State != fsm.NotificationPending || !st.NextTry.Equal(now) {
		t.Errorf("state after the retry = %+v; want it pending at %v", st, now)
	}
	// A second retry finds it pending.
	if rec := f.do(t, "root", "POST", path, ""); rec.Code != 409 || errorCode(t, rec) != "wrong_state" {
		t.Errorf("retrying again = %d %s; want 409 wrong_state", rec.Code, rec.Body)
	}
}

// TestDeploymentShowsNotifications: a deployment's record carries its
// notifications, newest first, and one without any has no such field.
func TestDeploymentShowsNotifications(t *testing.T) {
	f, n := notificationFixture(t)
	rec := f.do(t, "vera", "GET", "/v1/deployments/"+n.failedDeployment, "")
	var d api.Deployment
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &d) != nil {
		t.Fatalf("= %d %s", rec.Code, rec.Body)
	}
	var ids []string
	for _, x := range d.Notifications {
		ids = append(ids, x.ID+"="+string(x.State))
	}
	want := []string{n.failed + "=failed", n.retrying + "=pending",
		fsm.NotificationID(n.failedDeployment, fsm.EventDeploymentCreated, "team") + "=pending", n.delivered + "=delivered"}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("notifications of %s = %v; want %v", n.failedDeployment, ids, want)
	}
	rec = f.do(t, "vera", "GET", "/v1/deployments/"+f.waiting, "")
	if rec.Code != 200 || strings.Contains(rec.Body.String(), `"notifications"`) {
		t.Errorf("a deployment without notifications = %d %s; want no notifications field", rec.Code, rec.Body)
	}
}

// TestGoldenNotifications pins the answers of the outbox's endpoints and a
// deployment's record with its notifications, from notificationFixture's
// state (the state of TestGoldenAnswers has no routes, so its answers
// stay as they were).
func TestGoldenNotifications(t *testing.T) {
	f, n := notificationFixture(t)
	srv := httptest.NewServer(f.s)
	t.Cleanup(srv.Close)
	retry := "/v1/notifications/" + n.failed + "/retry"
	for _, c := range []goldenCall{
		{name: "notifications", who: "vera", method: "GET", path: "/v1/notifications"},
		{name: "notifications-filtered", who: "vera", method: "GET", path: "/v1/notifications?state=pending&deployment=" + n.failedDeployment + "&limit=1"},
		{name: "notifications-none", who: "vera", method: "GET", path: "/v1/notifications?deployment=" + f.waiting},
		{name: "deployment-notified", who: "vera", method: "GET", path: "/v1/deployments/" + n.failedDeployment},
		{name: "error-notifications-param", who: "vera", method: "GET", path: "/v1/notifications?env=staging"},
		{name: "error-notifications-state", who: "vera", method: "GET", path: "/v1/notifications?state=sent"},
		{name: "error-notifications-limit", who: "vera", method: "GET", path: "/v1/notifications?limit=0"},
		{name: "error-notification-retry-forbidden", who: "alice", method: "POST", path: retry},
		{name: "error-notification-retry-unknown", who: "root", method: "POST", path: "/v1/notifications/staging-4.Approved.team/retry"},
		{name: "error-notification-retry-wrong-state", who: "root", method: "POST", path: "/v1/notifications/" + n.delivered + "/retry"},
		{name: "notification-retry", who: "root", method: "POST", path: retry},
	} {
		h := map[string]string{"Authorization": "Bearer " + f.tokens[c.who]}
		checkGolden(t, c.name, goldenRequest(t, srv, c.method, c.path, c.body, h))
	}
}
