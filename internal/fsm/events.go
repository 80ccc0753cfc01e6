package fsm

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// EventID orders the stream of transitions: the Raft index of the command
// that made the transition, then its rank among that command's transitions.
// Every node assigns the same ids, so a client can resume on any node.
type EventID struct {
	Index uint64
	N     int
}

// String returns "<index>.<n>".
func (e EventID) String() string { return fmt.Sprintf("%d.%d", e.Index, e.N) }

// ParseEventID parses the form String returns; "" is the start.
func ParseEventID(s string) (EventID, error) {
	if s == "" {
		return EventID{}, nil
	}
	i, n, ok := strings.Cut(s, ".")
	idx, err1 := strconv.ParseUint(i, 10, 64)
	rank, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || rank < 0 {
		return EventID{}, fmt.Errorf("event id %q is not of the form <index>.<n>", s)
	}
	return EventID{Index: idx, N: rank}, nil
}

func (e EventID) compare(o EventID) int {
	if c := cmp.Compare(e.Index, o.Index); c != 0 {
		return c
	}
	return cmp.Compare(e.N, o.N)
}

// Event is one deployment transition, as the event stream sends it.
type Event struct {
	ID           string          `json:"id"`
	DeploymentID string          `json:"deploymentId"`
	Environment  string          `json:"environment"`
	Commit       string          `json:"commit"`
	Kind         Kind            `json:"kind"`
	From         DeploymentState `json:"from,omitempty"`
	To           DeploymentState `json:"to"`
	Time         time.Time       `json:"time"`
	Message      string          `json:"message,omitempty"`
}

// eventLogSize is how many recent events the FSM keeps in memory to answer
// EventsAfter without scanning every deployment.
const eventLogSize = 10000

// eventLog holds the latest events in order.
type eventLog struct {
	ids    []EventID
	events []Event
	// complete: the log holds every event of the state, none trimmed.
	complete bool
}

func (l *eventLog) add(id EventID, e Event) {
	l.ids = append(l.ids, id)
	l.events = append(l.events, e)
	if len(l.ids) > 2*eventLogSize {
		l.ids = append([]EventID(nil), l.ids[len(l.ids)-eventLogSize:]...)
		l.events = append([]Event(nil), l.events[len(l.events)-eventLogSize:]...)
		l.complete = false
	}
}

// covers reports whether the log holds every event after after.
func (l *eventLog) covers(after EventID) bool {
	return l.complete || (len(l.ids) > 0 && after.compare(l.ids[0]) >= 0)
}

// since returns the events after after, of env only when env is not empty.
func (l *eventLog) since(after EventID, env string) []Event {
	i, _ := slices.BinarySearchFunc(l.ids, after, EventID.compare)
	if i < len(l.ids) && l.ids[i] == after {
		i++
	}
	var out []Event
	for j := i; j < len(l.events); j++ {
		if env == "" || l.events[j].Environment == env {
			out = append(out, l.events[j])
		}
	}
	return out
}

// record appends to the event log the transitions the entry at index made.
// Called under the write lock, after the state applied the entry.
func (f *FSM) record(index uint64) {
	moved := f.st.moved
	if len(moved) == 0 {
		return
	}
	type entry struct {
		num uint64
		pos int
		d   *Deployment
	}
	var es []entry
	for _, d := range moved {
		for i := len(d.Transitions) - 1; i >= 0 && d.Transitions[i].Index == index; i-- {
			es = append(es, entry{idNumber(d.ID), i, d})
		}
	}
	slices.SortFunc(es, func(a, b entry) int {
		if c := cmp.Compare(a.num, b.num); c != 0 {
			return c
		}
		return cmp.Compare(a.pos, b.pos)
	})
	for n, e := range es {
		id := EventID{Index: index, N: n}
		f.events.add(id, eventOf(id, e.d, e.pos))
	}
}

