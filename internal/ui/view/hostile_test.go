package view_test

import (
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/ui/view"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// hostile are strings whoever can push to the configuration repository
// may put in a path, a field name, a value, a reason or a message.
var hostile = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`javascript:alert(1)`,
	`' onmouseover='alert(1)`,
	`</section><script src=//evil.example/x.js></script>`,
	`<svg onload=alert(1)>`,
	`</title><script>alert(1)</script>`,
	`<style>body{display:none}</style>`,
}

// TestHostileStringsEscaped: a hostile string anywhere in a plan, a report,
// a chart or a timeline comes out as text — every element and attribute of
// the output is one the package renders, and the string is shown as it is.
func TestHostileStringsEscaped(t *testing.T) {
	for _, h := range hostile {
		t.Run(h, func(t *testing.T) {
			doc := &api.PlanDocument{BaseCommit: h, Commit: h, Note: h, Plan: &api.Plan{Risk: api.RiskHigh,
				Changes: []api.PlanChange{
					{Action: h, Kind: h, Path: h, Reason: h, Diff: []api.FieldDiff{{Field: h, From: h, To: map[string]any{h: []any{h}}, Reason: h}}},
					{Action: "modified", Kind: "layer", Path: "layers/" + h, Reason: h, Diff: []api.FieldDiff{
						{Field: "srid", From: h, To: h},
						{Field: "storage." + h, To: h},
						{Field: "x", From: map[string]any{"bytes": 2000.0, "sha256": h, "prefix": h}, FromSummarized: true, To: 1.0},
					}},
					{Action: "added", Kind: "field", Path: "layers/x/fields/" + h, Reason: h},
				}}}
			rep := &api.ValidationReport{Problems: []api.ValidationProblem{{File: h, Line: 1, Column: 2, Path: h, Message: h, Text: h}}}
			nodes := checkSafe(t, view.Plan(doc, rep))
			norm := strings.Join(strings.Fields(h), " ")
			for _, sel := range []string{"p.plan-note", "span.reason", "code.field", "span.message", "code.location"} {
				if ns := find(nodes, sel); len(ns) == 0 || !strings.Contains(text(ns[0]), norm) {
					t.Errorf("%s does not show %q as text: %q", sel, h, texts(ns))
				}
			}
			first := withAttr(nodes, "data-kind", h)
			if len(first) != 1 || !hasClass(first[0], "other") || text(one(t, first, "code.path")) != norm {
				t.Errorf("the change of kind and action %q is not one li.change.other showing its path: %s", h, render(first))
			}
			field := withAttr(nodes, "data-path", "layers/x/fields/"+h)
			if len(field) != 1 || text(one(t, field, "span.geo.geo-field")) != "Field "+norm+" added" {
				t.Errorf("the field added is not called out as such: %s", render(field))
			}

			deps := []*api.DeploymentSummary{{ID: h, State: api.DeploymentState(h)}, {ID: h, State: api.StateFailed}}
			checkSafe(t, view.Chart(deps))
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			nodes = checkSafe(t, view.Timeline([]api.Transition{{From: api.DeploymentState(h), To: api.DeploymentState(h), Time: now, Message: h}}, now))
			if got := text(one(t, nodes, "span.message")); got != norm {
				t.Errorf("timeline message = %q; want %q", got, norm)
			}
			checkSafe(t, view.Risk(h))
		})
	}
}

// TestHostileConfigurationThroughPlanner: hostile ids and values in a real
// configuration, planned by the planner, come out escaped.
func TestHostileConfigurationThroughPlanner(t *testing.T) {
	base := sample(t, sampleconfig.Points)
	head := sample(t, sampleconfig.Points)
	head.meta["layers"] = append(head.meta["layers"].([]any), map[string]any{"id": hostile[1], "serviceId": sampleconfig.Service,
		"title": hostile[3], "storage": map[string]any{"table": hostile[4]}})
	head.layer(t, "sample-points")["srid"] = hostile[0]
	head.layer(t, "sample-points")["geometryType"] = hostile[2]
	nodes := checkSafe(t, view.Plan(planDoc(t, base, head, true), nil))
	if got := text(one(t, nodes, "ol.changes span.geo.geo-srid")); got != "SRID 4326 → "+hostile[0] {
		t.Errorf("srid callout = %q", got)
	}
	if got := withAttr(nodes, "data-path", "layers/"+hostile[1]); len(got) != 1 || !hasClass(got[0], "added") {
		t.Errorf("the layer added with a hostile id is not one li.change.added: %s", render(got))
	}
}
