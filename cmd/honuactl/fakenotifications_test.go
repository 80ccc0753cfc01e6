package main

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/honua-io/honua-gitops/api"
)

// fixtureNotifications is the fake's outbox, newest first, answered as
// honuad answers it:
//
//	staging-3.ApprovalRequired.team            delivered 9m ago
//	staging-3.ApprovalRequired.approvers-mail  failed after 5 attempts
//	staging-3.DeploymentCreated.ops-hook       pending, 2 attempts, next try in 2m
//	development-2.DeploymentFailed.ops-hook    delivered
func fixtureNotifications() []api.Notification {
	at := func(ago time.Duration) time.Time { return testNow.Add(-ago) }
	n := func(dep, env string, ev api.NotificationEvent, ch string, st api.NotificationState, created time.Time) api.Notification {
		return api.Notification{ID: dep + "." + string(ev) + "." + ch, DeploymentID: dep, Environment: env, Channel: ch,
			Event: ev, State: st, CreatedAt: created, Actor: "git-watcher"}
	}
	team := n("staging-3", "staging", api.EventApprovalRequired, "team", api.NotificationDelivered, at(10*time.Minute))
	team.Attempts, team.DeliveredAt = 1, at(9*time.Minute)
	mail := n("staging-3", "staging", api.EventApprovalRequired, "approvers-mail", api.NotificationFailed, at(10*time.Minute))
	mail.Attempts, mail.LastError = 5, "smtp.example.com:587: 535 5.7.8 authentication failed"
	hook := n("staging-3", "staging", api.EventDeploymentCreated, "ops-hook", api.NotificationPending, at(10*time.Minute))
	hook.Attempts, hook.LastError, hook.NextTry = 2, "POST http://hooks.example/x: 503 Service Unavailable", testNow.Add(2*time.Minute)
	dev := n("development-2", "development", api.EventDeploymentFailed, "ops-hook", api.NotificationDelivered, at(29*time.Minute))
	dev.Attempts, dev.DeliveredAt, dev.Reason = 1, at(29*time.Minute), "validation failed: 1 problem"
	return []api.Notification{team, mail, hook, dev}
}

// notificationsOf is deployment id's notifications, nil when none.
func (f *fakeAPI) notificationsOf(id string) []api.Notification {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.Notification
	for _, n := range f.notifications {
		if n.DeploymentID == id {
			out = append(out, n)
		}
	}
	return out
}

func (f *fakeAPI) listNotifications(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state, dep := api.NotificationState(q.Get("state")), q.Get("deployment")
	if state != "" && !state.Valid() {
		writeErrorTest(w, http.StatusBadRequest, "invalid", fmt.Sprintf("state: %q is not a notification state (pending, delivered, failed)", state))
		return
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeErrorTest(w, http.StatusBadRequest, "invalid", fmt.Sprintf("limit: %q must be a number from 1 to 1000", v))
			return
		}
		limit = n
	}
	f.mu.Lock()
	out := []api.Notification{}
	for _, n := range f.notifications {
		if (state == "" || n.State == state) && (dep == "" || n.DeploymentID == dep) && len(out) < limit {
			out = append(out, n)
		}
	}
	f.mu.Unlock()
	writeJSONTest(w, http.StatusOK, out)
}

func (f *fakeAPI) retryNotification(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.notifications {
		n := &f.notifications[i]
		if n.ID != id {
			continue
		}
		if n.State != api.NotificationFailed {
			writeErrorTest(w, http.StatusConflict, "wrong_state",
				fmt.Sprintf("retry notification %s: it is %s; only a failed notification is retried: wrong state", id, n.State))
			return
		}
		n.State, n.Attempts, n.NextTry = api.NotificationPending, 0, testNow
		writeJSONTest(w, http.StatusOK, n)
		return
	}
	writeErrorTest(w, http.StatusNotFound, "not_found", fmt.Sprintf("notification %s: not found", id))
}
