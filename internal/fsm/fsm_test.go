package fsm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

func TestApplyReturnsResultOrError(t *testing.T) {
	h := newHarness(t)
	res, err := h.apply(&fsm.CreateDeployment{Environment: "prod", Commit: "abc", Branch: "main",
		Kind: fsm.KindAuto, Initiator: "watcher", Time: t0, Message: "new commit"})
	if err != nil {
		t.Fatalf("Apply(create) = %v; want no error", err)
	}
	d, ok := res.(*fsm.Deployment)
	if !ok {
		t.Fatalf("Apply(create) result is %T; want *fsm.Deployment", res)
	}
	want := &fsm.Deployment{
		ID: "prod-1", Environment: "prod", Commit: "abc", Branch: "main", Kind: fsm.KindAuto, Initiator: "watcher",
		State: fsm.StatePending, CreatedAt: t0, UpdatedAt: t0,
		Transitions: []fsm.Transition{{To: fsm.StatePending, Time: fsm.InstantOf(t0), Message: "new commit", Index: 1}},
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("Apply(create) = %+v; want %+v", d, want)
	}
	if got, _ := h.fsm.Deployment("prod-1"); !reflect.DeepEqual(got, want) {
		t.Errorf("Deployment(prod-1) = %+v; want %+v", got, want)
	}
	// The result is a copy.
	d.Transitions[0].Message = "changed"
	if got, _ := h.fsm.Deployment("prod-1"); got.Transitions[0].Message != "new commit" {
		t.Errorf("changing the result of Apply(create) changed Deployment(prod-1): %+v", got.Transitions)
	}
	if got := h.fsm.AppliedIndex(); got != 1 {
		t.Errorf("AppliedIndex() = %d; want 1", got)
	}

	// A refusal comes back as an error value and still uses up its index.
	res, err = h.apply(&fsm.CreateDeployment{Environment: "prod", Commit: "abc", Kind: fsm.KindAuto})
	if !errors.Is(err, fsm.ErrInvalid) || res != nil {
		t.Errorf("Apply(create without time) = %v, %v; want nil, ErrInvalid", res, err)
	}
	if got := h.fsm.AppliedIndex(); got != 2 {
		t.Errorf("AppliedIndex() = %d after a refused entry; want 2", got)
	}
}

func TestApplyIgnoresEntriesThatAreNotCommands(t *testing.T) {
	h := newHarness(t)
	h.create("d1", "prod")
	before := h.stateBytes()
	for _, typ := range []raft.LogType{raft.LogNoop, raft.LogBarrier, raft.LogConfiguration} {
		// Data that would be a command, to show it is not looked at.
		data, _ := fsm.Encode(&fsm.TransitionDeployment{ID: h.id("d1"), To: fsm.StateValidating, Time: h.tick()})
		if res := h.fsm.Apply(&raft.Log{Index: 10, Type: typ, Data: data}); res != nil {
			t.Errorf("Apply(%s entry) = %v; want nil", typ, res)
		}
	}
	if after := h.stateBytes(); string(after) != string(before) {
		t.Errorf("Apply of non-command entries changed the state:\nbefore %s\nafter  %s", before, after)
	}
}

func TestReadsReturnCopies(t *testing.T) {
	h := newHarness(t)
	h.createAt("d1", "prod", fsm.StatePlanning)
	h.mustApply(&fsm.TransitionDeployment{ID: h.id("d1"), To: fsm.StateAwaitingApproval, Time: h.tick(),
		Plan:     json.RawMessage(`{"a":1}`),
		Approval: &fsm.ApprovalRequirement{Required: 1, Groups: []string{"ops"}}})
	h.mustApply(&fsm.Approve{ID: h.id("d1"), Identity: "alice", Groups: []string{"ops"}, Time: h.tick()})
	h.mustApply(&fsm.SetPin{Environment: "prod", Pin: &fsm.Pin{Commit: "c0", Since: h.tick()}})
	before := h.stateBytes()

	d := h.deployment("d1")
	d.State = fsm.StateCompleted
	d.Transitions[0].Message = "changed"
	d.Approval.Groups[0] = "everyone"
	d.Approvals[0].Groups[0] = "everyone"
	e := h.environment("prod")
	e.History[0] = "changed"
	e.Pin.Commit = "changed"
	for _, d := range h.fsm.History("prod") {
		d.Transitions[0].To = fsm.StateFailed
	}
	for _, e := range h.fsm.Environments() {
		e.History[0] = "changed"
	}

	if after := h.stateBytes(); string(after) != string(before) {
		t.Errorf("changing copies returned by reads changed the FSM:\nbefore %s\nafter  %s", before, after)
	}
}

