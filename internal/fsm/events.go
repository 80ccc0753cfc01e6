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

// EventsAfter returns, in order, the transitions after the given id of the
// deployments this node still holds, of env only when env is not empty.
func (f *FSM) EventsAfter(after EventID, env string) []Event {
	type entry struct {
		index, num uint64
		pos        int
		d          *Deployment
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
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
	var out []Event
	rank := 0
	for i, e := range all {
		if i > 0 && all[i-1].index == e.index {
			rank++
		} else {
			rank = 0
		}
		id := EventID{Index: e.index, N: rank}
		if id.compare(after) <= 0 || (env != "" && e.d.Environment != env) {
			continue
		}
		t := e.d.Transitions[e.pos]
		out = append(out, Event{ID: id.String(), DeploymentID: e.d.ID, Environment: e.d.Environment,
			Commit: e.d.Commit, Kind: e.d.Kind, From: t.From, To: t.To, Time: t.Time, Message: t.Message})
	}
	return out
}
