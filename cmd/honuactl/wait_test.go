package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
)

// ev is an event of the fake's stream.
func ev(index uint64, id string, kind api.Kind, from, to api.DeploymentState, msg string) api.Event {
	return api.Event{ID: fmt.Sprintf("%d.0", index), DeploymentID: id, Environment: "staging", Commit: commit3, Kind: kind,
		From: from, To: to, Time: testNow.Add(time.Duration(index) * time.Second), Message: msg}
}

func (f *fakeAPI) setEvents(es ...api.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = es
}

// staging-3 is AwaitingApproval with its last transition at index 93.
var toCompleted = []api.Event{
	ev(93, "staging-3", api.KindAuto, api.StatePlanning, api.StateAwaitingApproval, "already seen"),
	ev(94, "staging-9", api.KindAuto, "", api.StatePending, "another deployment"),
	ev(95, "staging-3", api.KindAuto, api.StateAwaitingApproval, api.StateBackingUp, "approved by bob"),
	ev(96, "staging-3", api.KindAuto, api.StateBackingUp, api.StateApplying, "backup recorded"),
	ev(97, "staging-3", api.KindAuto, api.StateApplying, api.StatePostValidating, "applied"),
	ev(98, "staging-3", api.KindAuto, api.StatePostValidating, api.StateCompleted, "deployed and healthy"),
}

func TestWaitFollowsEvents(t *testing.T) {
	f := newFakeAPI(t)
	f.setEvents(toCompleted...)
	r := f.ctl(t, "wait", "staging-3")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout,
		[]string{"Waiting for staging-3 to reach a terminal state (it is AwaitingApproval)"},
		[]string{"staging-3", "AwaitingApproval → BackingUp", "approved by bob"},
		[]string{"staging-3", "Applying → PostValidating", "applied"},
		[]string{"staging-3", "PostValidating → Completed", "deployed and healthy"},
		[]string{"Deployment staging-3 is Completed."},
	)
	for _, no := range []string{"already seen", "staging-9"} {
		if strings.Contains(r.stdout, no) {
			t.Errorf("printed %q, which is not a new transition of staging-3:\n%s", no, r.stdout)
		}
	}
	req, _ := f.last("GET", "/v1/events")
	if req.LastEventID != "93.2147483647" || req.Query != "env=staging" {
		t.Errorf("events request: Last-Event-ID %q, query %q; want to resume after staging-3's last transition (93) in staging",
			req.LastEventID, req.Query)
	}

	r = f.ctl(t, "wait", "staging-3", "--for", "completed", "-o", "json")
	wantCode(t, r, exitOK)
	var d api.Deployment
	decode(t, r.stdout, &d)
	if d.ID != "staging-3" || d.State != api.StateCompleted || len(d.Transitions) != 8 {
		t.Errorf("wait JSON: %s with %d transitions; want staging-3 Completed with 8", d.State, len(d.Transitions))
	}

	// A state on the way.
	r = f.ctl(t, "wait", "staging-3", "--for", "Applying")
	wantCode(t, r, exitOK)
	if strings.Contains(r.stdout, "PostValidating") {
		t.Errorf("went on after Applying:\n%s", r.stdout)
	}
}

func TestWaitOtherTerminalState(t *testing.T) {
	f := newFakeAPI(t)
	f.setEvents(ev(95, "staging-3", api.KindAuto, api.StateAwaitingApproval, api.StateFailed, "approval timed out after 24h"))
	r := f.ctl(t, "wait", "staging-3", "--for", "Completed")
	wantCode(t, r, exitRefused)
	wantLines(t, r.stdout, []string{"AwaitingApproval → Failed", "approval timed out"})
	wantLines(t, r.stderr, []string{"honuactl: deployment staging-3 ended Failed, not Completed: approval timed out after 24h"})

	// Already ended: decided at once.
	r = f.ctl(t, "wait", "production-7", "--for", "RolledBack")
	wantCode(t, r, exitRefused)
	wantLines(t, r.stderr, []string{"deployment production-7 ended Completed, not RolledBack"})
	r = f.ctl(t, "wait", "production-7")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Deployment production-7 is Completed."})
	r = f.ctl(t, "wait", "development-2", "-o", "json")
	wantCode(t, r, exitOK) // any terminal state
	r = f.ctl(t, "wait", "staging-3", "--for", "AwaitingApproval")
	wantCode(t, r, exitOK)
	r = f.ctl(t, "wait", "staging-99")
	wantCode(t, r, exitRefused)
	wantLines(t, r.stderr, []string{"(404 not_found)"})
	r = invocation{}.run(t, "--addr", deadAddr(t), "wait", "staging-3")
	wantCode(t, r, exitUnreachable)
}