func TestReadsOfUnknownNames(t *testing.T) {
	f := fsm.New(nil)
	if d, ok := f.Deployment("nope"); ok || d != nil {
		t.Errorf("Deployment(nope) = %v, %v; want nil, false", d, ok)
	}
	if e, ok := f.Environment("nope"); ok || e != nil {
		t.Errorf("Environment(nope) = %v, %v; want nil, false", e, ok)
	}
	if got := f.History("nope"); got != nil {
		t.Errorf("History(nope) = %v; want nil", got)
	}
	if got := f.Environments(); len(got) != 0 {
		t.Errorf("Environments() = %v on a new FSM; want none", got)
	}
}

// everyCommand holds one fully populated value of every command type.
func everyCommand() []fsm.Command {
	at := t0.Add(90 * time.Second)
	return []fsm.Command{
		&fsm.CreateDeployment{Environment: "prod", Commit: "abc", Branch: "main", Kind: fsm.KindManualSync,
			Initiator: "alice", Time: at, Message: "sync", DryRun: true},
		&fsm.TransitionDeployment{ID: "prod-1", To: fsm.StateAwaitingApproval, Time: at, Message: "m", Error: "e",
			Plan: json.RawMessage(`{"changes":[1,2]}`), Validation: json.RawMessage(`{"ok":true}`), Risk: "high",
			Approval:       &fsm.ApprovalRequirement{Required: 2, Groups: []string{"ops", "sre"}, Expires: at.Add(time.Hour)},
			BackupBundleID: "bundle-1"},
		&fsm.Approve{ID: "prod-1", Identity: "alice", Groups: []string{"ops"}, Time: at, Comment: "ok"},
		&fsm.Reject{ID: "prod-1", Identity: "bob", Groups: []string{"sre"}, Time: at, Reason: "no"},
		&fsm.ObserveCommit{Environment: "prod", Commit: "def", Time: at},
		&fsm.SetPin{Environment: "prod", Pin: &fsm.Pin{Commit: "abc", From: "def", By: "alice", Since: at}},
		&fsm.SetPin{Environment: "prod"},
		&fsm.IssueFencingToken{ID: "prod-1"},
		&fsm.SetSettings{HistoryRetention: 7},
		&fsm.CreateRollback{Environment: "prod", To: "prod-1", Branch: "main", Initiator: "alice", Time: at,
			Message: "roll back"},
		&fsm.SetNotificationRoutes{Routes: []fsm.NotificationRoute{{Events: []fsm.NotificationEvent{fsm.EventApproved},
			Environments: []string{"prod"}, Channels: []string{"team"}}}},
		&fsm.RecordNotificationAttempt{ID: "prod-1.Approved.team", Time: at, Error: "503", NextTry: at.Add(time.Minute),
			GiveUp: true},
		&fsm.MarkNotificationDelivered{ID: "prod-1.Approved.team", Time: at},
		&fsm.RetryNotification{ID: "prod-1.Approved.team", Time: at},
		&fsm.SetSuspension{Environment: "prod", Suspend: true, Identity: "alice", Reason: "incident 7", Time: at},
		&fsm.CancelDeployment{ID: "prod-1", Identity: "bob", Groups: []string{"ops"}, Time: at, Reason: "wrong commit"},
		&fsm.OverrideWindow{ID: "prod-1", Identity: "root", Role: "admin", Time: at, Reason: "hotfix"},
		&fsm.SetDrift{Environment: "prod", Deployment: "prod-1", Drifted: true, Targets: []string{"directory /srv/prod"},
			Files: []string{"metadata.json"}, MoreFiles: 2, Time: at},
		&fsm.RecordWave{ID: "prod-1", Wave: 1, Phase: fsm.WaveBaking, Targets: []string{"eu-1", "eu-2"}, Token: 12, Time: at,
			BakeUntil: at.Add(time.Minute), Message: "m", Round: &fsm.AnalysisRound{Time: at, Passed: false,
				Results: []fsm.AnalysisResult{{Check: "error-rate", Target: "eu-1", Value: 0.25, Status: "failed", Error: "e"}}}},
		&fsm.ControlRollout{ID: "prod-1", Action: fsm.RolloutAbort, Identity: "alice", Groups: []string{"ops"}, Time: at, Reason: "errors"},
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	// The type numbers are part of the log format: append-only, never
	// renumbered.
	wantType := map[string]fsm.CommandType{
		"*fsm.CreateDeployment": 1, "*fsm.TransitionDeployment": 2, "*fsm.Approve": 3, "*fsm.Reject": 4,
		"*fsm.ObserveCommit": 5, "*fsm.SetPin": 6, "*fsm.IssueFencingToken": 7, "*fsm.SetSettings": 8,
		"*fsm.CreateRollback": 11, "*fsm.SetNotificationRoutes": 12, "*fsm.RecordNotificationAttempt": 13,
		"*fsm.MarkNotificationDelivered": 14, "*fsm.RetryNotification": 15,
		"*fsm.SetSuspension": 16, "*fsm.CancelDeployment": 17, "*fsm.OverrideWindow": 18, "*fsm.RecordWave": 20, "*fsm.ControlRollout": 21,
		"*fsm.SetDrift": 19,
	}
	// The notification outbox's commands are marked safe for an older node
	// to ignore: their type byte carries IgnoreUnknownFlag.
	ignorable := map[string]bool{"*fsm.SetNotificationRoutes": true, "*fsm.RecordNotificationAttempt": true,
		"*fsm.MarkNotificationDelivered": true, "*fsm.RetryNotification": true}
	seen := map[string]bool{}
	for _, c := range everyCommand() {
		name := fmt.Sprintf("%T", c)
		seen[name] = true
		t.Run(describe(c), func(t *testing.T) {
			b, err := fsm.Encode(c)
			if err != nil {
				t.Fatalf("Encode(%s) = %v; want no error", describe(c), err)
			}
			wantByte := wantType[name]
			if ignorable[name] {
				wantByte |= fsm.IgnoreUnknownFlag
			}
			if got, want := fsm.CommandType(b[0]), wantType[name]; got != wantByte || c.Type() != want {
				t.Errorf("Encode(%s) type byte = %d, Type() = %d; want %d, %d", describe(c), got, c.Type(), wantByte, want)
			}
			got, err := fsm.Decode(b)
			if err != nil {
				t.Fatalf("Decode(Encode(%s)) = %v; want no error", describe(c), err)
			}
			if !reflect.DeepEqual(got, c) {
				t.Errorf("Decode(Encode(%s)) = %s; want the same", describe(c), describe(got))
			}
		})
	}
	if len(seen) != len(wantType) {
		t.Errorf("everyCommand covers %d types; want %d", len(seen), len(wantType))
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"type zero", []byte{0, '{', '}'}},
		{"unknown type", append([]byte{0x7f}, `{}`...)},
		{"unknown type marked ignorable", append([]byte{0x80 | 0x7f}, `{}`...)},
		{"bad payload", append([]byte{byte(fsm.CreateDeploymentCommand)}, `{"id":`...)},
		{"wrong payload type", append([]byte{byte(fsm.SetSettingsCommand)}, `{"historyRetention":"x"}`...)},
	}
	for _, tt := range tests {
		if c, err := fsm.Decode(tt.in); err == nil {
			t.Errorf("Decode(%s %q) = %s; want an error", tt.name, tt.in, describe(c))
		}
	}
	// The flag on a known type does not hide it.
	b, _ := fsm.Encode(&fsm.SetSettings{HistoryRetention: 4})
	b[0] |= byte(fsm.IgnoreUnknownFlag)
	if c, err := fsm.Decode(b); err != nil || !reflect.DeepEqual(c, &fsm.SetSettings{HistoryRetention: 4}) {
		t.Errorf("Decode(SetSettings with the ignore flag) = %v, %v; want the command", c, err)
	}
}

