package fsm_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/fsm/fsmtest"
)

// refusal is a command the fixture of TestRefusalsChangeNothing refuses,
// and the condition its error wraps.
type refusal struct {
	cmd  fsm.Command
	want error
}

// refusalFixture builds a state with something for every command to be
// refused about:
//
//	prod     done (Completed), failed (Failed after applying, its backup
//	         done), newer (Completed: prod moved on from done), awaiting
//	         (AwaitingApproval, one approval of ops, expiring)
//	staging  active (Applying), queued (Planning)
//	qa       rejected (Rejected), pending (Pending)
//	dev      observed, nothing deployed
//
// Every event of prod is routed to channel hook: done's DeploymentCreated
// notification is delivered, its DeploymentCompleted one failed, the
// others pending.
func refusalFixture(h *harness) {
	h.t.Helper()
	h.mustApply(&fsm.SetNotificationRoutes{Routes: []fsm.NotificationRoute{
		{Events: fsm.AllNotificationEvents, Environments: []string{"prod"}, Channels: []string{"hook"}}}})
	h.createAt("done", "prod", fsm.StateCompleted)
	h.mustApply(&fsm.MarkNotificationDelivered{ID: h.id("done") + ".DeploymentCreated.hook", Time: h.tick()})
	h.mustApply(&fsm.RecordNotificationAttempt{ID: h.id("done") + ".DeploymentCompleted.hook", Time: h.tick(),
		Error: "503", GiveUp: true})
	h.createAt("failed", "prod", fsm.StateFailed)
	h.createAt("newer", "prod", fsm.StateCompleted)
	h.create("awaiting", "prod")
	h.drive("awaiting", fsm.StateValidating, fsm.StatePlanning)
	h.mustApply(&fsm.TransitionDeployment{ID: h.id("awaiting"), To: fsm.StateAwaitingApproval, Time: h.tick(),
		Approval: &fsm.ApprovalRequirement{Required: 1, Groups: []string{"ops"}, Expires: h.now.Add(time.Hour)}})
	h.createAt("active", "staging", fsm.StateApplying)
	h.createAt("queued", "staging", fsm.StatePlanning)
	h.createAt("rejected", "qa", fsm.StateRejected)
	h.create("pending", "qa")
	h.mustApply(&fsm.ObserveCommit{Environment: "dev", Commit: "d1", Time: h.tick()})
}

