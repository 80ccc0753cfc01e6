package fsm

// This file holds the reads of the outbox. Each takes the read lock and
// returns copies.

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// NotificationFilter selects notifications; a zero field selects all.
type NotificationFilter struct {
	// State, when set, keeps the notifications in that state.
	State NotificationState
	// DeploymentID, when set, keeps that deployment's notifications.
	DeploymentID string
	// Limit, when above 0, keeps at most that many (the newest).
	Limit int
}

// Notifications returns copies of the notifications the filter selects,
// newest first: by the Raft index of the entry that raised them, then by
// id, so that every node lists them in the same order.
func (f *FSM) Notifications(filter NotificationFilter) []Notification {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []Notification
	keep := func(n *Notification) {
		if filter.State == "" || n.State == filter.State {
			out = append(out, *n)
		}
	}
	if filter.DeploymentID != "" {
		for _, id := range f.st.notesOf[filter.DeploymentID] {
			keep(f.st.Notifications[id])
		}
	} else {
		for _, n := range f.st.Notifications {
			keep(n)
		}
	}
	slices.SortFunc(out, func(a, b Notification) int { return compareNotifications(b, a) })
	if filter.Limit > 0 && len(out) > filter.Limit {
		out = out[:filter.Limit]
	}
	return out
}

// Notification returns a copy of the notification with the given id.
func (f *FSM) Notification(id string) (Notification, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	n, ok := f.st.Notifications[id]
	if !ok {
		return Notification{}, false
	}
	return *n, true
}

// DueNotifications returns copies of the pending notifications whose
// NextTry is not after now, oldest first (in the order their events were
// raised), at most max of them when max > 0: what the leader's delivery
// loop sends next.
func (f *FSM) DueNotifications(now time.Time, max int) []Notification {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []Notification
	for _, n := range f.st.Notifications {
		if n.State == NotificationPending && !n.NextTry.After(now) {
			out = append(out, *n)
		}
	}
	slices.SortFunc(out, compareNotifications)
	if max > 0 && len(out) > max {
		out = out[:max]
	}
	return out
}

// NotificationRoutes returns a copy of the routes in force.
func (f *FSM) NotificationRoutes() []NotificationRoute {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return cloneRoutes(f.st.NotificationRoutes)
}

// compareNotifications orders notifications oldest first: by the index of
// the entry that raised them, then by id.
func compareNotifications(a, b Notification) int {
	if c := cmp.Compare(a.Index, b.Index); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}
