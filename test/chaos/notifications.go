package chaos

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// Every run routes every event of every environment to one webhook
// channel, "hook", received by hookReceiver: a real HTTP server that
// verifies each delivery's signature, as a user's would. It is down (503)
// for hookDown of every hookPeriod while the workload runs, so that
// deliveries are retried across the faults the schedule makes (leaders
// killed, paused, partitioned). Check then waits for the outbox to empty
// and checks it (notificationViolations).
const (
	hookChannel = "hook"
	hookPeriod  = 8 * time.Second
	hookDown    = 3 * time.Second
	hookSecret  = "chaos-hook-secret"
)

// hookReceiver records every delivery it got: its id, and whether it
// answered 2xx.
type hookReceiver struct {
	srv  *httptest.Server
	down atomic.Bool
	mu   sync.Mutex
	got  map[string][]bool
	bad  []string
}

// startHookReceiver starts the receiver on host and writes the channel's
// secret file in dir; it returns the receiver and the file.
func startHookReceiver(r *Run, host, dir string) (*hookReceiver, string) {
	h := &hookReceiver{got: map[string][]bool{}}
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(h.serve))
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		r.t.Fatalf("notification receiver: %v", err)
	}
	h.srv.Listener.Close()
	h.srv.Listener = ln
	h.srv.Start()
	r.t.Cleanup(h.srv.Close)
	secretFile := filepath.Join(dir, "hook-secret")
	if err := os.WriteFile(secretFile, []byte(hookSecret+"\n"), 0o600); err != nil {
		r.t.Fatal(err)
	}
	return h, secretFile
}

func (h *hookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	id := req.Header.Get("X-Honua-Delivery")
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case !api.ValidNotificationSignature([]byte(hookSecret), body, req.Header.Get(api.NotificationSignatureHeader)):
		h.bad = append(h.bad, fmt.Sprintf("delivery %q without a valid signature", id))
		w.WriteHeader(http.StatusUnauthorized)
	case h.down.Load():
		h.got[id] = append(h.got[id], false)
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		h.got[id] = append(h.got[id], true)
		w.WriteHeader(http.StatusNoContent)
	}
}

// configYAML is the notifications section of the nodes' configuration.
func (h *hookReceiver) configYAML(secretFile string) string {
	// Retries wait at most 2s, less than the receiver's up time, so that
	// every notification gets an attempt in every up time while a leader
	// lives: a backoff of minutes would outlast the check's wait.
	return fmt.Sprintf("notifications:\n  channels:\n    - { name: %s, type: webhook, url: %q, secretFile: %s }\n"+
		"  routes:\n    - events: [%s]\n      channels: [%s]\n"+
		"  retry: { maxAttempts: 1000, initialInterval: 100ms, maxInterval: 2s }\n",
		hookChannel, h.srv.URL+"/", secretFile, eventList(), hookChannel)
}

func eventList() string {
	var s []byte
	for i, e := range fsm.AllNotificationEvents {
		if i > 0 {
			s = append(s, ", "...)
		}
		s = append(s, e...)
	}
	return string(s)
}

// flap takes the receiver down for hookDown of every hookPeriod until the
// run's background work stops; it is up when flap returns.
func (h *hookReceiver) flap(r *Run) {
	r.bgWG.Add(1)
	go func() {
		defer r.bgWG.Done()
		defer h.down.Store(false)
		for {
			h.down.Store(false)
			select {
			case <-r.bg.Done():
				return
			case <-time.After(hookPeriod - hookDown):
			}
			h.down.Store(true)
			select {
			case <-r.bg.Done():
				return
			case <-time.After(hookDown):
			}
		}
	}()
}

// checkNotifications waits, with the receiver up, until the outbox holds
// nothing pending, then checks every final deployment's notifications
// against its transitions and what the receiver got, and notes the
// duplicate rate.
func (r *Run) checkNotifications(final *finalState) {
	r.t.Helper()
	h := r.hook
	h.down.Store(false)
	leader, err := r.cluster.WaitForLeader(leaderTimeout)
	if err != nil {
		r.t.Fatal(err)
	}
	cl := r.nodeClient(leader)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		pending, err := cl.Notifications(ctx, api.NotificationFilter{State: api.NotificationPending, Limit: 1},
			&api.QueryOptions{Consistent: true})
		cancel()
		if err == nil && len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			r.t.Errorf("notifications: still pending 3 minutes after the run settled: %+v (%v)", pending, err)
			break
		}
		<-tick.C
	}
	var notes []api.Notification
	for id := range final.deps {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		ns, err := cl.Notifications(ctx, api.NotificationFilter{Deployment: id, Limit: 1000}, nil)
		cancel()
		if err != nil {
			r.t.Fatalf("notifications of %s: %v", id, err)
		}
		notes = append(notes, ns...)
	}
	violations, figures := notificationViolations(final, notes, h)
	r.report("notifications", violations)
	r.Logf("%s", figures)
}

// notificationViolations checks the outbox at the end of a run: every
// notification the final deployments should have raised exists, and no
// other; each is delivered, and only after the receiver answered it 2xx;
// the receiver got no delivery id that is not a notification. It logs how
// many deliveries were duplicates.
func notificationViolations(final *finalState, notes []api.Notification, h *hookReceiver) (out []string, figures string) {
	want := map[string]bool{}
	for _, d := range final.deps {
		if d.DryRun {
			continue
		}
		from := fsm.DeploymentState(0)
		for _, t := range d.Transitions {
			for _, ev := range fsm.NotificationEventsOf(from, fsmState(t.To)) {
				want[fsm.NotificationID(d.ID, ev, hookChannel)] = true
			}
			from = fsmState(t.To)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	out = append(out, h.bad...)
	have := map[string]bool{}
	sends, refused, dups := 0, 0, 0
	for _, n := range notes {
		have[n.ID] = true
		if !want[n.ID] {
			out = append(out, fmt.Sprintf("notification %s: no transition of the final state raises it", n.ID))
		}
		oks := 0
		for _, ok := range h.got[n.ID] {
			if ok {
				oks++
			} else {
				refused++
			}
		}
		sends += len(h.got[n.ID])
		if oks > 1 {
			dups += oks - 1
		}
		switch {
		case n.State != api.NotificationDelivered:
			out = append(out, fmt.Sprintf("notification %s is %s after %d attempts: %s", n.ID, n.State, n.Attempts, n.LastError))
		case oks == 0:
			out = append(out, fmt.Sprintf("notification %s is marked delivered, but the receiver never answered it 2xx (%v)", n.ID, h.got[n.ID]))
		}
	}
	var missing []string
	for id := range want {
		if !have[id] {
			missing = append(missing, id)
		}
	}
	slices.Sort(missing)
	for _, id := range missing {
		out = append(out, "notification "+id+" should exist and does not")
	}
	for id := range h.got {
		if !have[id] {
			out = append(out, fmt.Sprintf("the receiver got delivery id %q, which is no notification", id))
		}
	}
	figures = fmt.Sprintf("notifications: %d; %d sends, %d of them refused while the receiver was down; %d duplicate deliveries (%.1f%%), each with its notification's delivery id",
		len(notes), sends, refused, dups, 100*float64(dups)/float64(max(1, len(notes))))
	return out, figures
}