// refusals lists, for every command type, commands the fixture refuses:
// every way the type's check can refuse that the fixture can reach.
func refusals(h *harness) map[fsm.CommandType][]refusal {
	at := h.tick()
	id := h.id
	longAfter := at.Add(48 * time.Hour)
	delivered := id("done") + ".DeploymentCreated.hook"
	failed := id("done") + ".DeploymentCompleted.hook"
	pending := id("awaiting") + ".ApprovalRequired.hook"
	route := func(edit func(r *fsm.NotificationRoute)) *fsm.SetNotificationRoutes {
		r := fsm.NotificationRoute{Events: []fsm.NotificationEvent{fsm.EventApproved}, Channels: []string{"hook"}}
		edit(&r)
		return &fsm.SetNotificationRoutes{Routes: []fsm.NotificationRoute{r}}
	}
	many := func(n int, s string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s%d", s, i)
		}
		return out
	}
	// drift returns a SetDrift of prod's deployed deployment the fixture
	// accepts, changed by edit.
	drift := func(edit func(c *fsm.SetDrift)) *fsm.SetDrift {
		c := &fsm.SetDrift{Environment: "prod", Deployment: id("newer"), Drifted: true,
			Targets: []string{"directory /srv/prod"}, Files: []string{"metadata.json"}, Time: at}
		edit(c)
		return c
	}
	return map[fsm.CommandType][]refusal{
		fsm.SetNotificationRoutesCommand: {
			{&fsm.SetNotificationRoutes{Routes: make([]fsm.NotificationRoute, fsm.MaxNotificationRoutes+1)}, fsm.ErrInvalid},
			{route(func(r *fsm.NotificationRoute) { r.Events = nil }), fsm.ErrInvalid},
			{route(func(r *fsm.NotificationRoute) { r.Events = []fsm.NotificationEvent{"Exploded"} }), fsm.ErrInvalid},
			{route(func(r *fsm.NotificationRoute) {
				r.Events = append(slices.Clone(fsm.AllNotificationEvents), fsm.EventApproved)
			}), fsm.ErrInvalid},
			{route(func(r *fsm.NotificationRoute) { r.Channels = nil }), fsm.ErrInvalid},
			{route(func(r *fsm.NotificationRoute) { r.Channels = many(fsm.MaxRouteChannels+1, "c") }), fsm.ErrInvalid},
			{route(func(r *fsm.NotificationRoute) { r.Channels = []string{"Team"} }), fsm.ErrInvalid},
			{route(func(r *fsm.NotificationRoute) { r.Channels = []string{"-team"} }), fsm.ErrInvalid},
			{route(func(r *fsm.NotificationRoute) { r.Channels = []string{"a.b"} }), fsm.ErrInvalid},
			{route(func(r *fsm.NotificationRoute) { r.Channels = []string{""} }), fsm.ErrInvalid},
			{route(func(r *fsm.NotificationRoute) { r.Channels = []string{strings.Repeat("a", fsm.MaxChannelName+1)} }), fsm.ErrInvalid},
			{route(func(r *fsm.NotificationRoute) { r.Environments = []string{"Prod"} }), fsm.ErrInvalid},
			{route(func(r *fsm.NotificationRoute) { r.Environments = []string{"common"} }), fsm.ErrInvalid},
			{route(func(r *fsm.NotificationRoute) { r.Environments = many(fsm.MaxRouteEnvironments+1, "e") }), fsm.ErrInvalid},
		},
		fsm.RecordNotificationAttemptCommand: {
			{&fsm.RecordNotificationAttempt{Time: at, Error: "503", NextTry: at}, fsm.ErrInvalid},
			{&fsm.RecordNotificationAttempt{ID: strings.Repeat("x", 257), Time: at, Error: "503", NextTry: at}, fsm.ErrInvalid},
			{&fsm.RecordNotificationAttempt{ID: pending, Error: "503", NextTry: at}, fsm.ErrInvalid},
			{&fsm.RecordNotificationAttempt{ID: pending, Time: at, NextTry: at}, fsm.ErrInvalid},
			{&fsm.RecordNotificationAttempt{ID: pending, Time: at, Error: strings.Repeat("e", 64<<10+1), NextTry: at}, fsm.ErrInvalid},
			{&fsm.RecordNotificationAttempt{ID: pending, Time: at, Error: "503"}, fsm.ErrInvalid},
			{&fsm.RecordNotificationAttempt{ID: "prod-99.Approved.hook", Time: at, Error: "503", NextTry: at}, fsm.ErrNotFound},
			{&fsm.RecordNotificationAttempt{ID: delivered, Time: at, Error: "503", NextTry: at}, fsm.ErrWrongState},
			{&fsm.RecordNotificationAttempt{ID: delivered, Time: at, Error: "503", GiveUp: true}, fsm.ErrWrongState},
			{&fsm.RecordNotificationAttempt{ID: failed, Time: at, Error: "503", NextTry: at}, fsm.ErrWrongState},
		},
		fsm.MarkNotificationDeliveredCommand: {
			{&fsm.MarkNotificationDelivered{Time: at}, fsm.ErrInvalid},
			{&fsm.MarkNotificationDelivered{ID: pending}, fsm.ErrInvalid},
			{&fsm.MarkNotificationDelivered{ID: delivered}, fsm.ErrInvalid},
			{&fsm.MarkNotificationDelivered{ID: "prod-99.Approved.hook", Time: at}, fsm.ErrNotFound},
			{&fsm.MarkNotificationDelivered{ID: strings.Repeat("x", 257), Time: at}, fsm.ErrInvalid},
		},
		fsm.RetryNotificationCommand: {
			{&fsm.RetryNotification{Time: at}, fsm.ErrInvalid},
			{&fsm.RetryNotification{ID: failed}, fsm.ErrInvalid},
			{&fsm.RetryNotification{ID: "prod-99.Approved.hook", Time: at}, fsm.ErrNotFound},
			{&fsm.RetryNotification{ID: pending, Time: at}, fsm.ErrWrongState},
			{&fsm.RetryNotification{ID: delivered, Time: at}, fsm.ErrWrongState},
		},
		fsm.RecordWaveCommand: {
			{&fsm.RecordWave{ID: id("active"), Phase: fsm.WaveApplying, Targets: []string{"a"}, Token: 9}, fsm.ErrInvalid},
			{&fsm.RecordWave{ID: id("active"), Wave: -1, Phase: fsm.WaveApplying, Targets: []string{"a"}, Token: 9, Time: at}, fsm.ErrInvalid},
			{&fsm.RecordWave{ID: id("active"), Wave: fsm.MaxRolloutWaves, Phase: fsm.WaveApplying, Targets: []string{"a"}, Token: 9, Time: at}, fsm.ErrInvalid},
			{&fsm.RecordWave{ID: id("active"), Phase: fsm.WaveApplying, Token: 9, Time: at}, fsm.ErrInvalid},
			{&fsm.RecordWave{ID: id("active"), Phase: fsm.WaveApplying, Targets: many(fsm.MaxWaveTargets+1, "t"), Token: 9, Time: at}, fsm.ErrInvalid},
			{&fsm.RecordWave{ID: id("active"), Phase: fsm.WaveApplying, Targets: []string{"a", "a"}, Token: 9, Time: at}, fsm.ErrInvalid},
			{&fsm.RecordWave{ID: id("active"), Phase: fsm.WaveApplying, Targets: []string{"a"}, Time: at}, fsm.ErrInvalid},
			{&fsm.RecordWave{ID: id("active"), Phase: fsm.WaveBaking, Targets: []string{"a"}, Token: 9, Time: at}, fsm.ErrInvalid},
			{&fsm.RecordWave{ID: id("active"), Phase: fsm.WaveApplying, Targets: []string{"a"}, Token: 9, Time: at,
				Round: &fsm.AnalysisRound{Time: at}}, fsm.ErrInvalid},
			{&fsm.RecordWave{ID: id("active"), Phase: fsm.WaveBaking, Targets: []string{"a"}, Token: 9, Time: at,
				Round: &fsm.AnalysisRound{Time: at, Results: make([]fsm.AnalysisResult, fsm.MaxAnalysisResults+1)}}, fsm.ErrInvalid},
			{&fsm.RecordWave{ID: "prod-99", Phase: fsm.WaveApplying, Targets: []string{"a"}, Token: 9, Time: at}, fsm.ErrNotFound},
			{&fsm.RecordWave{ID: id("done"), Phase: fsm.WaveApplying, Targets: []string{"a"}, Token: 9, Time: at}, fsm.ErrWrongState},
			{&fsm.RecordWave{ID: id("active"), Wave: 1, Phase: fsm.WaveApplying, Targets: []string{"a"}, Token: 9, Time: at}, fsm.ErrWrongState},
		},
		fsm.ControlRolloutCommand: {
			{&fsm.ControlRollout{ID: id("active"), Action: "pause", Identity: "bob", Time: at}, fsm.ErrInvalid},
			{&fsm.ControlRollout{ID: id("active"), Action: fsm.RolloutPromote, Time: at}, fsm.ErrInvalid},
			{&fsm.ControlRollout{ID: id("active"), Action: fsm.RolloutPromote, Identity: "bob"}, fsm.ErrInvalid},
			{&fsm.ControlRollout{ID: id("active"), Action: fsm.RolloutAbort, Identity: "bob", Time: at, Reason: " "}, fsm.ErrInvalid},
			{&fsm.ControlRollout{ID: "prod-99", Action: fsm.RolloutPromote, Identity: "bob", Time: at}, fsm.ErrNotFound},
			{&fsm.ControlRollout{ID: id("done"), Action: fsm.RolloutAbort, Identity: "bob", Time: at, Reason: "r"}, fsm.ErrWrongState},
			{&fsm.ControlRollout{ID: id("active"), Action: fsm.RolloutAbort, Identity: "bob", Time: at, Reason: "r"}, fsm.ErrWrongState},
		},
		fsm.SetDriftCommand: {
			{drift(func(c *fsm.SetDrift) { c.Environment = "-prod" }), fsm.ErrInvalid},
			{drift(func(c *fsm.SetDrift) { c.Time = time.Time{} }), fsm.ErrInvalid},
			{&fsm.SetDrift{Environment: "prod", Files: []string{"a.json"}, Time: at}, fsm.ErrInvalid},
			{drift(func(c *fsm.SetDrift) { c.MoreFiles = -1 }), fsm.ErrInvalid},
			{drift(func(c *fsm.SetDrift) { c.Files = many(fsm.MaxDriftFiles+1, "f") }), fsm.ErrInvalid},
			{drift(func(c *fsm.SetDrift) { c.Targets = many(fsm.MaxDriftTargets+1, "t") }), fsm.ErrInvalid},
			{drift(func(c *fsm.SetDrift) { c.Targets = nil }), fsm.ErrInvalid},
			{drift(func(c *fsm.SetDrift) { c.Files = nil }), fsm.ErrInvalid},
			{drift(func(c *fsm.SetDrift) { c.Files = []string{""} }), fsm.ErrInvalid},
			{drift(func(c *fsm.SetDrift) { c.Files = []string{strings.Repeat("f", fsm.MaxDriftFileName+1)} }), fsm.ErrInvalid},
			{drift(func(c *fsm.SetDrift) { c.Targets = []string{strings.Repeat("t", fsm.MaxDriftTargetName+1)} }), fsm.ErrInvalid},
			{drift(func(c *fsm.SetDrift) { c.Files = []string{"a.json", "a.json"} }), fsm.ErrInvalid},
			{drift(func(c *fsm.SetDrift) { c.Environment = "nowhere" }), fsm.ErrNotFound},
			{drift(func(c *fsm.SetDrift) { c.Environment, c.Deployment = "dev", "" }), fsm.ErrWrongState},
			{drift(func(c *fsm.SetDrift) { c.Deployment = id("done") }), fsm.ErrWrongState},
		},
		fsm.CreateDeploymentCommand: {
			{&fsm.CreateDeployment{Environment: "prod", Commit: "c", Kind: fsm.KindSelfHeal, Time: at}, fsm.ErrWrongState},
			{&fsm.CreateDeployment{Environment: "dev", Commit: "d1", Kind: fsm.KindSelfHeal, Time: at}, fsm.ErrWrongState},
			{&fsm.CreateDeployment{Environment: "prod", Commit: "c", Kind: fsm.KindAuto, Time: at, Subject: strings.Repeat("s", fsm.MaxSubject+1)}, fsm.ErrInvalid},
			{&fsm.CreateDeployment{Environment: "Prod!", Commit: "c", Kind: fsm.KindAuto, Time: at}, fsm.ErrInvalid},
			{&fsm.CreateDeployment{Environment: "common", Commit: "c", Kind: fsm.KindAuto, Time: at}, fsm.ErrInvalid},
			{&fsm.CreateDeployment{Environment: "prod", Kind: fsm.KindAuto, Time: at}, fsm.ErrInvalid},
			{&fsm.CreateDeployment{Environment: "prod", Commit: "c", Kind: fsm.KindRollback, Time: at}, fsm.ErrInvalid},
			{&fsm.CreateDeployment{Environment: "prod", Commit: "c", Kind: fsm.KindAutoRollback, Time: at}, fsm.ErrInvalid},
			{&fsm.CreateDeployment{Environment: "prod", Commit: "c", Kind: "nightly", Time: at}, fsm.ErrInvalid},
			{&fsm.CreateDeployment{Environment: "prod", Commit: "c", Kind: fsm.KindAuto}, fsm.ErrInvalid},
		},
		fsm.TransitionCommand: {
			{&fsm.TransitionDeployment{ID: "prod-99", To: fsm.StateFailed, Time: at}, fsm.ErrNotFound},
			{&fsm.TransitionDeployment{ID: id("pending"), To: fsm.StateValidating}, fsm.ErrInvalid},
			{&fsm.TransitionDeployment{ID: id("pending"), To: fsm.StateValidating, Time: at,
				Approval: &fsm.ApprovalRequirement{Required: 1}}, fsm.ErrInvalid},
			{&fsm.TransitionDeployment{ID: id("queued"), To: fsm.StateAwaitingApproval, Time: at,
				Approval: &fsm.ApprovalRequirement{}}, fsm.ErrInvalid},
			{&fsm.TransitionDeployment{ID: id("done"), To: fsm.StateFailed, Time: at}, fsm.ErrIllegalTransition},
			{&fsm.TransitionDeployment{ID: id("pending"), To: fsm.StateApplying, Time: at}, fsm.ErrIllegalTransition},
			{&fsm.TransitionDeployment{ID: id("awaiting"), To: fsm.StateScheduled, Time: at}, fsm.ErrIllegalTransition},
			{&fsm.TransitionDeployment{ID: id("failed"), To: fsm.StateRollingBack, Time: at}, fsm.ErrIllegalTransition},
			{&fsm.TransitionDeployment{ID: id("queued"), To: fsm.StateBackingUp, Time: at}, fsm.ErrConflict},
		},
		fsm.ApproveCommand: {
			{&fsm.Approve{ID: id("awaiting"), Identity: "alice", Groups: []string{"ops"}}, fsm.ErrInvalid},
			{&fsm.Approve{ID: "prod-99", Identity: "alice", Groups: []string{"ops"}, Time: at}, fsm.ErrNotFound},
			{&fsm.Approve{ID: id("awaiting"), Groups: []string{"ops"}, Time: at}, fsm.ErrInvalid},
			{&fsm.Approve{ID: id("done"), Identity: "alice", Groups: []string{"ops"}, Time: at}, fsm.ErrWrongState},
			{&fsm.Approve{ID: id("awaiting"), Identity: "mallory", Groups: []string{"dev"}, Time: at}, fsm.ErrNotAllowed},
			{&fsm.Approve{ID: id("awaiting"), Identity: "alice", Groups: []string{"ops"}, Time: longAfter}, fsm.ErrWrongState},
		},
		fsm.RejectCommand: {
			{&fsm.Reject{ID: id("awaiting"), Identity: "bob", Groups: []string{"ops"}, Time: at, Reason: " \t"}, fsm.ErrInvalid},
			{&fsm.Reject{ID: id("awaiting"), Identity: "bob", Groups: []string{"ops"}, Reason: "no"}, fsm.ErrInvalid},
			{&fsm.Reject{ID: "prod-99", Identity: "bob", Groups: []string{"ops"}, Time: at, Reason: "no"}, fsm.ErrNotFound},
			{&fsm.Reject{ID: id("awaiting"), Groups: []string{"ops"}, Time: at, Reason: "no"}, fsm.ErrInvalid},
			{&fsm.Reject{ID: id("rejected"), Identity: "bob", Groups: []string{"ops"}, Time: at, Reason: "no"}, fsm.ErrWrongState},
			{&fsm.Reject{ID: id("awaiting"), Identity: "mallory", Time: at, Reason: "no"}, fsm.ErrNotAllowed},
		},
		fsm.SetSuspensionCommand: {
			{&fsm.SetSuspension{Environment: "-prod", Suspend: true, Identity: "alice", Reason: "r", Time: at}, fsm.ErrInvalid},
			{&fsm.SetSuspension{Environment: "prod", Suspend: true, Reason: "r", Time: at}, fsm.ErrInvalid},
			{&fsm.SetSuspension{Environment: "prod", Suspend: true, Identity: "alice", Reason: "r"}, fsm.ErrInvalid},
			{&fsm.SetSuspension{Environment: "prod", Suspend: true, Identity: "alice", Reason: " ", Time: at}, fsm.ErrInvalid},
			{&fsm.SetSuspension{Environment: "nowhere", Suspend: true, Identity: "alice", Reason: "r", Time: at}, fsm.ErrNotFound},
			{&fsm.SetSuspension{Environment: "nowhere", Identity: "alice", Time: at}, fsm.ErrNotFound},
		},
		fsm.CancelDeploymentCommand: {
			{&fsm.CancelDeployment{ID: id("queued"), Time: at, Reason: "r"}, fsm.ErrInvalid},
			{&fsm.CancelDeployment{ID: id("queued"), Identity: "bob", Time: at, Reason: "\n"}, fsm.ErrInvalid},
			{&fsm.CancelDeployment{ID: id("queued"), Identity: "bob", Reason: "r"}, fsm.ErrInvalid},
			{&fsm.CancelDeployment{ID: "prod-99", Identity: "bob", Time: at, Reason: "r"}, fsm.ErrNotFound},
			{&fsm.CancelDeployment{ID: id("active"), Identity: "bob", Time: at, Reason: "r"}, fsm.ErrWrongState},
			{&fsm.CancelDeployment{ID: id("done"), Identity: "bob", Time: at, Reason: "r"}, fsm.ErrWrongState},
			{&fsm.CancelDeployment{ID: id("rejected"), Identity: "bob", Time: at, Reason: "r"}, fsm.ErrWrongState},
			{&fsm.CancelDeployment{ID: id("awaiting"), Identity: "mallory", Groups: []string{"dev"}, Time: at, Reason: "r"}, fsm.ErrNotAllowed},
		},
		fsm.OverrideWindowCommand: {
			{&fsm.OverrideWindow{ID: id("queued"), Role: "admin", Time: at, Reason: "r"}, fsm.ErrInvalid},
			{&fsm.OverrideWindow{ID: id("queued"), Identity: "root", Role: "admin", Time: at, Reason: " "}, fsm.ErrInvalid},
			{&fsm.OverrideWindow{ID: id("queued"), Identity: "root", Role: "admin", Reason: "r"}, fsm.ErrInvalid},
			{&fsm.OverrideWindow{ID: id("queued"), Identity: "bob", Role: "approver", Time: at, Reason: "r"}, fsm.ErrNotAllowed},
			{&fsm.OverrideWindow{ID: "prod-99", Identity: "root", Role: "admin", Time: at, Reason: "r"}, fsm.ErrNotFound},
			{&fsm.OverrideWindow{ID: id("active"), Identity: "root", Role: "admin", Time: at, Reason: "r"}, fsm.ErrWrongState},
			{&fsm.OverrideWindow{ID: id("done"), Identity: "root", Role: "admin", Time: at, Reason: "r"}, fsm.ErrWrongState},
		},
		fsm.ObserveCommitCommand: {
			{&fsm.ObserveCommit{Environment: "-prod", Commit: "c", Time: at}, fsm.ErrInvalid},
			{&fsm.ObserveCommit{Environment: "prod", Time: at}, fsm.ErrInvalid},
			{&fsm.ObserveCommit{Environment: "prod", Commit: "c"}, fsm.ErrInvalid},
		},
		fsm.SetPinCommand: {
			{&fsm.SetPin{Environment: "common"}, fsm.ErrInvalid},
			{&fsm.SetPin{Environment: "prod", Pin: &fsm.Pin{From: "c", Since: at}}, fsm.ErrInvalid},
		},
		fsm.IssueFencingTokenCommand: {
			{&fsm.IssueFencingToken{ID: "prod-99"}, fsm.ErrNotFound},
			{&fsm.IssueFencingToken{ID: id("queued"), Above: 1 << 40}, fsm.ErrWrongState},
			{&fsm.IssueFencingToken{ID: id("done")}, fsm.ErrWrongState},
		},
		fsm.SetSettingsCommand: {
			{&fsm.SetSettings{HistoryRetention: 0, PlanRetention: 1}, fsm.ErrInvalid},
			{&fsm.SetSettings{HistoryRetention: -1}, fsm.ErrInvalid},
			{&fsm.SetSettings{HistoryRetention: 1, PlanRetention: -1}, fsm.ErrInvalid},
		},
		fsm.RequestSyncCommand: {
			{&fsm.RequestSync{Environment: "Prod", By: "bob", Time: at}, fsm.ErrInvalid},
			{&fsm.RequestSync{Environment: "prod", Time: at}, fsm.ErrInvalid},
			{&fsm.RequestSync{Environment: "prod", By: "bob"}, fsm.ErrInvalid},
			{&fsm.RequestSync{Environment: "nowhere", By: "bob", Time: at}, fsm.ErrNotFound},
		},
		fsm.SetSourceStatusCommand: {
			{&fsm.SetSourceStatus{Error: "down", Time: at, Problems: []fsm.FolderProblem{{Path: "environments", Message: "m"}}}, fsm.ErrInvalid},
			{&fsm.SetSourceStatus{Head: "c", Time: at, Problems: []fsm.FolderProblem{{Path: "environments"}}}, fsm.ErrInvalid},
			{&fsm.SetSourceStatus{Head: "c", Time: at, Problems: []fsm.FolderProblem{{Path: strings.Repeat("p", fsm.MaxFolderProblemLength+1), Message: "m"}}}, fsm.ErrInvalid},
			{&fsm.SetSourceStatus{Head: "c", Time: at, Problems: make([]fsm.FolderProblem, fsm.MaxFolderProblems+1)}, fsm.ErrInvalid},
			{&fsm.SetSourceStatus{Head: "c", Error: "e"}, fsm.ErrInvalid},
			{&fsm.SetSourceStatus{Time: at}, fsm.ErrInvalid},
		},
		fsm.CreateRollbackCommand: {
			{&fsm.CreateRollback{Environment: "Prod", To: id("done"), Initiator: "alice", Time: at}, fsm.ErrInvalid},
			{&fsm.CreateRollback{Environment: "prod", Initiator: "alice", Time: at}, fsm.ErrInvalid},
			{&fsm.CreateRollback{Environment: "prod", To: id("done"), Time: at}, fsm.ErrInvalid},
			{&fsm.CreateRollback{Environment: "prod", To: id("done"), Initiator: "alice"}, fsm.ErrInvalid},
			{&fsm.CreateRollback{Environment: "nowhere", To: id("done"), Initiator: "alice", Time: at}, fsm.ErrNotFound},
			{&fsm.CreateRollback{Environment: "prod", To: "prod-99", Initiator: "alice", Time: at}, fsm.ErrNotFound},
			{&fsm.CreateRollback{Environment: "staging", To: id("done"), Initiator: "alice", Time: at}, fsm.ErrInvalid},
			{&fsm.CreateRollback{Environment: "prod", To: id("failed"), Initiator: "alice", Time: at}, fsm.ErrWrongState},
			{&fsm.CreateRollback{Environment: "prod", To: id("newer"), Initiator: "alice", Time: at}, fsm.ErrWrongState},
			{&fsm.CreateRollback{Environment: "qa", To: id("rejected"), Initiator: "alice", Time: at}, fsm.ErrWrongState},
			{&fsm.CreateRollback{Environment: "dev", To: id("done"), Initiator: "alice", Time: at}, fsm.ErrInvalid},
		},
	}
}

