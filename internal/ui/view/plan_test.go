package view_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/plan"
	"github.com/honua-io/honua-gitops/internal/ui/view"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// config is one version of a sample environment, as the planner reads it.
type config struct{ meta, ds map[string]any }

func sample(t testing.TB, layers ...sampleconfig.Layer) *config {
	t.Helper()
	return &config{meta: decodeJSON(t, sampleconfig.Metadata(layers...)), ds: decodeJSON(t, sampleconfig.DataSources)}
}

func decodeJSON(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return m
}

// layer returns the layer with id of c.
func (c *config) layer(t testing.TB, id string) map[string]any {
	t.Helper()
	for _, l := range c.meta["layers"].([]any) {
		if l := l.(map[string]any); l["id"] == id {
			return l
		}
	}
	t.Fatalf("no layer %q", id)
	return nil
}

// fields returns the fields of a layer of c.
func (c *config) fields(t testing.TB, id string) []any {
	t.Helper()
	return c.layer(t, id)["fields"].([]any)
}

// planDoc computes the plan from base to head with the planner and brings
// it to the dashboard as the API does: as JSON, decoded into
// api.PlanDocument (numbers as json.Number when useNumber, as
// internal/rpc reads them; as float64 otherwise, as a client may).
func planDoc(t testing.TB, base, head *config, useNumber bool) *api.PlanDocument {
	t.Helper()
	p := plan.Compute(plan.Input{Metadata: base.meta, DataSources: base.ds}, plan.Input{Metadata: head.meta, DataSources: head.ds})
	raw, err := json.Marshal(plan.Document{BaseCommit: strings.Repeat("a", 40), Commit: strings.Repeat("b", 40), Plan: p})
	if err != nil {
		t.Fatalf("marshal the plan: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if useNumber {
		dec.UseNumber()
	}
	var doc api.PlanDocument
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decode the plan as api.PlanDocument: %v", err)
	}
	return &doc
}

