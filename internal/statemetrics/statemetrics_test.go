package statemetrics

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/fsm/fsmtest"
)

func TestStateMetrics(t *testing.T) {
	a := fsmtest.New()
	f := a.FSM
	apply := func(c fsm.Command) any { t.Helper(); return a.Must(t, c) }
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	// Before the metrics start: one deployment waiting for approval.
	d1 := apply(&fsm.CreateDeployment{Environment: "production", Commit: "c1", Kind: fsm.KindAuto, Time: t0}).(*fsm.Deployment)
	for _, s := range []fsm.DeploymentState{fsm.StateValidating, fsm.StatePlanning} {
		apply(&fsm.TransitionDeployment{ID: d1.ID, To: s, Time: t0})
	}
	apply(&fsm.TransitionDeployment{ID: d1.ID, To: fsm.StateAwaitingApproval, Time: t0,
		Approval: &fsm.ApprovalRequirement{Required: 1}})

	reg := prometheus.NewRegistry()
	m := New(f, reg, nil)
	m.since = t0.Add(time.Second) // the process "started" after the first deployment
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// After: staging deploys, a minute after its commit was seen (its
	// creation, at t0, is before the start and not counted).
	d2 := apply(&fsm.CreateDeployment{Environment: "staging", Commit: "c2", Kind: fsm.KindAuto, Time: t0}).(*fsm.Deployment)
	for _, s := range []fsm.DeploymentState{fsm.StateValidating, fsm.StatePlanning, fsm.StateBackingUp,
		fsm.StateApplying, fsm.StatePostValidating, fsm.StateCompleted} {
		apply(&fsm.TransitionDeployment{ID: d2.ID, To: s, Time: t0.Add(time.Minute)})
	}
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for testutil.ToFloat64(m.transitions.WithLabelValues("staging", "Completed")) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("gave up waiting for the Completed transition to be counted")
		}
		<-tick.C
	}
	if n := testutil.ToFloat64(m.transitions.WithLabelValues("production", "AwaitingApproval")); n != 0 {
		t.Errorf("transitions from before the start were counted: %v", n)
	}
	if n := testutil.ToFloat64(m.transitions.WithLabelValues("staging", "Pending")); n != 0 {
		t.Errorf("staging's creation, before the start, was counted: %v", n)
	}
	want := `
# HELP honua_approvals_pending Deployments waiting for approval, by environment.
# TYPE honua_approvals_pending gauge
honua_approvals_pending{env="production"} 1
honua_approvals_pending{env="staging"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "honua_approvals_pending"); err != nil {
		t.Error(err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP honua_deployment_state Deployments this node holds in history, by environment and state.
# TYPE honua_deployment_state gauge
honua_deployment_state{env="production",state="AwaitingApproval"} 1
honua_deployment_state{env="staging",state="Completed"} 1
`), "honua_deployment_state"); err != nil {
		t.Error(err)
	}
	apply(&fsm.SetSuspension{Environment: "staging", Suspend: true, Identity: "alice", Reason: "incident", Time: t0})
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP honua_environment_suspended 1 while the environment is suspended (no deployment of it starts), 0 otherwise, by environment.
# TYPE honua_environment_suspended gauge
honua_environment_suspended{env="production"} 0
honua_environment_suspended{env="staging"} 1
`), "honua_environment_suspended"); err != nil {
		t.Error(err)
	}
	drifted := `
# HELP honua_environment_drifted 1 while the environment's targets no longer hold the bundle deployed to them (drift recorded), 0 otherwise, by environment.
# TYPE honua_environment_drifted gauge
honua_environment_drifted{env="production"} %d
honua_environment_drifted{env="staging"} %d
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(fmt.Sprintf(drifted, 0, 0)), "honua_environment_drifted"); err != nil {
		t.Error(err)
	}
	apply(&fsm.SetDrift{Environment: "staging", Deployment: d2.ID, Drifted: true, Targets: []string{"directory /srv/staging"},
		Files: []string{"metadata.json"}, Time: t0})
	if err := testutil.GatherAndCompare(reg, strings.NewReader(fmt.Sprintf(drifted, 0, 1)), "honua_environment_drifted"); err != nil {
		t.Error(err)
	}
	apply(&fsm.SetDrift{Environment: "staging", Time: t0})
	if err := testutil.GatherAndCompare(reg, strings.NewReader(fmt.Sprintf(drifted, 0, 0)), "honua_environment_drifted"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "honua_commit_to_deploy_seconds"); err != nil || n != 1 {
		t.Errorf("commit-to-deploy series = %d, %v; want one", n, err)
	}
}

// honua_notifications counts the outbox by channel and state.
func TestNotificationMetrics(t *testing.T) {
	a := fsmtest.New()
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	a.Must(t, &fsm.SetNotificationRoutes{Routes: []fsm.NotificationRoute{
		{Events: []fsm.NotificationEvent{fsm.EventDeploymentCreated}, Channels: []string{"hook", "team"}},
	}})
	d := a.Must(t, &fsm.CreateDeployment{Environment: "staging", Commit: "c1", Kind: fsm.KindAuto, Time: t0}).(*fsm.Deployment)
	a.Must(t, &fsm.MarkNotificationDelivered{ID: fsm.NotificationID(d.ID, fsm.EventDeploymentCreated, "hook"), Time: t0})
	a.Must(t, &fsm.RecordNotificationAttempt{ID: fsm.NotificationID(d.ID, fsm.EventDeploymentCreated, "team"),
		Time: t0, Error: "503", GiveUp: true})
	a.Must(t, &fsm.CreateDeployment{Environment: "production", Commit: "c1", Kind: fsm.KindAuto, Time: t0})

	reg := prometheus.NewRegistry()
	New(a.FSM, reg, nil)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP honua_notifications Notifications in the outbox, by channel and state (pending, delivered, failed).
# TYPE honua_notifications gauge
honua_notifications{channel="hook",state="delivered"} 1
honua_notifications{channel="hook",state="pending"} 1
honua_notifications{channel="team",state="failed"} 1
honua_notifications{channel="team",state="pending"} 1
`), "honua_notifications"); err != nil {
		t.Error(err)
	}
}