// TestRefusalsChangeNothing: for every registered command type, each
// command the state refuses returns its error and leaves the state, and
// the event log, byte-identical. A new command type fails this test until
// it has cases here.
func TestRefusalsChangeNothing(t *testing.T) {
	h := newHarness(t)
	refusalFixture(h)
	table := refusals(h)
	registered := map[fsm.CommandType]bool{}
	for _, typ := range fsm.CommandTypes() {
		registered[typ] = true
		cases := table[typ]
		if len(cases) == 0 {
			t.Errorf("command type %d has no refused commands in refusals; add the ways its check refuses", typ)
		}
		for _, r := range cases {
			if r.cmd.Type() != typ {
				t.Fatalf("refusals[%d] holds %s, of type %d", typ, describe(r.cmd), r.cmd.Type())
			}
			events := h.fsm.EventsAfter(fsm.EventID{}, "")
			h.refused(r.cmd, r.want) // fails the test if the state changed
			if got := h.fsm.EventsAfter(fsm.EventID{}, ""); !reflect.DeepEqual(got, events) {
				t.Errorf("refused %s changed the events: %d before, %d after", describe(r.cmd), len(events), len(got))
			}
		}
	}
	for typ := range table {
		if !registered[typ] {
			t.Errorf("refusals lists command type %d, which is not registered", typ)
		}
	}
}

