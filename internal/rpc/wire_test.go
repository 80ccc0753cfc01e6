package rpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/configrepo"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/plan"
)

// filler sets every exported field of a value, however deep, to a value
// that is not zero and differs from the others: what a conversion leaves
// out shows in its JSON.
type filler struct{ n int }

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
	riskType = reflect.TypeFor[plan.Risk]()
	docType  = reflect.TypeFor[fsm.Document]()
	stType   = reflect.TypeFor[fsm.DeploymentState]()
)

func (f *filler) fill(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	f.n++
	switch {
	case v.Type() == timeType:
		v.Set(reflect.ValueOf(t0.Add(time.Duration(f.n) * time.Minute)))
		return
	case v.Type() == riskType:
		v.Set(reflect.ValueOf(plan.Risk(1 + f.n%4)))
		return
	case v.Type() == rawType || v.Type() == docType:
		return // a document: the test fills it with one
	case v.Type() == stType:
		v.Set(reflect.ValueOf(fsm.AllStates[f.n%len(fsm.AllStates)]))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("%s-%d", path, f.n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(f.n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(f.n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(f.n) + 0.5)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		f.fill(t, p.Elem(), path)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			f.fill(t, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Interface:
		v.Set(reflect.ValueOf(fmt.Sprintf("%s-%d", path, f.n)))
	case reflect.Struct:
		for i := range v.NumField() {
			if sf := v.Type().Field(i); sf.IsExported() {
				f.fill(t, v.Field(i), path+"."+sf.Name)
			}
		}
	default:
		t.Fatalf("%s: the filler does not know %s", path, v.Type())
	}
}

// filled returns a T with every field set.
func filled[T any](t *testing.T, f *filler) T {
	t.Helper()
	var v T
	f.fill(t, reflect.ValueOf(&v).Elem(), reflect.TypeFor[T]().Name())
	return v
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return b
}

// filledDeployment is a deployment with every field set, its documents
// too.
func filledDeployment(t *testing.T) *fsm.Deployment {
	f := &filler{}
	d := filled[fsm.Deployment](t, f)
	doc := filled[plan.Document](t, f)
	d.Plan = fsm.NewDocument(mustJSON(t, doc))
	d.Validation = fsm.NewDocument(mustJSON(t, filled[configrepo.Report](t, f)))
	return &d
}

// TestWireFieldsComplete fails when a field is added to a type of the
// replicated state (or of the documents it records) and not to its api
// type and conversion: each conversion of a value whose every field is set
// must give the same JSON as the value itself.
func TestWireFieldsComplete(t *testing.T) {
	f := &filler{}
	env := filled[fsm.Environment](t, f)
	src := filled[fsm.SourceStatus](t, f)
	ev := filled[fsm.Event](t, f)
	for _, tt := range []struct {
		name     string
		state    any
		wire     any
		nonEmpty bool
	}{
		{"Deployment", filledDeployment(t), wireDeployment(filledDeployment(t)), true},
		{"Environment", withHistoryLength(t, &env), wireEnvironment(&env), true},
		{"SourceStatus", src, wireSourceStatus(src), true},
		{"Event", ev, wireEvent(ev), true},
		// Nil slices stay null, and empty ones [].
		{"zero Deployment", &fsm.Deployment{}, wireDeployment(&fsm.Deployment{}), false},
		{"zero Environment", withHistoryLength(t, &fsm.Environment{}), wireEnvironment(&fsm.Environment{}), false},
		{"empty Deployment", &fsm.Deployment{Transitions: []fsm.Transition{}, Approvals: []fsm.Approval{}},
			wireDeployment(&fsm.Deployment{Transitions: []fsm.Transition{}, Approvals: []fsm.Approval{}}), false},
		// An environment's history ids are left out when there are none
		// (and by the list of environments); their number is always sent.
		{"empty Environment", withHistoryLength(t, &fsm.Environment{History: []string{}}),
			wireEnvironment(&fsm.Environment{History: []string{}}), false},
		{"nil Deployment", (*fsm.Deployment)(nil), wireDeployment(nil), false},
	} {
		want, got := mustJSON(t, tt.state), mustJSON(t, tt.wire)
		var wantV, gotV any // compared decoded: withHistoryLength's keys are sorted
		if err := json.Unmarshal(want, &wantV); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got, &gotV); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gotV, wantV) {
			t.Errorf("%s: the API's JSON differs from the state's:\n got %s\nwant %s", tt.name, got, want)
		}
		if tt.nonEmpty && bytes.Contains(want, []byte(`""`)) {
			t.Errorf("%s: the filler left a string empty: %s", tt.name, want)
		}
	}
}

// withHistoryLength is e's JSON as the API sends it: with historyLength,
// the number of its history ids, which the API adds, and without history
// when it holds none.
func withHistoryLength(t *testing.T, e *fsm.Environment) json.RawMessage {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(mustJSON(t, e), &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["history"]; !ok {
		t.Fatal("fsm.Environment has no history in its JSON")
	}
	if len(e.History) == 0 {
		delete(m, "history")
	}
	m["historyLength"] = len(e.History)
	return mustJSON(t, m)
}

// notificationNotSent are the fields of an fsm.Notification the API leaves
// out, by JSON name: the Raft index of the entry that raised it and the
// time of the last command that changed it (wireNotification says why).
var notificationNotSent = []string{"index", "updated"}

// TestWireNotificationComplete fails when a field is added to
// fsm.Notification and neither to api.Notification and wireNotification
// nor to notificationNotSent: a notification whose every field is set
// converts to the same JSON values, but for those the API leaves out.
func TestWireNotificationComplete(t *testing.T) {
	f := &filler{}
	full := filled[fsm.Notification](t, f)
	for _, tt := range []struct {
		name string
		n    fsm.Notification
	}{{"Notification", full}, {"zero Notification", fsm.Notification{}}} {
		var state, wire map[string]any
		if err := json.Unmarshal(mustJSON(t, tt.n), &state); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(mustJSON(t, wireNotification(tt.n)), &wire); err != nil {
			t.Fatal(err)
		}
		for _, k := range notificationNotSent {
			if _, ok := state[k]; !ok {
				t.Errorf("%s: fsm.Notification has no field %q; take it out of notificationNotSent", tt.name, k)
			}
			if _, ok := wire[k]; ok {
				t.Errorf("%s: the API sends %q, which notificationNotSent says it leaves out", tt.name, k)
			}
			delete(state, k)
		}
		if !reflect.DeepEqual(wire, state) {
			t.Errorf("%s: the API's JSON differs from the state's:\n got %v\nwant %v", tt.name, wire, state)
		}
	}
	if b := mustJSON(t, full); bytes.Contains(b, []byte(`""`)) {
		t.Errorf("the filler left a string empty: %s", b)
	}
	// A deployment's record carries them converted the same way.
	d := wireDeployment(filledDeployment(t))
	d.Notifications = mapSlice([]fsm.Notification{full}, wireNotification)
	var back api.Deployment
	if err := json.Unmarshal(mustJSON(t, d), &back); err != nil || len(back.Notifications) != 1 ||
		back.Notifications[0] != wireNotification(full) {
		t.Errorf("a deployment's notifications did not survive its JSON: %+v, %v", back.Notifications, err)
	}
}

// TestWireDocumentsComplete: the plan and validation documents, every
// field set, convert to the same JSON; so do documents as the planner
// writes them, with numbers that float64 would round and values it
// summarized.
func TestWireDocumentsComplete(t *testing.T) {
	f := &filler{}
	doc := filled[plan.Document](t, f)
	report := filled[configrepo.Report](t, f)
	for _, tt := range []struct {
		name string
		raw  json.RawMessage
		conv func(json.RawMessage) json.RawMessage
	}{
		{"plan", mustJSON(t, doc), wirePlan},
		{"plan without a plan", mustJSON(t, plan.Document{Commit: "c1"}), wirePlan},
		{"validation", mustJSON(t, report), wireValidation},
		{"validation, valid", mustJSON(t, configrepo.NewReport(nil)), wireValidation},
		{"plan of the golden state", goldenPlan(t, "a", "b"), wirePlan},
		{"plan with exact numbers", mustJSON(t, plan.Document{Commit: "c", Plan: &plan.Plan{Changes: []plan.Change{{
			Diff: []plan.FieldDiff{{Field: "n", From: uint64(1<<63 + 1), To: 0.1, Risk: plan.RiskLow},
				{Field: "big", To: plan.ValueSummary{Bytes: 9999, SHA256: "00", Prefix: "{"}, ToSummarized: true,
					From: map[string]any{"z": 1, "a": []any{int64(-1 << 62), "<&>"}}, Risk: plan.RiskLow}}}}}}), wirePlan},
	} {
		got := tt.conv(tt.raw)
		if !bytes.Equal(got, tt.raw) {
			t.Errorf("%s: converted document differs:\n got %s\nwant %s", tt.name, got, tt.raw)
		}
	}
	// A document that does not decode is sent as stored.
	for _, raw := range []string{`{"risk":"unheard-of"}`, `[1,2]`, `null`, ``} {
		if got := wirePlan(json.RawMessage(raw)); string(got) != raw {
			t.Errorf("wirePlan(%s) = %s; want it as stored", raw, got)
		}
		if got := wireValidation(json.RawMessage(raw)); raw != `{"risk":"unheard-of"}` && string(got) != raw {
			t.Errorf("wireValidation(%s) = %s; want it as stored", raw, got)
		}
	}
}

// lowerKeys is a JSON value with every object key in lower case: the
// cluster's types have no JSON names, the API's do.
func lowerKeys(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, e := range x {
			m[strings.ToLower(k)] = lowerKeys(e)
		}
		return m
	case []any:
		for i := range x {
			x[i] = lowerKeys(x[i])
		}
	}
	return v
}

// TestWireClusterComplete fails when a field is added to the cluster's
// view of itself and not to the API's: the cluster's types and the API's
// hold the same fields, by name.
func TestWireClusterComplete(t *testing.T) {
	f := &filler{}
	st := filled[cluster.Status](t, f)
	kr := filled[cluster.Keyring](t, f)
	for _, tt := range []struct {
		name       string
		node, wire any
	}{
		{"Status", st, wireStatus(st)},
		{"Member", st.Members[0], wireMember(st.Members[0])},
		{"Keyring", kr, wireKeyring(kr)},
		{"zero Status", cluster.Status{}, wireStatus(cluster.Status{})},
	} {
		var node, wire any
		if err := json.Unmarshal(mustJSON(t, tt.node), &node); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(mustJSON(t, tt.wire), &wire); err != nil {
			t.Fatal(err)
		}
		node, wire = lowerKeys(node), lowerKeys(wire)
		if m, ok := node.(map[string]any); ok && tt.name == "zero Status" {
			// omitempty in the API's JSON
			for _, k := range []string{"lastcontact", "version"} {
				delete(m, k)
			}
		}
		if !reflect.DeepEqual(node, wire) {
			t.Errorf("%s: the API's JSON holds other fields than the cluster's:\n got %v\nwant %v", tt.name, wire, node)
		}
	}
}

// TestWireEnumerations: the API's states, kinds and risks are the state's,
// with the same meaning.
func TestWireEnumerations(t *testing.T) {
	if len(api.AllStates) != len(fsm.AllStates) {
		t.Fatalf("api.AllStates has %d states; fsm has %d", len(api.AllStates), len(fsm.AllStates))
	}
	for i, s := range fsm.AllStates {
		a := api.AllStates[i]
		if string(a) != s.String() || a.Valid() != s.Valid() || a.Terminal() != s.Terminal() ||
			a.Waiting() != s.Waiting() || a.Active() != s.Active() {
			t.Errorf("api state %q (valid %v terminal %v waiting %v active %v) is not fsm's %q (%v %v %v %v)",
				a, a.Valid(), a.Terminal(), a.Waiting(), a.Active(), s, s.Valid(), s.Terminal(), s.Waiting(), s.Active())
		}
	}
	if api.DeploymentState("Done").Valid() {
		t.Error(`api.DeploymentState("Done").Valid() = true`)
	}
	for _, k := range []fsm.Kind{fsm.KindAuto, fsm.KindManualSync, fsm.KindRollback, fsm.KindAutoRollback} {
		if !slices.Contains([]api.Kind{api.KindAuto, api.KindManualSync, api.KindRollback, api.KindAutoRollback}, api.Kind(k)) {
			t.Errorf("fsm kind %q has no api kind", k)
		}
	}
	var states []api.NotificationState
	for _, s := range []fsm.NotificationState{fsm.NotificationPending, fsm.NotificationDelivered, fsm.NotificationFailed} {
		states = append(states, api.NotificationState(s))
		if !api.NotificationState(s).Valid() {
			t.Errorf("fsm notification state %q is not valid in api", s)
		}
	}
	if !slices.Equal(states, api.AllNotificationStates) || api.NotificationState("sent").Valid() {
		t.Errorf("api.AllNotificationStates = %q; want fsm's %q", api.AllNotificationStates, states)
	}
	if len(api.AllNotificationEvents) != len(fsm.AllNotificationEvents) {
		t.Errorf("api.AllNotificationEvents has %d events; fsm has %d", len(api.AllNotificationEvents), len(fsm.AllNotificationEvents))
	}
	for i, e := range fsm.AllNotificationEvents {
		if i >= len(api.AllNotificationEvents) || string(api.AllNotificationEvents[i]) != string(e) {
			t.Errorf("fsm notification event %d %q is not api's", i, e)
		}
	}
	for r := plan.RiskNone; r <= plan.RiskCritical; r++ {
		if got := api.Risk(r).String(); got != r.String() {
			t.Errorf("api.Risk(%d) = %s; plan's is %s", r, got, r)
		}
	}
	if _, err := api.ParseRisk(plan.Risk(plan.RiskCritical + 1).String()); err == nil {
		t.Error("api knows a risk the planner does not")
	}
	for _, tt := range []struct {
		index uint64
		want  fsm.EventID
	}{{1, fsm.EventID{Index: 1, N: 1<<31 - 1}}, {1 << 40, fsm.EventID{Index: 1 << 40, N: 1<<31 - 1}}} {
		id, err := fsm.ParseEventID(api.EventIDAfter(tt.index))
		if err != nil || id != tt.want {
			t.Errorf("ParseEventID(EventIDAfter(%d)) = %v, %v; want %v", tt.index, id, err, tt.want)
		}
	}
	if id := api.EventIDAfter(0); id != "" {
		t.Errorf("EventIDAfter(0) = %q; want the start", id)
	}
}
