package rpc

// The endpoints of the notification outbox: GET /v1/notifications lists
// it from this node's state (a read, as GET /v1/deployments), and POST
// /v1/notifications/{id}/retry makes a failed notification pending again
// (an admin's write, applied on the leader).

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// Limits of GET /v1/notifications.
const (
	defaultNotificationsLimit = 100
	maxNotificationsLimit     = 1000
)

// maxNotificationDeploymentParam bounds the deployment parameter: longer
// than any deployment id the state can hold.
const maxNotificationDeploymentParam = 256

func (s *Server) handleNotifications(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for key, vs := range q {
		switch key {
		case "state", "deployment", "limit", "consistent": // consistent: see route
		default:
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("unknown query parameter %q (use state, deployment, limit, consistent)", key))
			return
		}
		if len(vs) > 1 {
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("%s: given %d times; give it once", key, len(vs)))
			return
		}
	}
	filter := fsm.NotificationFilter{State: fsm.NotificationState(q.Get("state")), DeploymentID: q.Get("deployment"),
		Limit: defaultNotificationsLimit}
	if filter.State != "" && !filter.State.Valid() {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("state: %q is not a notification state (%s)", filter.State, notificationStates()))
		return
	}
	if d := filter.DeploymentID; d != "" && (len(d) > maxNotificationDeploymentParam || strings.ContainsFunc(d, isControl)) {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("deployment: %.64q is not a deployment id", d))
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxNotificationsLimit {
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("limit: %q must be a number from 1 to %d", v, maxNotificationsLimit))
			return
		}
		filter.Limit = n
	}
	out := mapSlice(s.cfg.Store.Notifications(filter), wireNotification)
	if out == nil {
		out = []api.Notification{}
	}
	writeJSON(w, http.StatusOK, out)
}

// notificationStates names the notification states for an error message.
func notificationStates() string {
	names := make([]string, len(api.AllNotificationStates))
	for i, st := range api.AllNotificationStates {
		names[i] = string(st)
	}
	return strings.Join(names, ", ")
}

// isControl reports whether r is a control character, which no id holds.
func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func (s *Server) handleRetryNotification(w http.ResponseWriter, r *http.Request) {
	if err := decode(r, &struct{}{}); err != nil {
		writeErr(w, err)
		return
	}
	id := r.PathValue("id")
	res, err := s.cfg.Cluster.Apply(r.Context(), &fsm.RetryNotification{ID: id, Time: s.cfg.Now().UTC()})
	if err != nil {
		writeErr(w, err)
		return
	}
	n := res.(*fsm.NotificationResult).Notification
	s.log(r).Info("notification retried by an operator", "notification", n.ID, "by", identityOf(r).Name)
	writeJSON(w, http.StatusOK, wireNotification(n))
}