// applyRecovered calls f.Apply and returns what it panicked with, if it did.
func applyRecovered(f *fsm.FSM, l *raft.Log) (res, panicked any) {
	defer func() { panicked = recover() }()
	return f.Apply(l), nil
}

func TestApplyOfAnUndecodableEntry(t *testing.T) {
	tests := []struct {
		name      string
		data      []byte
		wantPanic bool
	}{
		{"unknown type", append([]byte{0x7f}, `{"x":1}`...), true},
		{"type zero", append([]byte{0}, `{}`...), true},
		{"empty entry", []byte{}, true},
		{"known type, corrupt payload", append([]byte{byte(fsm.TransitionCommand)}, `{"id":"d1"`...), true},
		{"unknown type marked ignorable", append([]byte{byte(fsm.IgnoreUnknownFlag) | 0x7f}, `{"x":1}`...), false},
		{"type zero marked ignorable", append([]byte{byte(fsm.IgnoreUnknownFlag)}, `{}`...), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.create("d1", "prod")
			before, beforeIndex := h.stateBytes(), h.fsm.AppliedIndex()
			changed := h.fsm.Changed()

			res, panicked := applyRecovered(h.fsm, &raft.Log{Index: 2, Type: raft.LogCommand, Data: tt.data})

			if tt.wantPanic {
				if panicked == nil {
					t.Fatalf("Apply(%s) = %v; want a panic", tt.name, res)
				}
				if msg := fmt.Sprint(panicked); !strings.Contains(msg, "log entry 2") {
					t.Errorf("Apply(%s) panicked with %q; want it to name log entry 2", tt.name, msg)
				}
				if got := h.fsm.AppliedIndex(); got != beforeIndex {
					t.Errorf("AppliedIndex() = %d after the panic; want %d", got, beforeIndex)
				}
			} else {
				if panicked != nil || res != nil {
					t.Fatalf("Apply(%s) = %v, panic %v; want nil, no panic", tt.name, res, panicked)
				}
				if got := h.fsm.AppliedIndex(); got != 2 {
					t.Errorf("AppliedIndex() = %d after skipping; want 2", got)
				}
				select {
				case <-changed:
				default:
					t.Errorf("Changed() channel still open after a skipped entry; want it closed")
				}
			}
			if after := h.stateBytes(); string(after) != string(before) {
				t.Errorf("Apply(%s) changed the state:\nbefore %s\nafter  %s", tt.name, before, after)
			}
		})
	}
}

