package fsm_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/fsm/fsmtest"
)

// Fuzz targets of what the FSM reads from outside: raft log entries
// (Decode, Apply) and snapshots (Restore), which a backup given to snapshot
// restore becomes. `make fuzz` runs each for a while; `go test` runs their
// seeds. A panic in Apply or Restore would stop every node of the cluster,
// so both must refuse bad input with an error and never panic.

// hostileJSON returns payloads every JSON reader must survive.
func hostileJSON() [][]byte {
	deep := func(open, close string, n int) []byte {
		return []byte(strings.Repeat(open, n) + strings.Repeat(close, n))
	}
	return [][]byte{
		nil,
		[]byte("{"),
		[]byte("null"),
		[]byte("[]"),
		[]byte(`""`),
		deep("[", "]", 10000),
		deep(`{"a":`, "}", 10000),
		deep("[", "", 10001),
		[]byte(`{"id":"a","id":"b","to":"Completed","to":"Failed"}`),
		[]byte(`{"historyRetention":1e400,"above":18446744073709551616}`),
		[]byte(`{"historyRetention":-9223372036854775809}`),
		[]byte("{\"id\":\"\xff\xfe\",\"environment\":\"a\x00b\"}"),
		[]byte(`{"time":"10000-01-01T00:00:00Z"}`),
		[]byte(`{"time":"0000-01-01T00:00:00+23:59"}`),
		[]byte(`{"id":"` + strings.Repeat("x", 1<<16) + `"}`),
	}
}

// recordHarness returns a log that leaves an FSM with deployments in many
// states, and notifications of them, so that fuzzed commands have
// something to act on.
func recordHarness(t testing.TB) []*raft.Log {
	a := fsmtest.New().Recording()
	at := t0
	apply := func(c fsm.Command) any { return a.Must(t, c) }
	apply(&fsm.SetNotificationRoutes{Routes: []fsm.NotificationRoute{
		{Events: []fsm.NotificationEvent{fsm.EventDeploymentCreated, fsm.EventApprovalRequired, fsm.EventDeploymentFailed},
			Environments: []string{"prod"}, Channels: []string{"hook", "team"}}}})
	create := func(env string, path ...fsm.DeploymentState) string {
		at = at.Add(time.Minute)
		id := apply(&fsm.CreateDeployment{Environment: env, Commit: fmt.Sprintf("c%d", a.Index()), Kind: fsm.KindAuto,
			Initiator: "watcher", Time: at}).(*fsm.Deployment).ID
		for _, to := range path {
			at = at.Add(time.Minute)
			c := &fsm.TransitionDeployment{ID: id, To: to, Time: at}
			if to == fsm.StateAwaitingApproval {
				c.Approval = &fsm.ApprovalRequirement{Required: 1, Groups: []string{"ops"}}
			}
			apply(c)
		}
		return id
	}
	create("prod", pathTo[fsm.StateCompleted]...)        // prod-1
	create("prod", pathTo[fsm.StateFailed]...)           // prod-2
	create("prod", pathTo[fsm.StateCompleted]...)        // prod-3
	create("prod", pathTo[fsm.StateAwaitingApproval]...) // prod-4
	create("staging", pathTo[fsm.StateApplying]...)      // staging-5
	create("qa", pathTo[fsm.StateRejected]...)           // qa-6
	create("qa")                                         // qa-7
	apply(&fsm.ObserveCommit{Environment: "prod", Commit: "c99", Time: at})
	apply(&fsm.MarkNotificationDelivered{ID: "prod-1.DeploymentCreated.hook", Time: at})
	apply(&fsm.RecordNotificationAttempt{ID: "prod-2.DeploymentFailed.team", Time: at, Error: "503", GiveUp: true})
	return a.Log()
}

// replay applies log to a new FSM.
func replay(log []*raft.Log) *fsm.FSM {
	f := fsm.New(nil)
	for _, l := range log {
		f.Apply(l)
	}
	return f
}

