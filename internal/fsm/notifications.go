package fsm

// This file holds the replicated outbox's records: the events a
// deployment's moves raise (NotificationEventsOf), and the Notification,
// one message for one channel, which the FSM records in the same entry
// that moves the deployment and which the leader delivers (see
// notification_commands.go). The routes that say which channels hear of
// which events are in notification_routes.go; creation and pruning in
// notification_outbox.go; the reads in notification_queries.go.

import (
	"slices"
	"strings"
	"time"
)

// NotificationEvent names something that happened to a deployment that
// people may want to be told about. The string values are part of the API,
// of notification ids and of the snapshot format; never change one.
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
	// EventDriftDetected is raised by SetDrift, not by a move: an
	// environment's targets no longer hold the bundle deployed to them.
	EventDriftDetected NotificationEvent = "DriftDetected"
)

// AllNotificationEvents lists every notification event, in the order a
// deployment can raise them.
var AllNotificationEvents = []NotificationEvent{
	EventDeploymentCreated, EventApprovalRequired, EventApproved, EventRejected, EventDeploymentScheduled,
	EventDeploymentStarted, EventDeploymentCompleted, EventDeploymentFailed, EventRolledBack, EventRollbackFailed,
	EventCancelled, EventDriftDetected,
}

// Valid reports whether e is one of the known events.
func (e NotificationEvent) Valid() bool { return slices.Contains(AllNotificationEvents, e) }

// NotificationEventsOf returns the events a deployment raises when it moves
// from state from to state to, in the order they happen; from is "" for its
// creation (the move to Pending). Most moves raise none or one:
//
//	"" → Pending                         DeploymentCreated
//	→ AwaitingApproval                   ApprovalRequired
//	AwaitingApproval → Scheduled         Approved, then DeploymentScheduled
//	AwaitingApproval → BackingUp         Approved
//	→ Rejected                           Rejected
//	→ Cancelled                          Cancelled
//	→ Scheduled (from Planning)          DeploymentScheduled
//	→ Applying                           DeploymentStarted
//	→ Completed                          DeploymentCompleted
//	→ Failed                             DeploymentFailed
//	RollingBack → Failed                 RollbackFailed
//	→ RolledBack                         RolledBack
//
// Every other move raises nothing: the steps inside the pipeline
// (Validating, Planning, BackingUp, PostValidating), being Superseded (a
// newer commit's DeploymentCreated says it), and Failed → RollingBack (the
// DeploymentFailed just before said it failed; RolledBack or
// RollbackFailed follows). Leaving AwaitingApproval for Failed (the
// approval expired) or Superseded is not an approval. Since the state
// machine has no cycle but RollingBack → Failed, which raises its own
// event, a deployment raises each event at most once.
//
// Dry runs raise nothing at all; that is decided where notifications are
// recorded, not here (see state.notify).
func NotificationEventsOf(from, to DeploymentState) []NotificationEvent {
	switch {
	case from == 0 && to == StatePending:
		return []NotificationEvent{EventDeploymentCreated}
	case from == StateAwaitingApproval && to == StateScheduled:
		return []NotificationEvent{EventApproved, EventDeploymentScheduled}
	case from == StateAwaitingApproval && to == StateBackingUp:
		return []NotificationEvent{EventApproved}
	case from == StateRollingBack && to == StateFailed:
		return []NotificationEvent{EventRollbackFailed}
	}
	switch to {
	case StateAwaitingApproval:
		return []NotificationEvent{EventApprovalRequired}
	case StateRejected:
		return []NotificationEvent{EventRejected}
	case StateCancelled:
		return []NotificationEvent{EventCancelled}
	case StateScheduled:
		return []NotificationEvent{EventDeploymentScheduled}
	case StateApplying:
		return []NotificationEvent{EventDeploymentStarted}
	case StateCompleted:
		return []NotificationEvent{EventDeploymentCompleted}
	case StateFailed:
		return []NotificationEvent{EventDeploymentFailed}
	case StateRolledBack:
		return []NotificationEvent{EventRolledBack}
	}
	return nil
}