func TestChangedIsClosedByEachApply(t *testing.T) {
	h := newHarness(t)
	ch := h.fsm.Changed()
	select {
	case <-ch:
		t.Fatalf("Changed() closed before anything was applied")
	default:
	}
	h.create("d1", "prod")
	select {
	case <-ch:
	default:
		t.Fatalf("Changed() still open after Apply")
	}
	ch = h.fsm.Changed()
	h.apply(&fsm.SetSettings{}) // refused, but applied
	select {
	case <-ch:
	default:
		t.Fatalf("Changed() still open after a refused Apply")
	}
}

func TestWaitForIndex(t *testing.T) {
	var logs []*raft.Log
	for i := uint64(1); i <= 5; i++ {
		data, err := fsm.Encode(&fsm.ObserveCommit{Environment: "prod", Commit: fmt.Sprint("c", i), Time: t0})
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, &raft.Log{Index: i, Type: raft.LogCommand, Data: data})
	}
	f := fsm.New(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	waited := make(chan error, 1)
	go func() { waited <- f.WaitForIndex(ctx, 3) }()

	// Entries 1 and 2 do not release the waiter.
	f.Apply(logs[0])
	f.Apply(logs[1])
	select {
	case err := <-waited:
		t.Fatalf("WaitForIndex(3) = %v with index 2 applied; want it still waiting", err)
	default:
	}

	applied := make(chan struct{})
	go func() {
		defer close(applied)
		for _, l := range logs[2:] {
			f.Apply(l)
		}
	}()
	if err := <-waited; err != nil {
		t.Fatalf("WaitForIndex(3) = %v; want nil once index 3 is applied", err)
	}
	if got := f.AppliedIndex(); got < 3 {
		t.Errorf("AppliedIndex() = %d when WaitForIndex(3) returned; want at least 3", got)
	}
	<-applied

	// Already applied: returns at once, even with a context that is done.
	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	if err := f.WaitForIndex(done, 5); err != nil {
		t.Errorf("WaitForIndex(5) = %v with 5 applied; want nil", err)
	}

	// Never applied: the deadline ends the wait.
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	err := f.WaitForIndex(short, 6)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitForIndex(6) = %v; want context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "6") || !strings.Contains(err.Error(), "applied 5") {
		t.Errorf("WaitForIndex(6) error %q; want it to name index 6 and applied 5", err)
	}
}

