package ui

import (
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/api"
)

// The parts of a page that package ui/view renders, one function each, so
// that each is swapped for view's in one line once it is merged
// (view.Plan, view.Chart, view.Timeline, view.Risk). Until then each is the
// simplest honest rendering; every string goes through html/template's
// escaping.

// partTemplates are the placeholders' templates.
var partTemplates = template.Must(template.New("parts").Parse(`
{{define "plan"}}<section id="plan"><h2>Plan</h2>{{if .Plan}}<pre>{{.Plan}}</pre>{{else}}<p>No plan.</p>{{end}}</section>
<section id="validation"><h2>Validation</h2>{{if .Validation}}<pre>{{.Validation}}</pre>{{else}}<p>No validation report.</p>{{end}}</section>{{end}}
{{define "chart"}}<svg id="chart" role="img" width="{{.Width}}" height="40" viewBox="0 0 {{.Width}} 40" xmlns="http://www.w3.org/2000/svg"><title>{{.Title}}</title>{{range .Bars}}<rect x="{{.X}}" y="{{.Y}}" width="8" height="{{.H}}" class="bar {{.Class}}"><title>{{.Label}}</title></rect>{{end}}</svg>{{end}}
{{define "timeline"}}<ol id="timeline">{{range .}}<li><span class="to">{{.To}}</span> <time>{{.Time}}</time> <span class="duration">{{.Duration}}</span>{{if .Message}} — <span class="message">{{.Message}}</span>{{end}}</li>{{end}}</ol>{{end}}
{{define "risk"}}<span class="risk risk-{{.}}">{{.}}</span>{{end}}
`))

// execPart renders a placeholder's template.
func execPart(name string, data any) template.HTML {
	var b strings.Builder
	if err := partTemplates.ExecuteTemplate(&b, name, data); err != nil {
		return template.HTML(template.HTMLEscapeString(err.Error()))
	}
	return template.HTML(b.String()) // escaped by html/template
}

// planHTML renders a plan and its validation report (#plan, #validation).
func planHTML(doc *api.PlanDocument, rep *api.ValidationReport) template.HTML {
	var data struct{ Plan, Validation string }
	if doc != nil {
		b, _ := json.MarshalIndent(doc, "", "  ")
		data.Plan = string(b)
	}
	if rep != nil {
		b, _ := json.MarshalIndent(rep, "", "  ")
		data.Validation = string(b)
	}
	return execPart("plan", data)
}

// chartHTML renders the durations and outcomes of deployments, newest
// first (svg#chart).
func chartHTML(deps []*api.DeploymentSummary) template.HTML {
	type bar struct {
		X, Y, H      int
		Class, Label string
	}
	data := struct {
		Width int
		Title string
		Bars  []bar
	}{Width: max(10*len(deps), 10), Title: fmt.Sprintf("Durations and outcomes of the last %d deployments", len(deps))}
	for i, d := range deps {
		x := 10 * (len(deps) - 1 - i)
		secs := d.UpdatedAt.Sub(d.CreatedAt).Seconds()
		h := min(max(int(secs), 2), 40)
		data.Bars = append(data.Bars, bar{X: x, Y: 40 - h, H: h, Class: strings.ToLower(string(d.State)),
			Label: fmt.Sprintf("%s: %s in %.0fs", d.ID, d.State, secs)})
	}
	return execPart("chart", data)
}

// timelineHTML renders a deployment's transitions with the time spent in
// each state (#timeline).
func timelineHTML(ts []api.Transition, now time.Time) template.HTML {
	type row struct {
		To, Time, Duration, Message string
	}
	rows := make([]row, 0, len(ts))
	for i, t := range ts {
		end := now
		if i+1 < len(ts) {
			end = ts[i+1].Time
		}
		d := ""
		if i+1 < len(ts) || !t.To.Terminal() {
			d = end.Sub(t.Time).Round(time.Millisecond).String()
		}
		rows = append(rows, row{To: string(t.To), Time: t.Time.UTC().Format(time.RFC3339), Duration: d, Message: t.Message})
	}
	return execPart("timeline", rows)
}

// riskHTML renders a risk badge (.risk); an empty risk is "none".
func riskHTML(risk string) template.HTML {
	if risk == "" {
		risk = "none"
	}
	return execPart("risk", risk)
}
