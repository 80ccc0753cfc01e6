package fsm

// This file holds NotificationRoute and SetNotificationRoutes, the command
// by which the leader replicates the routes of its configuration: which
// channels hear of which events of which environments.

import (
	"fmt"
	"regexp"
	"slices"
)

// NotificationRoute sends the listed events of the listed environments to
// the listed channels.
type NotificationRoute struct {
	// Events are the events the route carries; at least one.
	Events []NotificationEvent `json:"events"`
	// Environments limits the route to these environments; empty means
	// every environment.
	Environments []string `json:"environments,omitempty"`
	// Channels are the names of the channels (of the leader's
	// configuration) the route delivers to; at least one.
	Channels []string `json:"channels"`
}

// Bounds of SetNotificationRoutes.
const (
	// MaxNotificationRoutes bounds how many routes the state holds.
	MaxNotificationRoutes = 64
	// MaxRouteChannels bounds the channels of one route.
	MaxRouteChannels = 32
	// MaxRouteEnvironments bounds the environments of one route.
	MaxRouteEnvironments = 64
	// MaxChannelName bounds a channel's name, in bytes.
	MaxChannelName = 64
)

// channelNameRE is what a channel may be named: lower-case letters, digits
// and dashes, starting with a letter or digit (and no dot, which separates
// the parts of a notification id).
var channelNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// ValidChannelName reports whether name may name a notification channel:
// at most MaxChannelName bytes of lower-case letters, digits and dashes,
// not starting with a dash.
func ValidChannelName(name string) bool {
	return len(name) <= MaxChannelName && channelNameRE.MatchString(name)
}

// SetNotificationRoutes replaces the routes of the outbox. The leader
// applies it from its configuration when it takes office, as it applies
// SetSettings, so every node records the same notifications. Routes count
// from the entry on: events raised before are not notified again.
// An empty list removes every route.
type SetNotificationRoutes struct {
	Routes []NotificationRoute `json:"routes"`
}

// Type implements Command.
func (*SetNotificationRoutes) Type() CommandType { return SetNotificationRoutesCommand }

// IgnoreIfUnknown implements ignorable: the outbox is an addition an older
// node can go without during a rolling upgrade (it then holds no
// notifications, and, having no delivery loop, sends none).
func (*SetNotificationRoutes) IgnoreIfUnknown() bool { return true }

// SetNotificationRoutesResult is what a SetNotificationRoutes command
// returns.
type SetNotificationRoutesResult struct {
	// Changed is false when the routes were those the state held already:
	// the command changed nothing.
	Changed bool `json:"changed"`
}

func init() {
	register(SetNotificationRoutesCommand, (*state).checkSetNotificationRoutes, (*state).setNotificationRoutes)
}

// checkSetNotificationRoutes refuses routes past the bounds, unknown
// events, bad environment or channel names, and routes without an event
// or a channel.
func (s *state) checkSetNotificationRoutes(c *SetNotificationRoutes) error {
	if err := checkRoutes(c.Routes); err != nil {
		return invalid("set notification routes: %v", err)
	}
	return nil
}

// checkRoutes returns what is wrong with routes, or nil. Restore checks a
// snapshot's routes with it too.
func checkRoutes(routes []NotificationRoute) error {
	if len(routes) > MaxNotificationRoutes {
		return fmt.Errorf("%d routes, more than the %d allowed", len(routes), MaxNotificationRoutes)
	}
	for i, r := range routes {
		switch {
		case len(r.Events) == 0:
			return fmt.Errorf("route %d: no events", i)
		case len(r.Events) > len(AllNotificationEvents):
			return fmt.Errorf("route %d: %d events, more than the %d there are", i, len(r.Events), len(AllNotificationEvents))
		case len(r.Channels) == 0:
			return fmt.Errorf("route %d: no channels", i)
		case len(r.Channels) > MaxRouteChannels:
			return fmt.Errorf("route %d: %d channels, more than the %d allowed", i, len(r.Channels), MaxRouteChannels)
		case len(r.Environments) > MaxRouteEnvironments:
			return fmt.Errorf("route %d: %d environments, more than the %d allowed", i, len(r.Environments), MaxRouteEnvironments)
		}
		for _, e := range r.Events {
			if !e.Valid() {
				return fmt.Errorf("route %d: unknown event %q", i, e)
			}
		}
		for _, env := range r.Environments {
			if !ValidEnvironmentName(env) {
				return fmt.Errorf("route %d: environment name %q is not valid", i, env)
			}
		}
		for _, ch := range r.Channels {
			if !ValidChannelName(ch) {
				return fmt.Errorf("route %d: channel name %q is not valid (at most %d of a-z, 0-9 and -, not starting with -)",
					i, truncate(ch, MaxChannelName+8), MaxChannelName)
			}
		}
	}
	return nil
}

// setNotificationRoutes records a copy of the routes, unless they are
// those held already, and returns a *SetNotificationRoutesResult.
func (s *state) setNotificationRoutes(c *SetNotificationRoutes) any {
	if slices.EqualFunc(s.NotificationRoutes, c.Routes, NotificationRoute.equal) {
		return &SetNotificationRoutesResult{}
	}
	s.NotificationRoutes = cloneRoutes(c.Routes)
	return &SetNotificationRoutesResult{Changed: true}
}

// equal reports whether r and o are the same route (an absent list and an
// empty one are the same).
func (r NotificationRoute) equal(o NotificationRoute) bool {
	return slices.Equal(r.Events, o.Events) && slices.Equal(r.Environments, o.Environments) &&
		slices.Equal(r.Channels, o.Channels)
}

// matches reports whether r carries event ev of environment env.
func (r NotificationRoute) matches(ev NotificationEvent, env string) bool {
	return slices.Contains(r.Events, ev) && (len(r.Environments) == 0 || slices.Contains(r.Environments, env))
}

// cloneRoutes returns a deep copy of routes, nil when there are none (so
// that the state encodes the same before and after a snapshot).
func cloneRoutes(routes []NotificationRoute) []NotificationRoute {
	if len(routes) == 0 {
		return nil
	}
	out := make([]NotificationRoute, len(routes))
	for i, r := range routes {
		out[i] = NotificationRoute{
			Events:       slices.Clone(r.Events),
			Environments: slices.Clone(r.Environments),
			Channels:     slices.Clone(r.Channels),
		}
		if len(r.Environments) == 0 {
			out[i].Environments = nil
		}
	}
	return out
}