// TestWaitRollsBack: a Failed deployment that applied may still roll back,
// so a wait for RolledBack goes on past Failed.
func TestWaitRollsBack(t *testing.T) {
	f := newFakeAPI(t)
	f.setEvents(
		ev(95, "staging-3", api.KindAuto, api.StateAwaitingApproval, api.StateBackingUp, "approved"),
		ev(96, "staging-3", api.KindAuto, api.StateBackingUp, api.StateApplying, "backup recorded"),
		ev(97, "staging-3", api.KindAuto, api.StateApplying, api.StateFailed, "apply failed: target said 500"),
		ev(98, "staging-3", api.KindAuto, api.StateFailed, api.StateRollingBack, "rolling back (autoRollback)"),
		ev(99, "staging-3", api.KindAuto, api.StateRollingBack, api.StateRolledBack, "restored staging-2"),
	)
	r := f.ctl(t, "wait", "staging-3", "--for", "RolledBack")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"RollingBack → RolledBack"}, []string{"Deployment staging-3 is RolledBack."})
	r = f.ctl(t, "wait", "staging-3")
	wantCode(t, r, exitOK)
	if strings.Contains(r.stdout, "RollingBack") {
		t.Errorf("waiting for any terminal state went on past Failed:\n%s", r.stdout)
	}
	r = f.ctl(t, "wait", "staging-3", "--for", "Completed")
	wantCode(t, r, exitRefused)
	wantLines(t, r.stderr, []string{"ended Failed, not Completed"})
}

func TestWaitTimeout(t *testing.T) {
	for _, noEvents := range []bool{false, true} {
		t.Run(fmt.Sprintf("noEvents=%v", noEvents), func(t *testing.T) {
			f := newFakeAPI(t)
			f.mu.Lock()
			f.noEvents = noEvents
			f.mu.Unlock()
			start := time.Now()
			r := f.ctl(t, "wait", "staging-3", "--timeout", "300ms")
			wantCode(t, r, exitTimeout)
			wantLines(t, r.stderr, []string{"honuactl: timed out after 300ms waiting for deployment staging-3 to reach a terminal state; it is AwaitingApproval"})
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %v for a 300ms timeout", took)
			}
			if noEvents {
				polls := 0
				for _, req := range f.seen() {
					if req.Path == "/v1/deployments/staging-3" {
						polls++
					}
				}
				if polls < 3 {
					t.Errorf("GET staging-3 %d times; want polling without an event stream", polls)
				}
			}
			r = f.ctl(t, "wait", "staging-3", "--timeout", "0s")
			wantCode(t, r, exitUsage)
		})
	}
}

// TestWaitPolls: without an event stream, a wait polls the deployment and
// prints the transitions it finds.
func TestWaitPolls(t *testing.T) {
	f := newFakeAPI(t)
	f.mu.Lock()
	f.noEvents = true
	f.mu.Unlock()
	done := make(chan result, 1)
	go func() { done <- f.ctl(t, "wait", "staging-3", "--timeout", "30s") }()
	// Once the wait polls, the deployment moves on.
	deadline := time.Now().Add(10 * time.Second)
	for polls := 0; polls < 2; {
		polls = 0
		for _, req := range f.seen() {
			if req.Path == "/v1/deployments/staging-3" {
				polls++
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the wait never polled twice")
		}
		select {
		case r := <-done:
			t.Fatalf("wait ended early:\n%s", r)
		case <-time.After(5 * time.Millisecond):
		}
	}
	f.mu.Lock()
	d := f.deployments["staging-3"]
	d.Transitions = append(d.Transitions,
		api.Transition{From: api.StateAwaitingApproval, To: api.StateRejected, Time: testNow, Index: 95, Message: "rejected by bob: no"})
	d.State = api.StateRejected
	f.mu.Unlock()
	r := <-done
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"AwaitingApproval → Rejected", "rejected by bob"}, []string{"Deployment staging-3 is Rejected."})
}

