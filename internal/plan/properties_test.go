package plan_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/honua-io/honua-gitops/internal/plan"
)

func TestComputeIdenticalInputsIsEmpty(t *testing.T) {
	for name, in := range map[string][2]plan.Input{
		"fixture": {fixture(t).input(), fixture(t).input()},
		"zero":    {{}, {}},
	} {
		p := plan.Compute(in[0], in[1])
		if p.Risk != plan.RiskNone || p.Breaking || p.PolicyChanged || len(p.Changes) != 0 {
			t.Errorf("Compute(%s, %s) = %s; want an empty plan with risk none", name, name, mustJSON(t, p))
		}
		want := `{"risk":"none","breaking":false,"policyChanged":false,"added":0,"modified":0,"removed":0,"changes":[]}`
		if got := mustJSON(t, p); got != want {
			t.Errorf("json.Marshal(Compute(%s, %s)) = %s; want %s", name, name, got, want)
		}
	}
}

func TestComputeFirstDeploymentAddsEverything(t *testing.T) {
	p := plan.Compute(plan.Input{}, fixture(t).input())
	var got []string
	for _, c := range p.Changes {
		if c.Action != plan.ActionAdded {
			t.Errorf("Compute(first deployment) has %s; want every change added", describe(c))
		}
		got = append(got, c.Kind+" "+c.Path)
	}
	want := []string{
		"service services/spare-service", "service services/test-service",
		"layer layers/sample-points",
		"dataSource dataSources/archive", "dataSource dataSources/test-postgis",
		"appSetting appsettings/Authentication", "appSetting appsettings/Cache", "appSetting appsettings/Logging",
		"sharedConfig shared-config/Cors", "sharedConfig shared-config/Telemetry",
		"document datasources.json/schemaVersion", "document metadata.json/version",
		"policy policy",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Compute(first deployment) changes =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Data sources, security settings and the policy are high when added.
	if p.Risk != high || p.Breaking || !p.PolicyChanged || p.Added != len(want) {
		t.Errorf("Compute(first deployment) = %s; want risk high, not breaking, policy changed, %d added",
			p.Summary(), len(want))
	}
}

func TestComputeReorderingIsNoChange(t *testing.T) {
	base, head := fixture(t), fixture(t)
	for _, list := range []any{head.meta["services"], head.meta["layers"], head.ds["dataSources"],
		head.layer(t, "sample-points")["fields"], head.layer(t, "sample-points")["styles"],
		head.layer(t, "sample-points")["keywords"]} {
		slices.Reverse(list.([]any))
	}
	p := plan.Compute(base.input(), head.input())
	if len(p.Changes) != 0 || p.Risk != plan.RiskNone {
		t.Errorf("Compute(reordered) = %s; want no changes", mustJSON(t, p.Changes))
	}
}

func TestFieldRenameHeuristic(t *testing.T) {
	tests := []struct {
		name string
		edit func(t *testing.T, h *docs)
		want []string // action path risk, sorted by path
	}{
		{"same position, same type: renamed", func(t *testing.T, h *docs) {
			h.field(t, "sample-points", "height")["name"] = "elevation"
		}, []string{"modified layers/sample-points/fields/elevation high"}},
		{"renamed and realiased: one change", func(t *testing.T, h *docs) {
			f := h.field(t, "sample-points", "name")
			f["name"], f["alias"] = "label", "Label"
		}, []string{"modified layers/sample-points/fields/label high"}},
		{"different type: removed and added", func(t *testing.T, h *docs) {
			f := h.field(t, "sample-points", "height")
			f["name"], f["type"] = "elevation", "integer"
		}, []string{"added layers/sample-points/fields/elevation low", "removed layers/sample-points/fields/height medium"}},
		{"different position: removed and added", func(t *testing.T, h *docs) {
			drop(h.layer(t, "sample-points"), "fields", "name", "name")
			h.appendTo(h.layer(t, "sample-points"), "fields", map[string]any{"name": "label", "type": "string"})
		}, []string{"added layers/sample-points/fields/label low", "removed layers/sample-points/fields/name medium"}},
		{"two renamed: not guessed", func(t *testing.T, h *docs) {
			h.field(t, "sample-points", "height")["name"] = "elevation"
			h.field(t, "sample-points", "name")["name"] = "label"
		}, []string{"added layers/sample-points/fields/elevation low", "removed layers/sample-points/fields/height medium",
			"added layers/sample-points/fields/label low", "removed layers/sample-points/fields/name medium"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, head := fixture(t), fixture(t)
			tt.edit(t, head)
			p := plan.Compute(base.input(), head.input())
			var got []string
			for _, c := range p.Changes {
				got = append(got, c.Action+" "+c.Path+" "+c.Risk.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Compute(%s) = %q; want %q", tt.name, got, tt.want)
			}
		})
	}

	// The renamed and realiased field carries both diffs; its reason is the rename's.
	base, head := fixture(t), fixture(t)
	f := head.field(t, "sample-points", "name")
	f["name"], f["alias"] = "label", "Label"
	c := plan.Compute(base.input(), head.input()).Changes[0]
	want := []plan.FieldDiff{fd("alias", "Name", "Label", low, false, "alias changed"),
		fd("name", "name", "label", high, true, "renamed from name to label")}
	if !reflect.DeepEqual(c.Diff, want) || c.Reason != "renamed from name to label" || !c.Breaking {
		t.Errorf("Compute(rename and realias) = %s; want diff %s, reason renamed, breaking", mustJSON(t, c), mustJSON(t, want))
	}
}

// TestYAMLNumbersAreFloat64: metadata.yaml decodes numbers as int; they
// compare, and appear in diffs, as the float64 JSON gives.
func TestYAMLNumbersAreFloat64(t *testing.T) {
	fromYAML := func(v any) map[string]any {
		t.Helper()
		b, err := yaml.Marshal(v)
		if err != nil {
			t.Fatalf("yaml.Marshal: %v", err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatalf("yaml.Unmarshal: %v", err)
		}
		return m
	}
	base, head := fixture(t), fixture(t)
	head.meta, head.ds = fromYAML(head.meta), fromYAML(head.ds)
	if srid := head.layer(t, "sample-points")["srid"]; reflect.TypeOf(srid) != reflect.TypeFor[int]() {
		t.Fatalf("YAML srid is %T; the test needs the int a YAML decoder gives", srid)
	}
	if p := plan.Compute(base.input(), head.input()); len(p.Changes) != 0 {
		t.Errorf("Compute(JSON, same in YAML) = %s; want no changes", mustJSON(t, p.Changes))
	}

	head.layer(t, "sample-points")["srid"] = 3857
	head.dataSource(t, "test-postgis")["connection"].(map[string]any)["port"] = uint16(6432)
	p := plan.Compute(base.input(), head.input())
	var got []plan.FieldDiff
	for _, c := range p.Changes {
		got = append(got, c.Diff...)
	}
	want := []plan.FieldDiff{fd("srid", 4326.0, 3857.0, high, true, "srid changed"),
		fd("connection.port", 5432.0, 6432.0, high, false, "connection.port changed")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Compute(YAML srid 3857, port 6432) diffs = %#v; want %#v", got, want)
	}
}

// manyChanges edits head in every way the planner rates.
func manyChanges(t *testing.T, h *docs) {
	l := h.layer(t, "sample-points")
	l["title"], l["srid"] = "Points", 3857.0
	l["styles"] = []any{map[string]any{"id": "night", "color": "navy"}, map[string]any{"id": "default", "color": "red"}}
	h.field(t, "sample-points", "height")["name"] = "elevation"
	h.field(t, "sample-points", "id")["type"] = "string"
	drop(h.meta, "services", "id", "spare-service")
	h.appendTo(h.meta, "layers", map[string]any{"id": "b-layer", "serviceId": "test-service"})
	h.appendTo(h.meta, "layers", map[string]any{"id": "a-layer", "serviceId": "ghost"})
	drop(h.ds, "dataSources", "id", "archive")
	h.dataSource(t, "test-postgis")["connection"].(map[string]any)["host"] = "db2"
	h.app["Cache"].(map[string]any)["Size"] = 10.0
	delete(h.app, "Authentication")
	h.shared["Cors"].(map[string]any)["AllowedOrigins"] = []any{"*", "https://b.example"}
	h.meta["version"] = 2.0
	h.policy = append(h.policy, '#')
}

// shuffled rebuilds v with every map filled in a random order and every
// list of id-keyed objects shuffled, which must not change the plan.
func shuffled(r *rand.Rand, v any) any {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		m := make(map[string]any, len(x))
		for _, k := range keys {
			m[k] = shuffled(r, x[k])
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = shuffled(r, e)
		}
		if len(s) > 0 {
			if m, ok := s[0].(map[string]any); ok && m["id"] != nil {
				r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
			}
		}
		return s
	}
	return v
}

func TestComputeIsDeterministic(t *testing.T) {
	for name, edit := range map[string]func(t *testing.T, h *docs){
		"many changes": manyChanges,
		"data source in use removed": func(t *testing.T, h *docs) {
			drop(h.ds, "dataSources", "id", "test-postgis")
			h.appendTo(h.meta, "layers", map[string]any{"id": "other", "serviceId": "spare-service"})
		},
	} {
		base, head := fixture(t), fixture(t)
		edit(t, head)
		want := mustJSON(t, plan.Compute(base.input(), head.input()))
		if again := mustJSON(t, plan.Compute(base.input(), head.input())); again != want {
			t.Fatalf("json.Marshal(Compute(%s)) differs between two calls:\n%s\n%s", name, want, again)
		}
		for seed := range uint64(20) {
			r := rand.New(rand.NewPCG(seed, seed))
			b, h := base.input(), head.input()
			b.Metadata, b.DataSources, b.AppSettings = shuffled(r, b.Metadata), shuffled(r, b.DataSources), shuffled(r, b.AppSettings)
			h.Metadata, h.DataSources, h.AppSettings = shuffled(r, h.Metadata), shuffled(r, h.DataSources), shuffled(r, h.AppSettings)
			b.SharedConfig, h.SharedConfig = shuffled(r, b.SharedConfig), shuffled(r, h.SharedConfig)
			if got := mustJSON(t, plan.Compute(b, h)); got != want {
				t.Fatalf("json.Marshal(Compute(%s, shuffle seed %d)) =\n%s\nwant\n%s", name, seed, got, want)
			}
		}
	}
}

func TestPlanRiskIsTheHighestOfItsChanges(t *testing.T) {
	base, head := fixture(t), fixture(t)
	manyChanges(t, head)
	p := plan.Compute(base.input(), head.input())
	var highest plan.Risk
	var breaking bool
	var added, modified, removed int
	for _, c := range p.Changes {
		highest, breaking = max(highest, c.Risk), breaking || c.Breaking
		switch c.Action {
		case plan.ActionAdded:
			added++
		case plan.ActionModified:
			modified++
		case plan.ActionRemoved:
			removed++
		}
		for _, d := range c.Diff {
			if d.Risk > c.Risk {
				t.Errorf("Compute(many changes) %s risk = %v; below its diff %s's %v", describe(c), c.Risk, d.Field, d.Risk)
			}
		}
	}
	if p.Risk != highest || p.Risk != critical || p.Breaking != breaking {
		t.Errorf("Compute(many changes) risk = %v, breaking %v; want %v (the highest), %v", p.Risk, p.Breaking, highest, breaking)
	}
	if p.Added != added || p.Modified != modified || p.Removed != removed || !p.PolicyChanged {
		t.Errorf("Compute(many changes) = %s; want %d added, %d modified, %d removed, policy changed",
			p.Summary(), added, modified, removed)
	}

	// Without the dangling reference, high.
	drop(head.meta, "layers", "id", "a-layer")
	if p := plan.Compute(base.input(), head.input()); p.Risk != high {
		t.Errorf("Compute(many changes, no dangling reference) risk = %v; want %v", p.Risk, high)
	}
}

func TestPolicyDiff(t *testing.T) {
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	tests := []struct {
		name       string
		base, head []byte
		want       []plan.FieldDiff // nil: no change
	}{
		{"same bytes", []byte("a: 1\n"), []byte("a: 1\n"), nil},
		{"both absent", nil, nil, nil},
		{"whitespace", []byte("a: 1\n"), []byte("a:  1\n"),
			[]plan.FieldDiff{fd("sha256", sum("a: 1\n"), sum("a:  1\n"), high, false, "deployment policy changed")}},
		{"added", nil, []byte("a: 1\n"),
			[]plan.FieldDiff{fd("sha256", nil, sum("a: 1\n"), high, false, "deployment policy added")}},
		{"empty file added", nil, []byte{},
			[]plan.FieldDiff{fd("sha256", nil, sum(""), high, false, "deployment policy added")}},
		{"removed", []byte("a: 1\n"), nil,
			[]plan.FieldDiff{fd("sha256", sum("a: 1\n"), nil, high, false, "deployment policy removed")}},
	}
	for _, tt := range tests {
		p := plan.Compute(plan.Input{Policy: tt.base}, plan.Input{Policy: tt.head})
		if tt.want == nil {
			if len(p.Changes) != 0 || p.PolicyChanged {
				t.Errorf("Compute(policy %s) = %s; want no change", tt.name, mustJSON(t, p))
			}
			continue
		}
		if len(p.Changes) != 1 || !reflect.DeepEqual(p.Changes[0].Diff, tt.want) || !p.PolicyChanged || p.Risk != high {
			t.Errorf("Compute(policy %s) = %s; want one high change with diff %s", tt.name, mustJSON(t, p), mustJSON(t, tt.want))
		}
	}
}

func TestPlanJSONShape(t *testing.T) {
	base, head := fixture(t), fixture(t)
	head.layer(t, "sample-points")["minScale"] = 100.0
	drop(head.layer(t, "sample-points"), "fields", "name", "height")
	got := mustJSON(t, plan.Compute(base.input(), head.input()))
	want := `{"risk":"medium","breaking":true,"policyChanged":false,"added":0,"modified":1,"removed":1,"changes":[` +
		`{"action":"modified","kind":"layer","path":"layers/sample-points","breaking":false,"risk":"low","reason":"minScale added",` +
		`"diff":[{"field":"minScale","to":100,"risk":"low","breaking":false,"reason":"minScale added"}]},` +
		`{"action":"removed","kind":"field","path":"layers/sample-points/fields/height","breaking":true,"risk":"medium","reason":"field removed"}]}`
	if got != want {
		t.Errorf("json.Marshal(Compute(minScale added, height removed)) =\n%s\nwant\n%s", got, want)
	}
	var back plan.Plan
	if err := json.Unmarshal([]byte(got), &back); err != nil || back.Risk != medium || len(back.Changes) != 2 {
		t.Errorf("json.Unmarshal(plan) = %+v, %v; want risk medium and 2 changes", back, err)
	}
}

func TestSummary(t *testing.T) {
	base, head := fixture(t), fixture(t)
	head.layer(t, "sample-points")["srid"] = 3857.0
	one := plan.Compute(base.input(), head.input())
	manyChanges(t, head)
	many := plan.Compute(base.input(), head.input())
	tests := []struct {
		name string
		p    *plan.Plan
		want string
	}{
		{"nil", nil, "0 changes (0 added, 0 modified, 0 removed), risk none"},
		{"empty", plan.Compute(plan.Input{}, plan.Input{}), "0 changes (0 added, 0 modified, 0 removed), risk none"},
		{"one", one, "1 change (0 added, 1 modified, 0 removed), risk high, breaking"},
		{"many", many, "14 changes (4 added, 7 modified, 3 removed), risk critical, breaking"},
	}
	for _, tt := range tests {
		if got := tt.p.Summary(); got != tt.want {
			t.Errorf("Summary(%s) = %q; want %q", tt.name, got, tt.want)
		}
	}
}

func TestComputeLeavesInputsAlone(t *testing.T) {
	base, head := fixture(t), fixture(t)
	head.shared["Telemetry"] = map[string]any{"Enabled": false, "Sample": 0.5}
	before := mustJSON(t, head.shared)
	p := plan.Compute(base.input(), head.input())
	for _, c := range p.Changes {
		for _, d := range c.Diff {
			if m, ok := d.To.(map[string]any); ok {
				m["Enabled"] = "tampered"
			}
		}
	}
	if after := mustJSON(t, head.shared); after != before {
		t.Errorf("changing Compute's diff changed its input: %s; want %s", after, before)
	}
}

// TestComputeToleratesMalformedInput: validation rejects these, but the
// planner must neither panic nor drop a resource.
func TestComputeToleratesMalformedInput(t *testing.T) {
	head := plan.Input{
		Metadata: map[string]any{
			"services": "not a list",
			"layers": []any{
				"not an object",
				map[string]any{"id": "dup", "fields": "not a list"},
				map[string]any{"id": "dup"},
				map[string]any{"title": "no id"},
			},
		},
		DataSources:  []any{"not an object"},
		AppSettings:  "not an object",
		SharedConfig: map[any]any{1: "int key"},
	}
	p := plan.Compute(plan.Input{}, head)
	var got []string
	for _, c := range p.Changes {
		got = append(got, c.Action+" "+c.Path)
	}
	want := []string{"added layers/#3", "added layers/dup", "added layers/dup#2", "added appsettings", "added shared-config/1"}
	if !slices.Equal(got, want) {
		t.Errorf("Compute(malformed) = %q; want %q", got, want)
	}
	if !bytes.Equal([]byte(mustJSON(t, p)), []byte(mustJSON(t, plan.Compute(plan.Input{}, head)))) {
		t.Errorf("Compute(malformed) is not deterministic")
	}
}