func TestWaitForIndexIsReleasedBySkippedEntriesAndRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	f := fsm.New(nil)
	waited := make(chan error, 1)
	go func() { waited <- f.WaitForIndex(ctx, 1) }()
	f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte{byte(fsm.IgnoreUnknownFlag) | 0x70, '{', '}'}})
	if err := <-waited; err != nil {
		t.Errorf("WaitForIndex(1) = %v after a skipped entry at 1; want nil", err)
	}

	src := newHarness(t)
	for range 4 {
		src.create(fmt.Sprint("d", src.index()+1), "prod")
	}
	go func() { waited <- f.WaitForIndex(ctx, 4) }()
	changed := f.Changed()
	if err := f.Restore(snapshotReader(t, src.fsm)); err != nil {
		t.Fatalf("Restore() = %v; want no error", err)
	}
	select {
	case <-changed:
	default:
		t.Errorf("Changed() still open after Restore; want it closed")
	}
	if err := <-waited; err != nil {
		t.Errorf("WaitForIndex(4) = %v after restoring a snapshot at 4; want nil", err)
	}
}

// TestBriefReadsLeaveOutDocuments: BriefHistory and BriefDeployments are
// History and Deployments without the plan and validation documents, and
// they leave the state's documents alone.
func TestBriefReadsLeaveOutDocuments(t *testing.T) {
	h := newHarness(t)
	h.createAt("d1", "prod", fsm.StatePlanning)
	h.mustApply(&fsm.TransitionDeployment{ID: h.id("d1"), To: fsm.StateAwaitingApproval, Time: h.tick(),
		Plan: json.RawMessage(`{"a":1}`), Validation: json.RawMessage(`{"ok":true}`),
		Approval: &fsm.ApprovalRequirement{Required: 1}})
	h.createAt("d2", "prod", fsm.StatePending)
	full, brief := h.fsm.History("prod"), h.fsm.BriefHistory("prod")
	fullList, briefList := h.fsm.Deployments("prod", 0, 0), h.fsm.BriefDeployments("prod", 0, 0)
	for _, pair := range [][2][]*fsm.Deployment{{full, brief}, {fullList, briefList}} {
		if len(pair[0]) != 2 || len(pair[1]) != 2 {
			t.Fatalf("%d and %d deployments; want 2 each", len(pair[0]), len(pair[1]))
		}
		for i := range pair[0] {
			want := *pair[0][i]
			want.Plan, want.Validation = fsm.Document{}, fsm.Document{}
			if !reflect.DeepEqual(pair[1][i], &want) {
				t.Errorf("brief %+v; want %+v", pair[1][i], &want)
			}
		}
	}
	if d := h.deployment("d1"); string(d.Plan.JSON()) != `{"a":1}` || string(d.Validation.JSON()) != `{"ok":true}` {
		t.Errorf("after brief reads, the deployment holds plan %s and validation %s", d.Plan, d.Validation)
	}
}

// TestBriefEnvironments: each brief is the environment's record without
// its history's ids, with their number and the newest, in name order; a
// change to a brief does not reach the state.
func TestBriefEnvironments(t *testing.T) {
	h := newHarness(t)
	if got := h.fsm.BriefEnvironments(); len(got) != 0 {
		t.Fatalf("BriefEnvironments() = %v on a new FSM; want none", got)
	}
	h.create("p1", "prod")
	h.create("s1", "staging")
	h.create("p2", "prod") // supersedes p1
	h.mustApply(&fsm.ObserveCommit{Environment: "dev", Commit: "c", Time: h.tick()})
	full, briefs := h.fsm.Environments(), h.fsm.BriefEnvironments()
	if len(briefs) != len(full) || len(full) != 3 {
		t.Fatalf("%d briefs, %d environments; want 3 each", len(briefs), len(full))
	}
	for i, b := range briefs {
		want := *full[i]
		latest := ""
		if n := len(want.History); n > 0 {
			latest = want.History[n-1]
		}
		if b.HistoryLength != len(want.History) || b.Latest != latest {
			t.Errorf("%s: history length %d, latest %q; want %d, %q", want.Name, b.HistoryLength, b.Latest, len(want.History), latest)
		}
		want.History = nil
		if !reflect.DeepEqual(b.Environment, &want) {
			t.Errorf("brief %+v; want %+v", b.Environment, &want)
		}
	}
	if briefs[0].Environment.Name != "dev" || briefs[1].Latest != h.id("p2") || briefs[1].HistoryLength != 2 {
		t.Errorf("briefs %+v, %+v; want dev first, then prod with 2 deployments, p2 the newest", briefs[0], briefs[1])
	}
	briefs[1].Environment.Current = "changed"
	if e := h.environment("prod"); e.Current == "changed" {
		t.Errorf("a change to a brief reached the state")
	}
}