// syncEvents: the sync's deployment staging-5 is created after the status'
// applied index (100) and completes.
var syncEvents = []api.Event{
	ev(90, "staging-3", api.KindManualSync, "", api.StatePending, "an older sync"),
	ev(101, "staging-3", api.KindAuto, api.StateAwaitingApproval, api.StateSuperseded, "superseded by the sync"),
	ev(102, "staging-5", api.KindManualSync, "", api.StatePending, "sync requested by bob: deploying 333333333333"),
	ev(103, "staging-5", api.KindManualSync, api.StatePending, api.StateValidating, "validating"),
	ev(104, "staging-5", api.KindManualSync, api.StateValidating, api.StatePlanning, "valid"),
	ev(105, "staging-5", api.KindManualSync, api.StatePlanning, api.StateBackingUp, "no approval needed"),
	ev(106, "staging-5", api.KindManualSync, api.StateBackingUp, api.StateApplying, "backup recorded"),
	ev(107, "staging-5", api.KindManualSync, api.StateApplying, api.StatePostValidating, "applied"),
	ev(108, "staging-5", api.KindManualSync, api.StatePostValidating, api.StateCompleted, "deployed and healthy"),
}

func TestSyncWait(t *testing.T) {
	f := newFakeAPI(t)
	f.setEvents(syncEvents...)
	r := f.ctl(t, "sync", "staging", "--wait")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout,
		[]string{"Sync of staging requested"},
		[]string{"staging-5", "Pending", "sync requested by bob"},
		[]string{"staging-5", "Pending → Validating"},
		[]string{"staging-5", "PostValidating → Completed", "deployed and healthy"},
		[]string{"Deployment staging-5 is Completed."},
	)
	if strings.Contains(r.stdout, "older sync") || strings.Contains(r.stdout, "staging-3") {
		t.Errorf("printed events from before the sync or of another deployment:\n%s", r.stdout)
	}
	req, _ := f.last("GET", "/v1/events")
	if req.LastEventID != "100.2147483647" {
		t.Errorf("events Last-Event-ID = %q; want the status' applied index 100", req.LastEventID)
	}
	rs := f.seen()
	iStatus, iSync := -1, -1
	for i, q := range rs {
		switch {
		case q.Path == "/v1/status" && iStatus < 0:
			iStatus = i
		case q.Path == "/v1/environments/staging/sync":
			iSync = i
		}
	}
	if iStatus < 0 || iSync < iStatus {
		t.Errorf("status at request %d, sync at %d; want the position read before the sync", iStatus, iSync)
	}

	r = f.ctl(t, "sync", "staging", "--wait", "-o", "json")
	wantCode(t, r, exitOK)
	var d api.Deployment
	decode(t, r.stdout, &d)
	if d.ID != "staging-5" || d.State != api.StateCompleted || d.Kind != api.KindManualSync {
		t.Errorf("sync --wait JSON = %s", r.stdout)
	}
}

func TestSyncWaitFails(t *testing.T) {
	f := newFakeAPI(t)
	f.setEvents(
		ev(102, "staging-5", api.KindManualSync, "", api.StatePending, "sync requested by bob"),
		ev(103, "staging-5", api.KindManualSync, api.StatePending, api.StateValidating, "validating"),
		ev(104, "staging-5", api.KindManualSync, api.StateValidating, api.StateFailed, "validation failed: 2 problems"),
	)
	r := f.ctl(t, "sync", "staging", "-w")
	wantCode(t, r, exitRefused)
	wantLines(t, r.stderr, []string{"deployment staging-5 ended Failed, not Completed: validation failed: 2 problems"})

	f.setEvents()
	r = f.ctl(t, "sync", "staging", "--wait", "--timeout", "200ms")
	wantCode(t, r, exitTimeout)
	wantLines(t, r.stderr, []string{"timed out after 200ms waiting for the deployment of the sync of staging"})
}

// TestSyncWaitPolls: without an event stream, the sync's deployment is
// found in the list of the environment's deployments.
func TestSyncWaitPolls(t *testing.T) {
	f := newFakeAPI(t)
	f.mu.Lock()
	f.noEvents = true
	s5 := *f.deployments["staging-2"]
	s5.ID, s5.Kind, s5.Initiator, s5.CreatedAt, s5.UpdatedAt = "staging-5", api.KindManualSync, "bob", testNow, testNow.Add(time.Second)
	f.deployments["staging-5"] = &s5
	f.mu.Unlock()
	r := f.ctl(t, "sync", "staging", "--wait", "--timeout", "20s")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"staging-5", "Pending"}, []string{"Deployment staging-5 is Completed."})
}