// TestRefusedTransitionCreatesNoEnvironment: a refused transition of a
// deployment whose environment has no record (a restored snapshot can hold
// one) does not create the record.
func TestRefusedTransitionCreatesNoEnvironment(t *testing.T) {
	snap := fmt.Sprintf(`{"version":1,"appliedIndex":5,"state":{"deploymentSeq":1,"deployments":{"prod-1":`+
		`{"id":"prod-1","environment":"prod","commit":"c1","kind":"auto","state":"AwaitingApproval",`+
		`"createdAt":%[1]q,"updatedAt":%[1]q,"approval":{"required":1},"transitions":[{"to":"Pending","time":%[1]q,"index":1}]}},`+
		`"environments":{},"historyRetention":100,"planRetention":20}}`, t0.Format(time.RFC3339))
	f := fsm.New(nil)
	if err := f.Restore(readCloserOf([]byte(snap))); err != nil {
		t.Fatalf("Restore(%s) = %v", snap, err)
	}
	h := newHarness(t)
	h.fsm, h.a = f, fsmtest.Over(f)
	h.ids["orphan"] = "prod-1"
	for _, to := range []fsm.DeploymentState{fsm.StateScheduled, fsm.StateBackingUp, fsm.StateApplying} {
		err := h.refused(&fsm.TransitionDeployment{ID: "prod-1", To: to, Time: h.tick()}, fsm.ErrIllegalTransition)
		if !strings.Contains(err.Error(), "prod-1") {
			t.Errorf("transition to %s refused with %q; want it to name prod-1", to, err)
		}
	}
	if e, ok := f.Environment("prod"); ok {
		t.Errorf("Environment(prod) = %+v after refused transitions; want no record", e)
	}
}
