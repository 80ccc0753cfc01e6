package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// NotificationState is where a notification is in its delivery.
type NotificationState string

// The notification states.
const (
	// NotificationPending: not delivered yet; the leader tries it once
	// its NextTry has come.
	NotificationPending NotificationState = "pending"
	// NotificationDelivered: a channel accepted it. Final.
	NotificationDelivered NotificationState = "delivered"
	// NotificationFailed: the leader gave up on it; an admin may retry it
	// (RetryNotification).
	NotificationFailed NotificationState = "failed"
)

// AllNotificationStates lists every notification state.
var AllNotificationStates = []NotificationState{NotificationPending, NotificationDelivered, NotificationFailed}

// Valid reports whether s is one of the known states.
func (s NotificationState) Valid() bool {
	switch s {
	case NotificationPending, NotificationDelivered, NotificationFailed:
		return true
	}
	return false
}

// NotificationEvent names something that happened to a deployment that
// people may be told about.
type NotificationEvent string

// The notification events.
const (
	EventDeploymentCreated   NotificationEvent = "DeploymentCreated"
	EventApprovalRequired    NotificationEvent = "ApprovalRequired"
	EventApproved            NotificationEvent = "Approved"
	EventRejected            NotificationEvent = "Rejected"
	EventDeploymentScheduled NotificationEvent = "DeploymentScheduled"
	EventDeploymentStarted   NotificationEvent = "DeploymentStarted"
	EventDeploymentCompleted NotificationEvent = "DeploymentCompleted"
	EventDeploymentFailed    NotificationEvent = "DeploymentFailed"
	EventRolledBack          NotificationEvent = "RolledBack"
	EventRollbackFailed      NotificationEvent = "RollbackFailed"
	EventCancelled           NotificationEvent = "Cancelled"
	EventDriftDetected       NotificationEvent = "DriftDetected"
)

// AllNotificationEvents lists every notification event, in the order a
// deployment can raise them.
var AllNotificationEvents = []NotificationEvent{
	EventDeploymentCreated, EventApprovalRequired, EventApproved, EventRejected, EventDeploymentScheduled,
	EventDeploymentStarted, EventDeploymentCompleted, EventDeploymentFailed, EventRolledBack, EventRollbackFailed,
	EventCancelled, EventDriftDetected,
}

// Notification is one message about one event of one deployment for one
// channel, kept in the cluster's replicated outbox (GET /v1/notifications).
type Notification struct {
	// ID is "<deploymentId>.<event>.<channel>": the same on every node and
	// every retry (a webhook's X-Honua-Delivery), so a receiver can drop
	// duplicates by it.
	ID           string            `json:"id"`
	DeploymentID string            `json:"deploymentId"`
	Environment  string            `json:"environment"`
	Channel      string            `json:"channel"`
	Event        NotificationEvent `json:"event"`
	State        NotificationState `json:"state"`
	// CreatedAt is when the event happened.
	CreatedAt time.Time `json:"createdAt"`
	// Actor is who approved or rejected; for the other events, the
	// deployment's initiator.
	Actor string `json:"actor,omitempty"`
	// Reason is why the event happened (the transition's message, the
	// deployment's error, the rejection's reason).
	Reason string `json:"reason,omitempty"`
	// Attempts counts the delivery attempts since the notification was
	// created or last retried, the successful one included.
	Attempts int `json:"attempts"`
	// LastError is why the last failed attempt failed.
	LastError string `json:"lastError,omitempty"`
	// NextTry is when the leader may try a pending notification next.
	NextTry time.Time `json:"nextTry,omitzero"`
	// DeliveredAt is when a channel accepted it.
	DeliveredAt time.Time `json:"deliveredAt,omitzero"`
}

// NotificationFilter selects notifications; a zero field selects all.
type NotificationFilter struct {
	State NotificationState
	// Deployment keeps one deployment's notifications.
	Deployment string
	// Limit keeps at most that many (the newest); 0 is the server's
	// default.
	Limit int
}

// Notifications lists the outbox's notifications, newest first.
func (c *Client) Notifications(ctx context.Context, f NotificationFilter, q *QueryOptions) ([]Notification, error) {
	v := q.values()
	if f.State != "" {
		v.Set("state", string(f.State))
	}
	if f.Deployment != "" {
		v.Set("deployment", f.Deployment)
	}
	if f.Limit > 0 {
		v.Set("limit", strconv.Itoa(f.Limit))
	}
	var ns []Notification
	_, err := c.do(ctx, http.MethodGet, "/v1/notifications", v, nil, &ns)
	return ns, err
}

// RetryNotification makes a failed notification pending again, to be
// delivered at once with its attempts counted anew (admin).
func (c *Client) RetryNotification(ctx context.Context, id string) (*Notification, error) {
	var n Notification
	_, err := c.do(ctx, http.MethodPost, "/v1/notifications/"+url.PathEscape(id)+"/retry", nil, struct{}{}, &n)
	return &n, err
}
