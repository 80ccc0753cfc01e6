package outbox

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/fsm/fsmtest"
	"github.com/honua-io/honua-gitops/internal/notify"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// receiver is a real HTTP server standing in for a webhook's receiver: it
// answers with the status the test sets and records every delivery id it
// got, and whether it answered 2xx to it.
type receiver struct {
	srv    *httptest.Server
	status atomic.Int32
	mu     sync.Mutex
	got    []delivery
}

type delivery struct {
	id, event string
	ok        bool
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.status.Store(http.StatusOK)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		code := int(r.status.Load())
		r.mu.Lock()
		r.got = append(r.got, delivery{req.Header.Get("X-Honua-Delivery"), req.Header.Get("X-Honua-Event"), code/100 == 2})
		r.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// outboxFixture is a real FSM with a route of every event of production to
// one webhook channel, "hook", and a deliverer over it with a clock the
// test moves.
type outboxFixture struct {
	t   *testing.T
	a   *fsmtest.Applier
	rcv *receiver
	now time.Time
	mu  sync.Mutex
}

func newOutboxFixture(t *testing.T) *outboxFixture {
	f := &outboxFixture{t: t, a: fsmtest.New(), rcv: newReceiver(t), now: t0}
	f.a.Must(t, &fsm.SetNotificationRoutes{Routes: []fsm.NotificationRoute{
		{Events: fsm.AllNotificationEvents, Environments: []string{"production"}, Channels: []string{"hook"}},
	}})
	return f
}

func (f *outboxFixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *outboxFixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *outboxFixture) deliverer(c Cluster) *Deliverer {
	hook, err := notify.NewWebhook(notify.WebhookConfig{URL: f.rcv.srv.URL})
	if err != nil {
		f.t.Fatal(err)
	}
	if c == nil {
		c = f.a
	}
	return New(Config{Cluster: c, State: f.a.FSM, Senders: map[string]notify.Sender{"hook": hook},
		MaxAttempts: 3, InitialInterval: time.Minute, MaxInterval: time.Hour, Now: f.clock,
		BaseURL: "https://gitops.example.com"})
}

// create makes a production deployment: one DeploymentCreated notification.
func (f *outboxFixture) create() *fsm.Deployment {
	return f.a.Must(f.t, &fsm.CreateDeployment{Environment: "production", Commit: "c1", Kind: fsm.KindAuto,
		Initiator: "watcher", Time: f.clock()}).(*fsm.Deployment)
}

func (f *outboxFixture) only() fsm.Notification {
	f.t.Helper()
	ns := f.a.FSM.Notifications(fsm.NotificationFilter{})
	if len(ns) != 1 {
		f.t.Fatalf("notifications = %+v; want one", ns)
	}
	return ns[0]
}

func TestDeliveredOnceAndMarked(t *testing.T) {
	f := newOutboxFixture(t)
	d := f.create()
	f.deliverer(nil).round(context.Background())
	n := f.only()
	if n.State != fsm.NotificationDelivered || n.Attempts != 1 {
		t.Fatalf("after a round: %+v; want delivered at the first attempt", n)
	}
	got := f.rcv.deliveries()
	if len(got) != 1 || got[0].id != n.ID || got[0].event != string(fsm.EventDeploymentCreated) {
		t.Fatalf("receiver got %+v; want one %s with delivery id %s", got, fsm.EventDeploymentCreated, n.ID)
	}
	// Nothing is due any more: another round sends nothing.
	f.deliverer(nil).round(context.Background())
	if got := f.rcv.deliveries(); len(got) != 1 {
		t.Errorf("a second round sent again: %+v", got)
	}
	_ = d
}

func TestRetriedWithBackoffUntilTheReceiverIsBack(t *testing.T) {
	f := newOutboxFixture(t)
	f.create()
	f.rcv.status.Store(http.StatusServiceUnavailable)
	dl := f.deliverer(nil)
	dl.round(context.Background())
	n := f.only()
	if n.State != fsm.NotificationPending || n.Attempts != 1 || n.LastError == "" {
		t.Fatalf("after a refused attempt: %+v; want pending, 1 attempt, the error", n)
	}
	if w := n.NextTry.Sub(f.clock()); w < 30*time.Second || w > 90*time.Second {
		t.Errorf("next try in %v; want about the initial interval (1m ±50%%)", w)
	}
	// Not due yet: a round now sends nothing.
	dl.round(context.Background())
	if got := f.rcv.deliveries(); len(got) != 1 {
		t.Fatalf("sent before its next try: %+v", got)
	}
	f.rcv.status.Store(http.StatusOK)
	f.advance(2 * time.Minute)
	dl.round(context.Background())
	n = f.only()
	if n.State != fsm.NotificationDelivered || n.Attempts != 2 {
		t.Fatalf("after the receiver came back: %+v; want delivered at attempt 2", n)
	}
	for _, g := range f.rcv.deliveries() {
		if g.id != n.ID {
			t.Errorf("a retry carried delivery id %q; want %q every time", g.id, n.ID)
		}
	}
}

func TestGivesUpAfterMaxAttemptsAndRetryByHand(t *testing.T) {
	f := newOutboxFixture(t)
	f.create()
	f.rcv.status.Store(http.StatusInternalServerError)
	dl := f.deliverer(nil)
	for range 3 {
		dl.round(context.Background())
		f.advance(3 * time.Hour)
	}
	n := f.only()
	if n.State != fsm.NotificationFailed || n.Attempts != 3 {
		t.Fatalf("after 3 refused attempts: %+v; want failed after 3", n)
	}
	dl.round(context.Background())
	if got := len(f.rcv.deliveries()); got != 3 {
		t.Errorf("a failed notification was sent again: %d attempts", got)
	}
	f.rcv.status.Store(http.StatusOK)
	f.a.Must(t, &fsm.RetryNotification{ID: n.ID, Time: f.clock()})
	dl.round(context.Background())
	if n := f.only(); n.State != fsm.NotificationDelivered {
		t.Errorf("after a retry by hand: %+v; want delivered", n)
	}
}

func TestPermanentRefusalFailsAtOnce(t *testing.T) {
	f := newOutboxFixture(t)
	f.create()
	f.rcv.status.Store(http.StatusBadRequest)
	f.deliverer(nil).round(context.Background())
	if n := f.only(); n.State != fsm.NotificationFailed || n.Attempts != 1 {
		t.Errorf("after a 400: %+v; want failed at once", n)
	}
}

// lostMark is a cluster whose leadership is lost when the deliverer
// records a delivery: the receiver got it, the outbox does not know.
type lostMark struct{ *fsmtest.Applier }

func (l lostMark) Apply(ctx context.Context, c fsm.Command) (any, error) {
	if _, ok := c.(*fsm.MarkNotificationDelivered); ok {
		return nil, errors.New("leadership lost")
	}
	return l.Applier.Apply(ctx, c)
}

// A leader that sent a notification and lost its leadership before it
// recorded the delivery leaves it pending: the next leader sends it again,
// with the same delivery id, and it is marked delivered only after a 2xx.
func TestNextLeaderSendsWhatWasNotMarked(t *testing.T) {
	f := newOutboxFixture(t)
	f.create()
	f.deliverer(lostMark{f.a}).round(context.Background())
	if n := f.only(); n.State != fsm.NotificationPending {
		t.Fatalf("after a send whose record was lost: %+v; want pending", n)
	}
	f.deliverer(nil).round(context.Background())
	n := f.only()
	got := f.rcv.deliveries()
	if n.State != fsm.NotificationDelivered || len(got) != 2 || got[0].id != got[1].id || got[0].id != n.ID {
		t.Fatalf("the next leader: %+v, receiver got %+v; want the same delivery id twice, then delivered", n, got)
	}
}

// A channel this node does not know (the configuration changed) fails the
// notification at once, saying so.
func TestUnknownChannelFails(t *testing.T) {
	f := newOutboxFixture(t)
	f.create()
	dl := f.deliverer(nil)
	dl.cfg.Senders = nil
	dl.round(context.Background())
	if n := f.only(); n.State != fsm.NotificationFailed || n.LastError == "" {
		t.Errorf("with no such channel: %+v; want failed with the reason", n)
	}
}

func TestBackoffGrowsWithJitterUpToTheMax(t *testing.T) {
	d := New(Config{InitialInterval: time.Second, MaxInterval: time.Minute})
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 5: 16 * time.Second, 12: time.Minute} {
		for range 20 {
			if w := d.wait(attempt); w < want/2 || w > want*3/2 {
				t.Errorf("wait after attempt %d = %v; want %v ±50%%", attempt, w, want)
			}
		}
	}
}

// Run, on the leader, delivers a notification recorded after it started,
// woken by the state's change, and returns when leadership goes.
func TestRunDeliversAsTheStateChanges(t *testing.T) {
	f := newOutboxFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		f.deliverer(nil).Run(ctx)
		close(done)
	}()
	f.create()
	deadline := time.Now().Add(30 * time.Second)
	for f.only().State != fsm.NotificationDelivered {
		if time.Now().After(deadline) {
			t.Fatalf("not delivered within 30s: %+v", f.only())
		}
		select {
		case <-f.a.FSM.Changed():
		case <-time.After(100 * time.Millisecond):
		}
	}
	cancel()
	<-done
}
