package view_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/ui/view"
)

var t0 = time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)

func dep(id string, s api.DeploymentState, d time.Duration) *api.DeploymentSummary {
	return &api.DeploymentSummary{ID: id, State: s, CreatedAt: t0, UpdatedAt: t0.Add(d)}
}

// chart renders deps and returns the svg, checked.
func chart(t *testing.T, deps []*api.DeploymentSummary) *html.Node {
	t.Helper()
	svg := one(t, checkSafe(t, view.Chart(deps)), "svg#chart")
	if attr(svg, "role") != "img" || attr(svg, "viewBox") == "" {
		t.Errorf("svg#chart has role %q and viewBox %q; want img and a viewBox", attr(svg, "role"), attr(svg, "viewBox"))
	}
	var kids []string
	for c := svg.FirstChild; c != nil && len(kids) < 2; c = c.NextSibling {
		if c.Type == html.ElementNode {
			kids = append(kids, c.Data)
		}
	}
	if strings.Join(kids, " ") != "title desc" {
		t.Errorf("svg#chart starts with %q; want its <title> then its <desc>", kids)
	}
	return svg
}

func floatAttr(t *testing.T, n *html.Node, key string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(attr(n, key), 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", key, attr(n, key), err)
	}
	return f
}

func TestChartEmpty(t *testing.T) {
	for _, deps := range [][]*api.DeploymentSummary{nil, {}, {nil}} {
		svg := chart(t, deps)
		if got := text(one(t, in(svg), "title#chart-title")); got != "No deployments yet" {
			t.Errorf("empty chart title = %q", got)
		}
		if got := text(one(t, in(svg), "text.chart-empty")); got != "No deployments yet" {
			t.Errorf("empty chart says %q", got)
		}
		if bars := find(in(svg), "rect"); len(bars) != 0 {
			t.Errorf("empty chart has %d rects", len(bars))
		}
	}
}

func TestChartOne(t *testing.T) {
	svg := chart(t, []*api.DeploymentSummary{dep("d-1", api.StateCompleted, 12*time.Second)})
	bar := one(t, in(svg), "rect.bar.bar-completed[data-deployment=d-1]")
	if got := text(one(t, in(bar), "title")); got != "d-1: Completed, 12s, started 2026-12-03 06:00 UTC" {
		t.Errorf("bar title = %q", got)
	}
	if got := text(one(t, in(svg), "title#chart-title")); got != "Durations and outcomes of the last 1 deployment" {
		t.Errorf("chart title = %q", got)
	}
	if got := text(one(t, in(svg), "desc#chart-desc")); !strings.Contains(got, "1 Completed") {
		t.Errorf("chart desc = %q", got)
	}
	if got := texts(find(in(svg), "text.axis-label")); len(got) != 2 || got[0] != "duration (log scale)" {
		t.Errorf("axis labels = %q", got)
	}
}

// TestChartThirty: thirty deployments, newest first, one of them two days
// long: thirty bars, oldest on the left, classed by outcome, the slow one
// the tallest and a 12-second one still clearly visible.
func TestChartThirty(t *testing.T) {
	states := []api.DeploymentState{api.StateCompleted, api.StateFailed, api.StateRolledBack, api.StateRejected,
		api.StateSuperseded, api.StateApplying}
	classes := []string{"completed", "failed", "rolledback", "rejected", "superseded", "inprogress"}
	var deps []*api.DeploymentSummary // newest first
	for i := 29; i >= 0; i-- {
		d := time.Duration(i+1) * time.Second
		switch i {
		case 7:
			d = 48 * time.Hour
		case 3:
			d = 12 * time.Second
		}
		deps = append(deps, dep(fmt.Sprintf("d-%02d", i), states[i%len(states)], d))
	}
	svg := chart(t, deps)
	bars := find(in(svg), "g.bars rect.bar")
	if len(bars) != 30 {
		t.Fatalf("%d bars; want 30", len(bars))
	}
	var tallest float64
	tallestID := ""
	for i, b := range bars {
		id := fmt.Sprintf("d-%02d", i)
		if got := attr(b, "data-deployment"); got != id {
			t.Errorf("bar %d is %s; want %s (oldest on the left)", i, got, id)
		}
		if !hasClass(b, "bar-"+classes[i%len(classes)]) {
			t.Errorf("bar %s (%s) has classes %q", id, states[i%len(states)], attr(b, "class"))
		}
		if i > 0 && floatAttr(t, b, "x") <= floatAttr(t, bars[i-1], "x") {
			t.Errorf("bar %d is not right of bar %d", i, i-1)
		}
		if h := floatAttr(t, b, "height"); h > tallest {
			tallest, tallestID = h, id
		}
		if h, y := floatAttr(t, b, "height"), floatAttr(t, b, "y"); h <= 0 || y < 0 || y+h > 200.01 {
			t.Errorf("bar %s at y=%v height=%v is outside the chart", id, y, h)
		}
	}
	if tallestID != "d-07" {
		t.Errorf("tallest bar is %s; want d-07, two days long", tallestID)
	}
	if h := floatAttr(t, bars[3], "height"); h < 0.15*tallest {
		t.Errorf("a 12s bar is %.1f high against %.1f for two days: flattened by the slow one", h, tallest)
	}
	if got := text(one(t, in(bars[7]), "title")); !strings.Contains(got, "d-07: Failed, 2d00h") {
		t.Errorf("slow bar title = %q", got)
	}
	if got := text(one(t, in(bars[5]), "title")); !strings.Contains(got, "Applying, 6s so far") {
		t.Errorf("in-progress bar title = %q", got)
	}
	if got := texts(find(in(svg), "g.legend text")); len(got) != len(classes) {
		t.Errorf("legend = %q; want one entry per outcome", got)
	}
	if got := text(one(t, in(svg), "desc#chart-desc")); !strings.Contains(got, "Longest: d-07, 2d00h") {
		t.Errorf("desc = %q", got)
	}
	if got := texts(find(in(svg), "text.tick-label")); len(got) < 5 || got[0] != "1s" {
		t.Errorf("ticks = %q; want 1s up to a day", got)
	}
}

// TestChartClockSkew: a deployment whose UpdatedAt precedes its CreatedAt
// is drawn as zero long, not upside down.
func TestChartClockSkew(t *testing.T) {
	svg := chart(t, []*api.DeploymentSummary{dep("d-1", api.StateFailed, -time.Minute), dep("d-0", api.StateCompleted, time.Minute)})
	b := one(t, in(svg), "rect[data-deployment=d-1]")
	if h := floatAttr(t, b, "height"); h <= 0 || h > 2 {
		t.Errorf("skewed bar height = %v; want the minimum", h)
	}
	if got := text(one(t, in(b), "title")); !strings.Contains(got, "Failed, 0ms") {
		t.Errorf("skewed bar title = %q", got)
	}
}