// FuzzDecode feeds arbitrary bytes to Decode and, as raft would, to Apply
// on an FSM holding deployments in many states. Properties:
//   - Apply panics exactly on what Decode refuses (a corrupt log), unless
//     the entry is of an unknown type marked safe to ignore;
//   - Apply never panics on an entry that decodes;
//   - what decodes encodes again, and that encoding is stable
//     (Encode(Decode(Encode(Decode(b)))) == Encode(Decode(b)));
//   - a refused command changes nothing, and two FSMs applying the same
//     entry end in the same state.
func FuzzDecode(f *testing.F) {
	for _, c := range everyCommand() {
		b, err := fsm.Encode(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	at := t0.Add(time.Hour)
	for _, c := range []fsm.Command{
		&fsm.TransitionDeployment{ID: "prod-4", To: fsm.StateScheduled, Time: at},
		&fsm.TransitionDeployment{ID: "prod-2", To: fsm.StateRollingBack, Time: at},
		&fsm.TransitionDeployment{ID: "staging-5", To: fsm.StatePostValidating, Time: at, BackupBundleID: "b"},
		&fsm.Approve{ID: "prod-4", Identity: "alice", Groups: []string{"ops"}, Time: at},
		&fsm.Reject{ID: "prod-4", Identity: "bob", Groups: []string{"ops"}, Time: at, Reason: "no"},
		&fsm.CreateRollback{Environment: "prod", To: "prod-1", Initiator: "alice", Time: at},
		&fsm.IssueFencingToken{ID: "staging-5", Above: 1 << 62},
		&fsm.SetSettings{HistoryRetention: 1, PlanRetention: 1},
		&fsm.RequestSync{Environment: "qa", By: "alice", Time: at},
		&fsm.SetSourceStatus{Head: "c1", Time: at},
		&fsm.SetSourceStatus{Error: "boom", Time: at},
		&fsm.RecordNotificationAttempt{ID: "prod-4.ApprovalRequired.hook", Time: at, Error: "503", NextTry: at},
		&fsm.MarkNotificationDelivered{ID: "prod-2.DeploymentFailed.team", Time: at},
		&fsm.RetryNotification{ID: "prod-2.DeploymentFailed.team", Time: at},
		&fsm.SetNotificationRoutes{},
	} {
		b, err := fsm.Encode(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for typ := range byte(16) {
		for _, p := range hostileJSON() {
			if typ%4 == 0 || len(p) < 64 {
				f.Add(append([]byte{typ}, p...))
			}
		}
	}
	f.Add(append([]byte{byte(fsm.TransitionCommand)}, `{"id":"prod-4","to":"Sideways","time":"2025-03-01T12:40:00Z"}`...))
	f.Add([]byte{byte(fsm.IgnoreUnknownFlag) | 0x7f, '{', '}'})
	f.Add([]byte{byte(fsm.IgnoreUnknownFlag) | byte(fsm.ApproveCommand), '{', '}'})

	log := recordHarness(f)
	next := uint64(len(log) + 1)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, decodeErr := fsm.Decode(data)
		a, b := replay(log), replay(log)
		before := stateBytesOf(t, a)
		entry := &raft.Log{Index: next, Type: raft.LogCommand, Data: data}
		res, panicked := applyRecovered(a, entry)
		if decodeErr != nil {
			ignorable := len(data) > 0 && data[0]&byte(fsm.IgnoreUnknownFlag) != 0 &&
				strings.Contains(decodeErr.Error(), "unknown command type")
			if ignorable && panicked != nil {
				t.Fatalf("Apply(%q) panicked on an unknown entry marked safe to ignore: %v", data, panicked)
			}
			if !ignorable && panicked == nil {
				t.Fatalf("Apply(%q) = %v; Decode refused it (%v), so Apply must stop the node", data, res, decodeErr)
			}
			return
		}
		if panicked != nil {
			t.Fatalf("Apply(%s) panicked: %v", describe(c), panicked)
		}
		enc, err := fsm.Encode(c)
		if err != nil && namesAnUnknownState(c) {
			// A state's name this version does not know decodes to no
			// state, which never encodes: the command must be refused
			// (ErrInvalid, unless an earlier check refuses it), changing
			// nothing.
			if _, refused := res.(error); !refused {
				t.Fatalf("Apply(%q) = %v; want a refusal, it names an unknown state", data, res)
			}
			if after := stateBytesOf(t, a); !bytes.Equal(before, after) {
				t.Fatalf("Apply(%q) was refused, and changed the state", data)
			}
			return
		}
		if err != nil {
			t.Fatalf("Encode(Decode(%q)) = %v", data, err)
		}
		c2, err := fsm.Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(%q))) = %v", data, err)
		}
		enc2, err := fsm.Encode(c2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable: %q then %q (%v)", enc, enc2, err)
		}
		if _, refused := res.(error); refused {
			if after := stateBytesOf(t, a); !bytes.Equal(before, after) {
				t.Fatalf("Apply(%s) = %v, and changed the state:\nbefore %s\nafter  %s", describe(c), res, before, after)
			}
		}
		b.Apply(entry)
		if da, db := dumpOf(t, a), dumpOf(t, b); !bytes.Equal(da, db) {
			t.Fatalf("two FSMs applying %s differ:\n%s\n%s", describe(c), da, db)
		}
	})
}