// TestPlanGeospatialCallouts: plans the planner makes from real sample
// configurations render each geospatial change with its callout, in the
// change's row and in the summary, with the field diff's old and new
// values, breaking and risk classes on the change.
func TestPlanGeospatialCallouts(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(t testing.TB, head *config)
		path      string // the change
		class     string // its callout's class
		callout   string // its callout's label
		field     string // the field diff holding the callout; "" for a whole change
		from, to  string // the field diff's .from and .to
		breaking  bool
		risk      string
		diffState string
	}{
		{"srid", func(t testing.TB, h *config) { h.layer(t, "sample-points")["srid"] = 3857 },
			"layers/sample-points", "geo-srid", "SRID 4326 → 3857", "srid", "4326", "3857", true, "high", "diff-modified"},
		{"geometry type", func(t testing.TB, h *config) { h.layer(t, "sample-points")["geometryType"] = "MultiPoint" },
			"layers/sample-points", "geo-geometry-type", "Geometry type Point → MultiPoint", "geometryType", `"Point"`, `"MultiPoint"`, true, "high", "diff-modified"},
		{"table", func(t testing.TB, h *config) {
			h.layer(t, "sample-points")["storage"].(map[string]any)["table"] = "public.points"
		}, "layers/sample-points", "geo-table", "Table public.sample_points → public.points", "storage.table",
			`"public.sample_points"`, `"public.points"`, true, "high", "diff-modified"},
		{"geometry column", func(t testing.TB, h *config) {
			h.layer(t, "sample-points")["storage"].(map[string]any)["geometryColumn"] = "the_geom"
		}, "layers/sample-points", "geo-geometry-column", "Geometry column geom → the_geom", "storage.geometryColumn",
			`"geom"`, `"the_geom"`, true, "high", "diff-modified"},
		{"storage key added", func(t testing.TB, h *config) {
			h.layer(t, "sample-points")["storage"].(map[string]any)["schema"] = "gis"
		}, "layers/sample-points", "geo-storage", "Storage schema (none) → gis", "storage.schema",
			"(none)", `"gis"`, true, "high", "diff-added"},
		{"field type", func(t testing.TB, h *config) {
			h.fields(t, "sample-points")[1].(map[string]any)["type"] = "text"
		}, "layers/sample-points/fields/name", "geo-field", "Field name type string → text", "type",
			`"string"`, `"text"`, true, "high", "diff-modified"},
		{"field renamed", func(t testing.TB, h *config) {
			h.fields(t, "sample-points")[1].(map[string]any)["name"] = "label"
		}, "layers/sample-points/fields/label", "geo-field", "Field renamed name → label", "name",
			`"name"`, `"label"`, true, "high", "diff-modified"},
		{"field added", func(t testing.TB, h *config) {
			l := h.layer(t, "sample-points")
			l["fields"] = append(l["fields"].([]any), map[string]any{"name": "height", "type": "double"})
		}, "layers/sample-points/fields/height", "geo-field", "Field height added", "", "", "", false, "low", ""},
		{"field removed", func(t testing.TB, h *config) {
			l := h.layer(t, "sample-points")
			l["fields"] = l["fields"].([]any)[:1]
		}, "layers/sample-points/fields/name", "geo-field", "Field name removed", "", "", "", true, "medium", ""},
		{"layer removed", func(t testing.TB, h *config) {
			h.meta["layers"] = h.meta["layers"].([]any)[:1]
		}, "layers/roads", "geo-layer", "Layer roads removed", "", "", "", true, "medium", ""},
	}
	for _, tt := range tests {
		for _, useNumber := range []bool{false, true} {
			t.Run(tt.name, func(t *testing.T) {
				base := sample(t, sampleconfig.Points, sampleconfig.Roads)
				head := sample(t, sampleconfig.Points, sampleconfig.Roads)
				tt.edit(t, head)
				nodes := checkSafe(t, view.Plan(planDoc(t, base, head, useNumber), nil))

				sec := one(t, nodes, "section#plan")
				ch := one(t, in(sec), "li.change[data-path="+tt.path+"]")
				if hasClass(ch, "breaking") != tt.breaking || !hasClass(ch, "risk-"+tt.risk) {
					t.Errorf("change %s has classes %q; want breaking=%v and risk-%s", tt.path, attr(ch, "class"), tt.breaking, tt.risk)
				}
				holder := ch
				if tt.field != "" {
					holder = one(t, in(ch), "li.field-diff[data-field="+tt.field+"]")
					if !hasClass(holder, tt.diffState) {
						t.Errorf("field diff %s has classes %q; want %s", tt.field, attr(holder, "class"), tt.diffState)
					}
					if from, to := text(one(t, in(holder), ".from")), text(one(t, in(holder), ".to")); from != tt.from || to != tt.to {
						t.Errorf("field diff %s shows %s → %s; want %s → %s", tt.field, from, to, tt.from, tt.to)
					}
				}
				if got := text(one(t, in(holder), "span.geo."+tt.class)); got != tt.callout {
					t.Errorf("callout of %s = %q; want %q", tt.path, got, tt.callout)
				}
				item := one(t, in(one(t, in(sec), "ul.geo-summary")), "span.geo."+tt.class).Parent
				if got := text(item); item.Data != "li" || got != tt.path+" "+tt.callout {
					t.Errorf("geospatial summary lists <%s>%q; want <li>%q", item.Data, got, tt.path+" "+tt.callout)
				}
			})
		}
	}
}

