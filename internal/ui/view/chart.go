package view

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/api"
)

// The chart's geometry, in viewBox units: the plot area and the rows of
// labels below it.
const (
	chartW      = 640
	chartH      = 200
	plotLeft    = 56
	plotRight   = chartW - 8
	plotTop     = 12
	plotBottom  = 140
	maxBarWidth = 40
	minBarH     = 1.5 // a zero-length deployment still shows
)

// ticks are the marks of the duration axis, those up to the longest
// deployment drawn.
var ticks = []struct {
	d     time.Duration
	label string
}{
	{time.Second, "1s"}, {10 * time.Second, "10s"}, {time.Minute, "1m"}, {10 * time.Minute, "10m"},
	{time.Hour, "1h"}, {6 * time.Hour, "6h"}, {24 * time.Hour, "1d"}, {7 * 24 * time.Hour, "7d"},
}

// outcomes are the chart's classes, in legend order: a terminal state's,
// then in progress for any other.
var outcomes = []struct{ class, label string }{
	{"completed", "Completed"}, {"failed", "Failed"}, {"rolledback", "RolledBack"},
	{"rejected", "Rejected"}, {"superseded", "Superseded"}, {"inprogress", "in progress"},
}

// outcomeClass is the class of a deployment's state: its outcome.
func outcomeClass(s api.DeploymentState) string {
	switch s {
	case api.StateCompleted:
		return "completed"
	case api.StateFailed:
		return "failed"
	case api.StateRolledBack:
		return "rolledback"
	case api.StateRejected:
		return "rejected"
	case api.StateSuperseded:
		return "superseded"
	}
	return "inprogress"
}

// chartView is what templates/chart.tmpl renders.
type chartView struct {
	Empty   bool
	ViewBox string
	Title   string
	Desc    string
	Bars    []barView
	Ticks   []tickView
	Legend  []legendView
	Geom    map[string]string // fixed coordinates of the axes and labels
	XLabel  string
}

type barView struct {
	Class, Title, ID string
	X, Y, W, H       string
}

type tickView struct{ Y, Label string }

type legendView struct{ Class, Label, X, TextX string }

// Chart renders an environment's last deployments (given newest first, as
// the API lists them) as an inline SVG, <svg id="chart" role="img">, oldest
// on the left: one bar per deployment, its height its duration (UpdatedAt −
// CreatedAt; so far, for one in progress) on a logarithmic scale so that one
// slow deployment does not flatten the rest, its class its outcome
// (bar-completed, bar-failed, bar-rolledback, bar-rejected, bar-superseded,
// bar-inprogress), with a <title> per bar (id, state, duration) for
// tooltips, ticks and an axis label, and a legend. The SVG's <title> and
// <desc> describe it for screen readers. No deployments renders an SVG
// saying so.
func Chart(deps []*api.DeploymentSummary) template.HTML {
	var ds []*api.DeploymentSummary
	for i := len(deps) - 1; i >= 0; i-- { // oldest first
		if deps[i] != nil {
			ds = append(ds, deps[i])
		}
	}
	v := &chartView{ViewBox: fmt.Sprintf("0 0 %d %d", chartW, chartH), Geom: map[string]string{
		"left": num(plotLeft), "right": num(plotRight), "top": num(plotTop), "bottom": num(plotBottom),
		"ylabelX": num(-(plotTop + plotBottom) / 2), "xlabelX": num((plotLeft + plotRight) / 2),
		"xlabelY": num(plotBottom + 24), "legendY": num(chartH - 20), "legendTextY": num(chartH - 11),
		"emptyX": num(chartW / 2), "emptyY": num(chartH / 2),
	}}
	if len(ds) == 0 {
		v.Empty = true
		v.Title = "No deployments yet"
		v.Desc = "This environment has no deployments to chart yet."
		return render(tmpl, "chart", v)
	}

	durs := make([]time.Duration, len(ds))
	top := scale(time.Second) // below a second, bars are not magnified
	longest, shortest := 0, 0
	counts := map[string]int{}
	for i, d := range ds {
		durs[i] = max(d.UpdatedAt.Sub(d.CreatedAt), 0)
		top = math.Max(top, scale(durs[i]))
		if durs[i] > durs[longest] {
			longest = i
		}
		if durs[i] < durs[shortest] {
			shortest = i
		}
		counts[outcomeClass(d.State)]++
	}

	slot := float64(plotRight-plotLeft) / float64(len(ds))
	w := math.Min(slot*0.8, maxBarWidth)
	plotH := float64(plotBottom - plotTop)
	for i, d := range ds {
		h := math.Max(minBarH, plotH*scale(durs[i])/top)
		class := outcomeClass(d.State)
		title := fmt.Sprintf("%s: %s, %s", d.ID, d.State, Duration(durs[i]))
		if class == "inprogress" {
			title += " so far"
		}
		if !d.CreatedAt.IsZero() {
			title += ", started " + d.CreatedAt.UTC().Format("2006-01-02 15:04 UTC")
		}
		v.Bars = append(v.Bars, barView{Class: class, Title: title, ID: d.ID,
			X: num(plotLeft + float64(i)*slot + (slot-w)/2), W: num(w), Y: num(plotBottom - h), H: num(h)})
	}
	for _, t := range ticks {
		if s := scale(t.d); s <= top {
			v.Ticks = append(v.Ticks, tickView{Y: num(plotBottom - plotH*s/top), Label: t.label})
		}
	}
	x := float64(plotLeft)
	var parts []string
	for _, o := range outcomes {
		if n := counts[o.class]; n > 0 {
			v.Legend = append(v.Legend, legendView{Class: o.class, Label: o.label, X: num(x), TextX: num(x + 14)})
			x += 14 + 7*float64(len(o.label)) + 16
			parts = append(parts, fmt.Sprintf("%d %s", n, o.label))
		}
	}
	noun := "deployments"
	if len(ds) == 1 {
		noun = "deployment"
	}
	v.Title = fmt.Sprintf("Durations and outcomes of the last %d %s", len(ds), noun)
	v.Desc = fmt.Sprintf("%d %s, oldest to newest: %s. Longest: %s, %s. Shortest: %s, %s.",
		len(ds), noun, strings.Join(parts, ", "),
		ds[longest].ID, Duration(durs[longest]), ds[shortest].ID, Duration(durs[shortest]))
	v.XLabel = fmt.Sprintf("oldest → newest (last %d %s)", len(ds), noun)
	return render(tmpl, "chart", v)
}

// scale is the height of a duration before it is fitted to the plot:
// logarithmic, 0 for 0.
func scale(d time.Duration) float64 { return math.Log1p(d.Seconds()) }

// num formats a coordinate.
func num(f float64) string { return fmt.Sprintf("%.1f", f) }
