package chaos

import (
	"context"
	"sync"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/test/harness"
)

// eventLog holds the transitions every node's event stream sent, per
// node, in the order sent.
type eventLog struct {
	mu     sync.Mutex
	byNode map[string][]api.Event
	// streams counts the streams opened per node (one per reconnect).
	streams map[string]int
}

func newEventLog() *eventLog {
	return &eventLog{byNode: map[string][]api.Event{}, streams: map[string]int{}}
}

func (l *eventLog) add(node string, e api.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.byNode[node] = append(l.byNode[node], e)
}

func (l *eventLog) opened(node string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.streams[node]++
}

// snapshot returns a copy of every node's events.
func (l *eventLog) snapshot() map[string][]api.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string][]api.Event, len(l.byNode))
	for n, es := range l.byNode {
		out[n] = append([]api.Event(nil), es...)
	}
	return out
}

// watchEvents reads n's event stream from the start until the run's
// background work stops, resuming after the last event whenever the stream
// breaks (the node was killed, restarted, paused past a timeout).
func (r *Run) watchEvents(n *harness.Node) {
	r.bgWG.Add(1)
	go func() {
		defer r.bgWG.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		last := ""
		for r.bg.Err() == nil {
			if n.Running() && !n.Paused() {
				last = r.readEvents(n, last)
			}
			select {
			case <-r.bg.Done():
			case <-tick.C:
			}
		}
	}()
}

// readEvents reads one stream of n's events after last until it breaks,
// and returns the id of the last event read.
func (r *Run) readEvents(n *harness.Node, last string) string {
	ctx, cancel := context.WithCancel(r.bg)
	defer cancel()
	s, err := r.nodeClient(n).Events(ctx, api.EventOptions{LastEventID: last})
	if err != nil {
		return last
	}
	defer s.Close()
	r.events.opened(n.ID())
	for {
		e, err := s.Next()
		if err != nil {
			return last
		}
		r.events.add(n.ID(), *e)
		last = s.LastEventID()
	}
}
