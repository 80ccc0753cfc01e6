package fsm

// This file holds the commands of the leader's delivery loop and of the
// admin: RecordNotificationAttempt (a delivery failed),
// MarkNotificationDelivered (a channel accepted it) and RetryNotification
// (try a failed one again). Each is marked safe for an older node to
// ignore, as SetNotificationRoutes is.

import (
	"fmt"
	"time"
)

// NotificationResult is what the delivery commands return: a copy of the
// notification after the command.
type NotificationResult struct {
	Notification Notification `json:"notification"`
	// Duplicate is true when MarkNotificationDelivered found the
	// notification delivered already: the command changed nothing.
	Duplicate bool `json:"duplicate,omitempty"`
}

// checkNotificationCommand refuses a command naming no notification, an
// id longer than any notification's, one the state does not hold, or no
// time; it returns the notification.
func (s *state) checkNotificationCommand(op, id string, at time.Time) (*Notification, error) {
	switch {
	case id == "":
		return nil, invalid("%s: notification id is empty", op)
	case len(id) > maxNotificationIDLen:
		return nil, invalid("%s: notification id is %d bytes, longer than the %d an id can be", op, len(id), maxNotificationIDLen)
	case at.IsZero():
		return nil, invalid("%s %s: time is missing", op, id)
	}
	n, ok := s.Notifications[id]
	if !ok {
		return nil, notFound("notification", id)
	}
	return n, nil
}

// RecordNotificationAttempt records a failed delivery attempt of a pending
// notification: Attempts counts it, LastError says why (cut to
// MaxNotificationError bytes), and the leader tries again at NextTry, or,
// with GiveUp, never again: the notification is failed.
//
// It is refused for a notification that is delivered (a late failure
// report cannot undo a delivery) or failed (the loop gave up on it already;
// RetryNotification makes it pending again).
type RecordNotificationAttempt struct {
	ID    string    `json:"id"`
	Time  time.Time `json:"time"`
	Error string    `json:"error"`
	// NextTry is when to try again; required unless GiveUp.
	NextTry time.Time `json:"nextTry,omitzero"`
	GiveUp  bool      `json:"giveUp,omitempty"`
}

// Type implements Command.
func (*RecordNotificationAttempt) Type() CommandType { return RecordNotificationAttemptCommand }

// IgnoreIfUnknown implements ignorable (see SetNotificationRoutes).
func (*RecordNotificationAttempt) IgnoreIfUnknown() bool { return true }

func init() {
	register(RecordNotificationAttemptCommand, (*state).checkRecordNotificationAttempt, (*state).recordNotificationAttempt)
}

// checkRecordNotificationAttempt refuses a malformed attempt, and one of a
// notification that is not pending.
func (s *state) checkRecordNotificationAttempt(c *RecordNotificationAttempt) error {
	const op = "record notification attempt"
	n, err := s.checkNotificationCommand(op, c.ID, c.Time)
	if err != nil {
		return err
	}
	switch {
	case c.Error == "":
		return invalid("%s %s: error is empty; a failed attempt says why", op, c.ID)
	case len(c.Error) > maxNotificationErrorInput:
		return invalid("%s %s: error is %d bytes, more than the %d allowed", op, c.ID, len(c.Error), maxNotificationErrorInput)
	case !c.GiveUp && c.NextTry.IsZero():
		return invalid("%s %s: next try is missing; set it, or give up", op, c.ID)
	case n.State != NotificationPending:
		return fmt.Errorf("%s %s: it is %s; only a pending notification is attempted: %w", op, c.ID, n.State, ErrWrongState)
	}
	return nil
}

// recordNotificationAttempt counts the attempt and returns a
// *NotificationResult.
func (s *state) recordNotificationAttempt(c *RecordNotificationAttempt) any {
	n := s.Notifications[c.ID]
	n.Attempts++
	n.LastError = truncate(c.Error, MaxNotificationError)
	n.Updated = c.Time
	if c.GiveUp {
		n.State = NotificationFailed
		n.NextTry = time.Time{}
	} else {
		n.NextTry = c.NextTry
	}
	return &NotificationResult{Notification: *n}
}

// MarkNotificationDelivered records that a channel accepted a pending or
// failed notification (a failed one: an attempt the loop had already given
// up on succeeded after all). Marking a delivered notification again
// changes nothing and is answered as a duplicate, so a retried command is
// harmless.
type MarkNotificationDelivered struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
}

// Type implements Command.
func (*MarkNotificationDelivered) Type() CommandType { return MarkNotificationDeliveredCommand }

// IgnoreIfUnknown implements ignorable (see SetNotificationRoutes).
func (*MarkNotificationDelivered) IgnoreIfUnknown() bool { return true }

func init() {
	register(MarkNotificationDeliveredCommand, (*state).checkMarkNotificationDelivered, (*state).markNotificationDelivered)
}

// checkMarkNotificationDelivered refuses a malformed command; it accepts
// one for a delivered notification, which markNotificationDelivered
// answers as a duplicate.
func (s *state) checkMarkNotificationDelivered(c *MarkNotificationDelivered) error {
	_, err := s.checkNotificationCommand("mark notification delivered", c.ID, c.Time)
	return err
}

// markNotificationDelivered marks the notification delivered, unless it
// is already, and returns a *NotificationResult.
func (s *state) markNotificationDelivered(c *MarkNotificationDelivered) any {
	n := s.Notifications[c.ID]
	if n.State == NotificationDelivered {
		return &NotificationResult{Notification: *n, Duplicate: true}
	}
	n.State = NotificationDelivered
	n.Attempts++
	n.DeliveredAt = c.Time
	n.NextTry = time.Time{}
	n.Updated = c.Time
	return &NotificationResult{Notification: *n}
}

// RetryNotification makes a failed notification pending again, due at
// Time, with its attempts counted from 0 (so the delivery loop's limit
// applies anew); LastError stays until the next attempt. An admin's
// action.
type RetryNotification struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
}

// Type implements Command.
func (*RetryNotification) Type() CommandType { return RetryNotificationCommand }

// IgnoreIfUnknown implements ignorable (see SetNotificationRoutes).
func (*RetryNotification) IgnoreIfUnknown() bool { return true }

func init() {
	register(RetryNotificationCommand, (*state).checkRetryNotification, (*state).retryNotification)
}

// checkRetryNotification refuses a malformed command, and one of a
// notification that is not failed.
func (s *state) checkRetryNotification(c *RetryNotification) error {
	const op = "retry notification"
	n, err := s.checkNotificationCommand(op, c.ID, c.Time)
	if err != nil {
		return err
	}
	if n.State != NotificationFailed {
		return fmt.Errorf("%s %s: it is %s; only a failed notification is retried: %w", op, c.ID, n.State, ErrWrongState)
	}
	return nil
}

// retryNotification makes the notification pending and returns a
// *NotificationResult.
func (s *state) retryNotification(c *RetryNotification) any {
	n := s.Notifications[c.ID]
	n.State = NotificationPending
	n.Attempts = 0
	n.NextTry = c.Time
	n.Updated = c.Time
	return &NotificationResult{Notification: *n}
}
