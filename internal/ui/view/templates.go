package view

import (
	"embed"
	"html/template"
)

//go:embed templates/*.tmpl
var templateFiles embed.FS

// tmpl holds every template of templates/; riskTmpl is it too, named for
// the reader of Risk.
var (
	tmpl = template.Must(template.New("view").Funcs(template.FuncMap{
		"short":  ShortCommit,
		"plural": plural,
	}).ParseFS(templateFiles, "templates/*.tmpl"))
	riskTmpl = tmpl
)

// plural is one when n is 1, and many otherwise.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
