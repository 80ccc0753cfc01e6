package fsm

// This file records notifications: in the entry that moves a deployment,
// one pending Notification per channel of every route that matches the
// event and the deployment's environment (notify); and forgets them with
// their deployment (forgetNotifications). It also checks a restored
// snapshot's notifications.
//
// How many notifications the state holds is bounded: at most one per
// (deployment, event, channel), so at most the deployments held (each
// environment keeps HistoryRetention of them) × len(AllNotificationEvents)
// × the distinct channels of the routes (at most MaxNotificationRoutes ×
// MaxRouteChannels). A deployment's notifications go when retention prunes
// the deployment, delivered or not.

import (
	"fmt"
	"strings"
)

// notify records the notifications of the moves the entry being applied
// made (s.moved). Called after every accepted command; with no routes it
// does nothing. A deployment the same entry pruned (history retention of
// 1, say) is not notified: its notifications would go with it at once.
func (s *state) notify() {
	if len(s.NotificationRoutes) == 0 {
		return
	}
	for _, d := range s.moved {
		if d.DryRun || s.Deployments[d.ID] != d {
			continue
		}
		for i := range d.Transitions {
			t := d.Transitions[i]
			if t.Index != s.index {
				continue
			}
			for _, ev := range NotificationEventsOf(t.From, t.To) {
				s.record(d, t, ev)
			}
		}
	}
}

// record adds a pending notification of d's event ev, raised by move t,
// for every channel of the matching routes that has none yet.
func (s *state) record(d *Deployment, t Transition, ev NotificationEvent) {
	for _, r := range s.NotificationRoutes {
		if !r.matches(ev, d.Environment) {
			continue
		}
		for _, ch := range r.Channels {
			id := NotificationID(d.ID, ev, ch)
			if _, ok := s.Notifications[id]; ok {
				continue
			}
			actor, reason := describeEvent(d, t, ev)
			at := t.Time.Time()
			s.Notifications[id] = &Notification{
				ID: id, DeploymentID: d.ID, Environment: d.Environment, Channel: ch, Event: ev,
				State: NotificationPending, CreatedAt: at, Index: s.index,
				Actor: actor, Reason: reason, NextTry: at, Updated: at,
			}
			s.notesOf[d.ID] = append(s.notesOf[d.ID], id)
		}
	}
}

// describeEvent returns who is behind event ev of d, raised by move t, and
// why it happened, both bounded.
func describeEvent(d *Deployment, t Transition, ev NotificationEvent) (actor, reason string) {
	actor, reason = d.Initiator, t.Message
	switch ev {
	case EventApproved:
		who := make([]string, len(d.Approvals))
		for i, a := range d.Approvals {
			who[i] = a.Identity
		}
		actor = strings.Join(who, ", ")
	case EventRejected:
		if d.Rejection != nil {
			actor, reason = d.Rejection.Identity, d.Rejection.Reason
		}
	case EventCancelled:
		if d.Cancellation != nil {
			actor, reason = d.Cancellation.Identity, d.Cancellation.Reason
		}
	case EventDeploymentFailed, EventRollbackFailed:
		switch {
		case d.Error == "" || d.Error == reason:
		case reason == "":
			reason = d.Error
		default:
			reason += ": " + d.Error
		}
	}
	return truncate(actor, MaxNotificationActor), truncate(reason, MaxNotificationReason)
}

// forgetNotifications forgets the notifications of deployment id, which
// retention prunes.
func (s *state) forgetNotifications(id string) {
	for _, n := range s.notesOf[id] {
		delete(s.Notifications, n)
	}
	delete(s.notesOf, id)
}

// indexNotifications rebuilds notesOf, the notifications of each
// deployment, from Notifications (after a restore). The order of each
// list does not matter: it is only used to forget them all.
func (s *state) indexNotifications() {
	s.notesOf = map[string][]string{}
	for id, n := range s.Notifications {
		s.notesOf[n.DeploymentID] = append(s.notesOf[n.DeploymentID], id)
	}
}

// checkNotifications reports what a restored snapshot's routes and
// notifications must not have: routes SetNotificationRoutes would refuse,
// a notification missing or filed under another id, an id that is not
// derived from its deployment, event and channel, a deployment the state
// does not hold, or a field out of its bounds.
func (s *state) checkNotifications() error {
	if err := checkRoutes(s.NotificationRoutes); err != nil {
		return fmt.Errorf("notification routes: %w", err)
	}
	for id, n := range s.Notifications {
		if err := s.checkNotification(id, n); err != nil {
			return fmt.Errorf("notification %s: %w", truncate(id, maxNotificationIDLen), err)
		}
	}
	return nil
}

func (s *state) checkNotification(id string, n *Notification) error {
	switch {
	case n == nil || n.ID != id:
		return fmt.Errorf("record does not match its key")
	case !n.Event.Valid():
		return fmt.Errorf("unknown event %q", n.Event)
	case !n.State.Valid():
		return fmt.Errorf("unknown state %q", n.State)
	case !ValidChannelName(n.Channel):
		return fmt.Errorf("channel name %q is not valid", n.Channel)
	case id != NotificationID(n.DeploymentID, n.Event, n.Channel):
		return fmt.Errorf("id is not <deployment>.<event>.<channel>")
	case n.Attempts < 0:
		return fmt.Errorf("attempts %d is negative", n.Attempts)
	case len(n.Actor) > MaxNotificationActor || len(n.Reason) > MaxNotificationReason ||
		len(n.LastError) > MaxNotificationError:
		return fmt.Errorf("actor, reason or last error is longer than allowed")
	}
	d := s.Deployments[n.DeploymentID]
	if d == nil {
		return fmt.Errorf("deployment %s is not held", n.DeploymentID)
	}
	if d.Environment != n.Environment {
		return fmt.Errorf("environment %q is not its deployment's, %q", n.Environment, d.Environment)
	}
	return nil
}