// FuzzRestore feeds arbitrary bytes to Restore. Properties:
//   - Restore never panics, and accepts exactly what CheckSnapshot accepts;
//   - a restored state dumps to a snapshot (version 1) and persists to one
//     (version 2) that both restore to the same dump;
//   - on a restored state, whatever it holds, reads and every kind of
//     command (for each environment and deployment it names) never panic.
func FuzzRestore(f *testing.F) {
	log := recordHarness(f)
	good := dumpOf(f, replay(log))
	f.Add(good)
	f.Add(dumpOf(f, fsm.New(nil)))
	f.Add([]byte(`{"version":1,"appliedIndex":3,"state":{}}`))
	f.Add([]byte(`{"version":2,"state":{}}`))
	f.Add([]byte(`{"version":1,"state":{"deployments":{"prod-1":null}}}`))
	f.Add([]byte(`{"version":1,"state":{"deploymentSeq":1,"deployments":{"prod-1":{"id":"prod-1","environment":"prod","state":"Applying"}},` +
		`"environments":{"prod":{"name":"prod","current":"prod-1","history":["prod-1","prod-9"]}}}}`))
	for _, edit := range []struct{ from, to string }{
		{`"current":"staging-5"`, `"current":"staging-9"`},
		{`"waiting":"prod-4"`, `"waiting":"nope"`},
		{`"deployedDeployment":"prod-3"`, `"deployedDeployment":"prod-0"`},
		{`"state":"Completed"`, `"state":"Bogus"`},
		{`"historyRetention":100`, `"historyRetention":-1`},
		{`"name":"prod"`, `"name":"qa"`},
		{`"history":["qa-6","qa-7"]`, `"history":["qa-6","qa-7","qa-6",""]`},
		{`"state":"delivered"`, `"state":"sent"`},
		{`"id":"prod-2.DeploymentFailed.team"`, `"id":"prod-2.DeploymentFailed.hook"`},
		{`"deploymentId":"prod-4"`, `"deploymentId":"prod-9"`},
		{`"channels":["hook","team"]`, `"channels":["Hook"]`},
		{`"attempts":1`, `"attempts":-1`},
	} {
		if !bytes.Contains(good, []byte(edit.from)) {
			f.Fatalf("the fixture's dump has no %s", edit.from)
		}
		f.Add(bytes.Replace(good, []byte(edit.from), []byte(edit.to), 1))
	}
	// The version 2 format: the fixture as it persists, its edits, cuts
	// and wrong counts.
	good2 := persist(f, replay(log))
	f.Add(good2)
	f.Add(persist(f, fsm.New(nil)))
	for _, edit := range []struct{ from, to string }{
		{`"deployments":`, `"deployments":1`},
		{`"environments":`, `"environments":-`},
		{`"notifications":`, `"notifications":9`},
		{`"state":"Completed"`, `"state":"Bogus"`},
		{`"name":"prod"`, `"name":"qa"`},
		{`"deploymentSeq":`, `"deploymentSeq":0`},
		{"\n{\"id\"", "\nnull\n{\"id\""},
		{"\n", "\n\n \t"},
	} {
		if !bytes.Contains(good2, []byte(edit.from)) {
			f.Fatalf("the fixture's version 2 snapshot has no %s", edit.from)
		}
		f.Add(bytes.Replace(good2, []byte(edit.from), []byte(edit.to), 1))
	}
	f.Add(good2[:len(good2)/2])
	f.Add(append(bytes.Clone(good2), `{"id":"prod-99"}`...))
	f.Add(append(bytes.Clone(good2[:bytes.IndexByte(good2, '\n')+1]), good2[bytes.IndexByte(good2, '\n')+1:]...))
	for _, p := range hostileJSON() {
		f.Add(p)
		f.Add(fmt.Appendf(nil, "{\"version\":2,\"environments\":1,\"deployments\":1}\n%s\n%s\n", p, p))
		f.Add([]byte(fmt.Sprintf(`{"version":1,"state":{"deployments":%s}}`, p)))
		f.Add([]byte(fmt.Sprintf(`{"version":1,"state":{"notifications":%s}}`, p)))
		f.Add([]byte(fmt.Sprintf(`{"version":1,"state":{"notificationRoutes":%s}}`, p)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a := fsm.New(nil)
		err, panicked := restoreRecovered(a, data)
		if panicked != nil {
			t.Fatalf("Restore(%q) panicked: %v", data, panicked)
		}
		if cerr := fsm.CheckSnapshot(bytes.NewReader(data)); (cerr == nil) != (err == nil) {
			t.Fatalf("Restore(%q) = %v but CheckSnapshot = %v; want both to accept or both to refuse", data, err, cerr)
		}
		if err != nil {
			return
		}
		d1 := dumpOf(t, a)
		b := fsm.New(nil)
		if err := b.Restore(readCloserOf(d1)); err != nil {
			t.Fatalf("Restore(Dump()) = %v for the dump %s", err, d1)
		}
		if d2 := dumpOf(t, b); !bytes.Equal(d1, d2) {
			t.Fatalf("Dump changed over a restore:\n%s\n%s", d1, d2)
		}
		// And through the version 2 format, as raft persists it.
		s2 := persist(t, a)
		c := fsm.New(nil)
		if err := c.Restore(readCloserOf(s2)); err != nil {
			t.Fatalf("Restore(Persist()) = %v for the snapshot %s", err, s2)
		}
		if d3 := dumpOf(t, c); !bytes.Equal(d1, d3) {
			t.Fatalf("Dump changed over a persist and restore:\n%s\n%s", d1, d3)
		}
		exercise(t, a)
	})
}

// restoreRecovered calls f.Restore and returns what it panicked with, if
// it did.
func restoreRecovered(f *fsm.FSM, data []byte) (err error, panicked any) {
	defer func() { panicked = recover() }()
	return f.Restore(readCloserOf(data)), nil
}

// exerciseOrder tries the moves into targets first: a deployment that
// moved elsewhere first could no longer make them.
var exerciseOrder = []fsm.DeploymentState{
	fsm.StateBackingUp, fsm.StateRollingBack, fsm.StateApplying, fsm.StatePostValidating, fsm.StateScheduled,
	fsm.StateAwaitingApproval, fsm.StatePending, fsm.StateValidating, fsm.StatePlanning, fsm.StateCompleted,
	fsm.StateFailed, fsm.StateRolledBack, fsm.StateRejected, fsm.StateSuperseded,
}

// exercise reads everything of f and applies every kind of command to the
// environments and deployments it holds; nothing may panic, and a refused
// command changes nothing.
func exercise(t *testing.T, f *fsm.FSM) {
	t.Helper()
	index := f.AppliedIndex()
	at := t0.Add(24 * time.Hour)
	apply := func(c fsm.Command) {
		b, err := fsm.Encode(c)
		if err != nil {
			t.Fatalf("Encode(%s) = %v", describe(c), err)
		}
		index++
		before := stateBytesOf(t, f)
		res, panicked := applyRecovered(f, &raft.Log{Index: index, Type: raft.LogCommand, Data: b})
		if panicked != nil {
			t.Fatalf("Apply(%s) on a restored state panicked: %v", describe(c), panicked)
		}
		if _, refused := res.(error); refused {
			if after := stateBytesOf(t, f); !bytes.Equal(before, after) {
				t.Fatalf("Apply(%s) on a restored state = %v, and changed the state:\nbefore %s\nafter  %s",
					describe(c), res, before, after)
			}
		}
	}
	envs := f.Environments()
	f.EventsAfter(fsm.EventID{}, "")
	f.CountDeployments()
	notes := f.Notifications(fsm.NotificationFilter{})
	f.DueNotifications(at, 0)
	f.NotificationRoutes()
	ids := map[string]bool{}
	for _, e := range envs {
		for _, d := range f.History(e.Name) {
			ids[d.ID] = true
		}
		for _, id := range []string{e.Current, e.Waiting, e.DeployedDeployment} {
			ids[id] = true
		}
		f.EventsAfter(fsm.EventID{}, e.Name)
	}
	for _, d := range f.Deployments("", 0, 0) {
		ids[d.ID] = true
	}
	if len(ids) > 50 {
		return // enough to learn from; keep each input fast
	}
	// Route every event, so that the moves below record notifications.
	apply(&fsm.SetNotificationRoutes{Routes: []fsm.NotificationRoute{
		{Events: fsm.AllNotificationEvents, Channels: []string{"hook"}}}})
	for id := range ids {
		for _, to := range exerciseOrder {
			c := &fsm.TransitionDeployment{ID: id, To: to, Time: at, BackupBundleID: "b"}
			if to == fsm.StateAwaitingApproval {
				c.Approval = &fsm.ApprovalRequirement{Required: 1}
			}
			apply(c)
		}
		apply(&fsm.Approve{ID: id, Identity: "alice", Groups: []string{"ops"}, Time: at})
		apply(&fsm.Reject{ID: id, Identity: "bob", Groups: []string{"ops"}, Time: at, Reason: "no"})
		apply(&fsm.IssueFencingToken{ID: id})
	}
	for _, e := range envs {
		apply(&fsm.CreateDeployment{Environment: e.Name, Commit: "new", Kind: fsm.KindManualSync, Initiator: "x", Time: at})
		apply(&fsm.ObserveCommit{Environment: e.Name, Commit: "seen", Time: at})
		apply(&fsm.RequestSync{Environment: e.Name, By: "x", Time: at})
		for id := range ids {
			apply(&fsm.CreateRollback{Environment: e.Name, To: id, Initiator: "x", Time: at})
		}
		apply(&fsm.SetPin{Environment: e.Name})
	}
	for i, n := range notes {
		if i >= 20 {
			break
		}
		f.Notification(n.ID)
		f.Notifications(fsm.NotificationFilter{DeploymentID: n.DeploymentID})
		apply(&fsm.RecordNotificationAttempt{ID: n.ID, Time: at, Error: "e", NextTry: at})
		apply(&fsm.RecordNotificationAttempt{ID: n.ID, Time: at, Error: "e", GiveUp: true})
		apply(&fsm.RetryNotification{ID: n.ID, Time: at})
		apply(&fsm.MarkNotificationDelivered{ID: n.ID, Time: at})
	}
	apply(&fsm.SetSourceStatus{Head: "h", Time: at})
	apply(&fsm.SetSettings{HistoryRetention: 1, PlanRetention: 1})
	if _, err := f.Dump(); err != nil {
		t.Fatalf("Dump() after commands on a restored state = %v", err)
	}
}

// FuzzParseEventID: an event id parses to a value whose String parses back
// to the same value.
func FuzzParseEventID(f *testing.F) {
	for _, s := range []string{"", "0.0", "12.3", "18446744073709551615.0", "18446744073709551616.0", "1.-1", "1", ".",
		"1.2.3", "+1.+2", "1.9223372036854775808", " 1.2", "1.2\x00", "\xff.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := fsm.ParseEventID(s)
		if err != nil {
			if !strings.Contains(err.Error(), "event id") {
				t.Errorf("ParseEventID(%q) = %v; want the error to name the event id", s, err)
			}
			return
		}
		if s == "" {
			return
		}
		back, err := fsm.ParseEventID(id.String())
		if err != nil || back != id {
			t.Fatalf("ParseEventID(%q) = %v, whose String %q parses to %v, %v", s, id, id.String(), back, err)
		}
	})
}