// NotificationState is where a notification is in its delivery. The
// string values are part of the API and of the snapshot format.
type NotificationState string

// The notification states.
const (
	// NotificationPending: not delivered yet; the leader tries it once
	// its NextTry has come.
	NotificationPending NotificationState = "pending"
	// NotificationDelivered: a channel accepted it. Final.
	NotificationDelivered NotificationState = "delivered"
	// NotificationFailed: the leader gave up on it; an admin may retry
	// it (RetryNotification).
	NotificationFailed NotificationState = "failed"
)

// Valid reports whether s is one of the known states.
func (s NotificationState) Valid() bool {
	switch s {
	case NotificationPending, NotificationDelivered, NotificationFailed:
		return true
	}
	return false
}

// Notification is one message about one event of one deployment, for one
// channel. The FSM records it pending in the Raft entry that raised the
// event; the leader delivers it and records the outcome through Raft, so a
// new leader goes on from where the old one stopped.
type Notification struct {
	// ID is NotificationID(DeploymentID, Event, Channel): stable, the same
	// on every node and every retry, so a receiver can drop duplicates by
	// it (the webhook's X-Honua-Delivery).
	ID           string            `json:"id"`
	DeploymentID string            `json:"deploymentId"`
	Environment  string            `json:"environment"`
	Channel      string            `json:"channel"`
	Event        NotificationEvent `json:"event"`
	State        NotificationState `json:"state"`
	// CreatedAt is the time of the command that raised the event.
	CreatedAt time.Time `json:"createdAt"`
	// Index is the Raft index of the entry that raised the event.
	Index uint64 `json:"index"`
	// Actor is who approved (the approvers, comma-separated) or rejected;
	// for the other events, the deployment's initiator.
	Actor string `json:"actor,omitempty"`
	// Reason is the move's message, with the deployment's error for a
	// failure, or the rejection's reason; at most MaxNotificationReason
	// bytes.
	Reason string `json:"reason,omitempty"`
	// Attempts counts the delivery attempts reported since the
	// notification was created or last retried (RetryNotification sets it
	// back to 0), the successful one included.
	Attempts int `json:"attempts"`
	// LastError is why the last failed attempt failed; at most
	// MaxNotificationError bytes.
	LastError string `json:"lastError,omitempty"`
	// NextTry is when the leader may try a pending notification next.
	NextTry time.Time `json:"nextTry,omitzero"`
	// DeliveredAt is when a channel accepted it.
	DeliveredAt time.Time `json:"deliveredAt,omitzero"`
	// Updated is the time of the last command that changed it.
	Updated time.Time `json:"updated"`
}

// Bounds of the text a notification holds.
const (
	// MaxNotificationReason bounds Notification.Reason, in bytes.
	MaxNotificationReason = 1024
	// MaxNotificationActor bounds Notification.Actor, in bytes.
	MaxNotificationActor = 256
	// MaxNotificationError bounds Notification.LastError, in bytes: a
	// longer error is cut to it.
	MaxNotificationError = 2048
	// maxNotificationErrorInput bounds the error a RecordNotificationAttempt
	// may carry at all; a longer one is refused, not cut.
	maxNotificationErrorInput = 64 << 10
	// maxNotificationIDLen bounds a notification id a command names: a
	// deployment id, an event and a channel name fit in it with room.
	maxNotificationIDLen = 256
)

// NotificationID returns the id of the notification of deployment's event
// for channel: "<deploymentID>.<event>.<channel>". Deployment ids hold no
// dot and channel names neither, so the id names one of each.
func NotificationID(deploymentID string, event NotificationEvent, channel string) string {
	return deploymentID + "." + string(event) + "." + channel
}

// truncate returns s cut to at most n bytes without splitting a rune:
// a rune the cut splits is dropped, so a valid UTF-8 s stays valid (and
// encodes, and restores, to the same bytes).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