func eventOf(id EventID, d *Deployment, pos int) Event {
	t := d.Transitions[pos]
	return Event{ID: id.String(), DeploymentID: d.ID, Environment: d.Environment,
		Commit: d.Commit, Kind: d.Kind, From: t.From, To: t.To, Time: t.Time.Time(), Message: t.Message}
}

// rebuildEvents refills the event log from the state (after a restore):
// the newest eventLogSize transitions. Only those become Events.
func (f *FSM) rebuildEvents() {
	// Only the newest eventLogSize transitions are kept: find the index
	// from which they start by sorting the indexes alone, and sort the
	// transitions from it, rather than every transition of the state
	// (a tenth of a restore's time with 100,000 deployments).
	n := 0
	for _, d := range f.st.Deployments {
		n += len(d.Transitions)
	}
	from := uint64(0)
	if n > eventLogSize {
		idx := make([]uint64, 0, n)
		for _, d := range f.st.Deployments {
			for _, t := range d.Transitions {
				idx = append(idx, t.Index)
			}
		}
		slices.Sort(idx)
		from = idx[n-eventLogSize]
	}
	// N -1: every transition at index from, the first included.
	all := f.transitionsAfter(EventID{Index: from, N: -1})
	l := eventLog{complete: n <= eventLogSize}
	if len(all) > eventLogSize {
		all = all[len(all)-eventLogSize:]
	}
	l.ids = make([]EventID, 0, len(all))
	l.events = make([]Event, 0, len(all))
	for _, e := range all {
		l.ids = append(l.ids, e.id)
		l.events = append(l.events, eventOf(e.id, e.d, e.pos))
	}
	f.events = l
}

// RecentEventsAfter is EventsAfter from the in-memory event log only: the
// newest transitions, never a scan of every deployment. A reader that
// follows the stream as it happens (the metrics) needs no more; what it
// misses are transitions older than the log (after a restore, say).
func (f *FSM) RecentEventsAfter(after EventID, env string) []Event {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.events.since(after, env)
}

// EventsAfter returns, in order, the transitions after the given id, of env
// only when env is not empty: from the event log when it reaches back that
// far, otherwise from the deployments this node still holds.
func (f *FSM) EventsAfter(after EventID, env string) []Event {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.events.covers(after) {
		return f.events.since(after, env)
	}
	return f.scanEvents(after, env)
}

// scanEvents builds the events after after from every deployment held.
// Called with the lock held.
func (f *FSM) scanEvents(after EventID, env string) []Event {
	var out []Event
	for _, e := range f.transitionsAfter(after) {
		if env == "" || e.d.Environment == env {
			out = append(out, eventOf(e.id, e.d, e.pos))
		}
	}
	return out
}

// transition names one transition of a deployment held, with its event id.
type transition struct {
	id  EventID
	d   *Deployment
	pos int
}

// transitionsAfter returns, in event order, the transitions of every
// deployment held whose event id is after after. Called with the lock held.
func (f *FSM) transitionsAfter(after EventID) []transition {
	type entry struct {
		index, num uint64
		pos        int
		d          *Deployment
	}
	var all []entry
	for _, d := range f.st.Deployments {
		num := idNumber(d.ID)
		for i, t := range d.Transitions {
			if t.Index >= after.Index {
				all = append(all, entry{t.Index, num, i, d})
			}
		}
	}
	slices.SortFunc(all, func(a, b entry) int {
		if c := cmp.Compare(a.index, b.index); c != 0 {
			return c
		}
		if c := cmp.Compare(a.num, b.num); c != 0 {
			return c
		}
		return cmp.Compare(a.pos, b.pos)
	})
	out := make([]transition, 0, len(all))
	rank := 0
	for i, e := range all {
		if i > 0 && all[i-1].index == e.index {
			rank++
		} else {
			rank = 0
		}
		id := EventID{Index: e.index, N: rank}
		if id.compare(after) <= 0 {
			continue
		}
		out = append(out, transition{id, e.d, e.pos})
	}
	return out
}
