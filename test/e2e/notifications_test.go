package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/harness"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// hookReceiver is a real HTTP server receiving a webhook channel, as a
// user's receiver would: it verifies each delivery's signature and
// answers 503 while "down". It records every delivery id with whether it
// answered 2xx.
type hookReceiver struct {
	srv    *httptest.Server
	secret []byte
	down   atomic.Bool
	mu     sync.Mutex
	got    map[string][]bool // delivery id → answered 2xx, per delivery
	events map[string]string // delivery id → X-Honua-Event
	bad    []string          // what it refused for a bad signature or body
}

func newHookReceiver(t *testing.T, secret []byte) *hookReceiver {
	r := &hookReceiver{secret: secret, got: map[string][]bool{}, events: map[string]string{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		sigOK := api.ValidNotificationSignature(r.secret, body, req.Header.Get(api.NotificationSignatureHeader))
		var m struct{ ID, Event string }
		jsonOK := json.Unmarshal(body, &m) == nil
		id := req.Header.Get("X-Honua-Delivery")
		r.mu.Lock()
		defer r.mu.Unlock()
		switch {
		case !sigOK || !jsonOK || m.ID != id:
			r.bad = append(r.bad, fmt.Sprintf("delivery %q: signature ok %v, body %q", id, sigOK, body))
			w.WriteHeader(http.StatusUnauthorized)
		case r.down.Load():
			r.got[id] = append(r.got[id], false)
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			r.got[id] = append(r.got[id], true)
			r.events[id] = req.Header.Get("X-Honua-Event")
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// TestNotificationsAcrossFailover runs three nodes whose staging
// notifications go to a webhook receiver that is down at first. The
// leader is killed while deliveries are pending; the receiver comes back.
// In the end every notification the deployment should raise was delivered
// at least once, every duplicate carries the same delivery id, and none was
// marked delivered without a 2xx.
func TestNotificationsAcrossFailover(t *testing.T) {
	skipIfShort(t)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "hook-secret")
	if err := os.WriteFile(secretFile, []byte("hook-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rcv := newHookReceiver(t, []byte("hook-s3cret"))
	rcv.down.Store(true)

	repo := gitserver.NewRepo(t)
	commit := repo.Commit(sampleconfig.Merge(sampleconfig.Env("staging", sampleconfig.Points),
		sampleconfig.WithPolicy(sampleconfig.NeverApprove("staging"))), "staging with one layer")
	daemon := gitserver.StartDaemon(t, repo.Root())
	cfg := fmt.Sprintf(`repository:
  url: %s
  branch: main
  pollInterval: 1s
environments:
  staging:
    targets:
      - type: directory
        path: %s
notifications:
  baseURL: https://gitops.example.com
  channels:
    - { name: hook, type: webhook, url: %q, secretFile: %s }
  routes:
    - { events: [DeploymentCreated, DeploymentStarted, DeploymentCompleted, DeploymentFailed], environments: [staging], channels: [hook] }
`, daemon.URL(repo.Name()), filepath.Join(dir, "staging"), rcv.srv.URL, secretFile)
	config := filepath.Join(dir, "honuad.yaml")
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	c := harness.Start(t, 3, harness.Options{Args: []string{"--config", config}})
	leader := waitForHealthy(t, c, "n1", "n2", "n3")
	client, err := api.NewClient(api.Config{Addrs: c.URLs(), Timeout: waitTimeout / 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// The first deployment completes while the receiver is down: its
	// notifications wait, with failed attempts recorded.
	var dep api.DeploymentSummary
	if err := harness.Poll(waitTimeout, "staging's first deployment to complete", func() error {
		ds, err := client.Deployments(ctx, api.DeploymentFilter{Env: "staging"}, nil)
		if err != nil || len(ds) == 0 || ds[0].State != api.StateCompleted || ds[0].Commit != commit {
			return fmt.Errorf("deployments %+v, %v", ds, err)
		}
		dep = ds[0]
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, ev := range []string{"DeploymentCreated", "DeploymentStarted", "DeploymentCompleted"} {
		want[dep.ID+"."+ev+".hook"] = true
	}
	if err := harness.Poll(waitTimeout, "failed attempts on every notification", func() error {
		ns, err := client.Notifications(ctx, api.NotificationFilter{Deployment: dep.ID}, nil)
		if err != nil {
			return err
		}
		tried := 0
		for _, n := range ns {
			if n.Attempts > 0 && n.State == api.NotificationPending && n.LastError != "" {
				tried++
			}
		}
		if len(ns) != len(want) || tried != len(want) {
			return fmt.Errorf("notifications %+v", ns)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// The leader dies with every delivery pending; the receiver comes back.
	leader.Kill()
	if _, err := c.WaitForLeader(waitTimeout); err != nil {
		t.Fatal(err)
	}
	rcv.down.Store(false)
	var final []api.Notification
	if err := harness.Poll(2*waitTimeout, "every notification delivered by the new leader", func() error {
		ns, err := client.Notifications(ctx, api.NotificationFilter{Deployment: dep.ID}, nil)
		if err != nil {
			return err
		}
		for _, n := range ns {
			if n.State != api.NotificationDelivered {
				return fmt.Errorf("%s is %s after %d attempts (%s)", n.ID, n.State, n.Attempts, n.LastError)
			}
		}
		final = ns
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.bad) > 0 {
		t.Errorf("the receiver refused deliveries: %v", rcv.bad)
	}
	if len(final) != len(want) {
		t.Errorf("notifications %+v; want exactly %v", final, want)
	}
	deliveries, oks := 0, 0
	for _, n := range final {
		if !want[n.ID] {
			t.Errorf("unexpected notification %s", n.ID)
		}
		answered := rcv.got[n.ID]
		ok := 0
		for _, a := range answered {
			if a {
				ok++
			}
		}
		if ok == 0 {
			t.Errorf("%s is marked delivered, but the receiver never answered it 2xx (%v)", n.ID, answered)
		}
		if ev := rcv.events[n.ID]; ev != string(n.Event) {
			t.Errorf("%s arrived as event %q; want %s", n.ID, ev, n.Event)
		}
		deliveries += len(answered)
		oks += ok
	}
	for id := range rcv.got {
		if !want[id] {
			t.Errorf("the receiver got delivery id %q, which is no notification of %s", id, dep.ID)
		}
	}
	// Every send of a notification carries its id (checked above: the
	// receiver only records by id, and each id is a notification). The
	// duplicates are the 2xx answers beyond the first of each.
	t.Logf("notifications %d, sends %d (refused while down %d), 2xx answers %d, duplicate rate %.0f%%",
		len(final), deliveries, deliveries-oks, oks, 100*float64(oks-len(final))/float64(len(final)))
}