// TestPlanSummary: the summary line says risk, breaking, the counts and
// the commits; a change that is not geospatial has no callout, and the
// summary lists none.
func TestPlanSummary(t *testing.T) {
	base := sample(t, sampleconfig.Points)
	head := sample(t, sampleconfig.Points, sampleconfig.Roads)
	head.layer(t, "sample-points")["title"] = "Points"
	head.layer(t, "sample-points")["srid"] = 3857
	doc := planDoc(t, base, head, true)
	doc.Note = "planned against the deployed commit"
	nodes := checkSafe(t, view.Plan(doc, nil))

	s := one(t, nodes, "p.plan-summary")
	for _, want := range []string{"high", "breaking", "1 added", "1 modified", "0 removed", "aaaaaaaaaaaa → bbbbbbbbbbbb"} {
		if !strings.Contains(text(s), want) {
			t.Errorf("summary %q lacks %q", text(s), want)
		}
	}
	one(t, in(s), "span.risk.risk-high")
	if got := attr(one(t, in(s), "code.head-commit"), "title"); got != strings.Repeat("b", 40) {
		t.Errorf("head commit title = %q; want the full id", got)
	}
	if got := text(one(t, nodes, "p.plan-note")); got != doc.Note {
		t.Errorf("note = %q; want %q", got, doc.Note)
	}
	if got := len(find(nodes, "li.change")); got != 2 {
		t.Errorf("%d changes rendered; want 2", got)
	}
	title := one(t, nodes, "li.field-diff[data-field=title]")
	if g := find(in(title), ".geo"); len(g) != 0 {
		t.Errorf("title change has a geospatial callout: %s", render(g))
	}
	if got := texts(find(nodes, "ul.geo-summary li")); len(got) != 2 { // the srid, and the layer added
		t.Errorf("geospatial summary lists %q; want the srid change and the layer added", got)
	}
}

// TestPlanSummarizedValue: a value too long for the plan is shown as the
// planner summarized it: its size, digest and start.
func TestPlanSummarizedValue(t *testing.T) {
	base := sample(t, sampleconfig.Points)
	head := sample(t, sampleconfig.Points)
	head.layer(t, "sample-points")["description"] = strings.Repeat("long text ", 300)
	nodes := checkSafe(t, view.Plan(planDoc(t, base, head, false), nil))
	d := one(t, nodes, "li.field-diff[data-field=description]")
	to := one(t, in(d), ".to")
	if !hasClass(to, "summarized") || !strings.Contains(text(to), "2.9 KiB value, sha256 ") || !strings.Contains(text(to), `starts "long text long text`) {
		t.Errorf("summarized value shown as %q (classes %q); want its size, digest and start", text(to), attr(to, "class"))
	}
	if from := one(t, in(d), ".from"); !hasClass(from, "absent") || text(from) != "(none)" {
		t.Errorf("added field's .from = %q (classes %q); want (none), absent", text(from), attr(from, "class"))
	}
}

// TestPlanMissingAndPartial: no plan, a plan document without a plan, a
// truncated plan, omitted diffs.
func TestPlanMissingAndPartial(t *testing.T) {
	nodes := checkSafe(t, view.Plan(nil, nil))
	if got := text(one(t, nodes, "section#plan p.plan-none")); !strings.Contains(got, "No plan") || !strings.Contains(got, "dropped") {
		t.Errorf("nil plan says %q; want no plan yet or dropped", got)
	}
	one(t, nodes, "section#validation p.validation-none")

	nodes = checkSafe(t, view.Plan(&api.PlanDocument{Commit: "c"}, nil))
	one(t, nodes, "p.plan-empty")
	one(t, nodes, "p.plan-summary span.risk-none")
	one(t, nodes, "span.base-commit") // nothing deployed

	doc := &api.PlanDocument{Commit: "c", Plan: &api.Plan{Risk: api.RiskHigh, Modified: 9, Truncated: true, OmittedChanges: 8,
		Changes: []api.PlanChange{{Action: "modified", Kind: "layer", Path: "layers/a", Risk: api.RiskHigh, OmittedDiffs: 3,
			Diff: []api.FieldDiff{{Field: "srid", From: 1.0, To: 2.0, Risk: api.RiskHigh}}}}}}
	nodes = checkSafe(t, view.Plan(doc, nil))
	if got := text(one(t, nodes, "p.plan-truncated")); !strings.Contains(got, "8 more changes not listed") {
		t.Errorf("truncation note = %q", got)
	}
	if got := text(one(t, nodes, "p.omitted-diffs")); !strings.Contains(got, "3 more field diffs not listed") {
		t.Errorf("omitted diffs note = %q", got)
	}
}
