package view

import (
	"embed"
	"html/template"
)

//go:embed templates/*.tmpl
var templateFiles embed.FS

// tmpl holds every template of templates/, each defined by name: plan,
// validation, chart, timeline, risk.
var tmpl = template.Must(template.New("view").Funcs(template.FuncMap{
	"short":  ShortCommit,
	"plural": plural,
}).ParseFS(templateFiles, "templates/*.tmpl"))

// plural is one when n is 1, and many otherwise.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// CSS styles every class this package renders: risk badges, the plan, the
// geospatial callouts, the validation report, the timeline and the chart.
// The dashboard's server serves it with its own style sheet (inline styles
// are forbidden by the page's Content-Security-Policy).
//
//go:embed view.css
var CSS string
