package view

import (
	"fmt"
	"html/template"

	"github.com/honua-io/honua-gitops/api"
)

// planView is what templates/plan.tmpl renders.
type planView struct {
	None          bool // no plan document
	Risk          string
	Breaking      bool
	PolicyChanged bool
	Added         int
	Modified      int
	Removed       int
	Truncated     bool
	Omitted       int
	Note          string
	Base, Commit  string // full ids; Base empty for a first deployment
	Geo           []callout
	Changes       []changeView
	Validation    validationView
}

// changeView is one change of the plan.
type changeView struct {
	Action       string // added, modified, removed or other (a class)
	ActionText   string // as recorded
	Kind         string
	Path         string
	Risk         string
	Breaking     bool
	Reason       string
	Callout      *callout // a field or layer added or removed
	Diffs        []diffView
	OmittedDiffs int
}

// diffView is one field diff of a change.
type diffView struct {
	State          string // added, removed or modified (a class)
	Field          string
	From, To       string
	FromAbsent     bool
	ToAbsent       bool
	FromSummarized bool
	ToSummarized   bool
	Risk           string
	Breaking       bool
	Reason         string
	Callout        *callout
}

// validationView is what the validation section renders.
type validationView struct {
	None     bool // no report
	Valid    bool
	Count    int // problems, the omitted ones included
	Severity string
	Problems []problemView
	Omitted  int
}

// problemView is one validation problem.
type problemView struct {
	Location string // file:line:column, as much as is known
	Path     string
	Message  string
}

// Plan renders a deployment's plan as a field-level diff in
// <section id="plan">, then its validation report in
// <section id="validation">.
//
// The plan section starts with a summary (risk, breaking, policy changed,
// counts, what was left out, the plan's note, base commit → commit) and a
// list of the geospatial changes (geometry type, SRID, table and other
// storage keys, fields: see geo.go), then lists each change as an
// li.change (classes: the action, risk-<risk>, breaking) holding its field
// diffs as li.field-diff elements with .from and .to (a value the planner
// summarized is shown as its size, digest and start; the missing side of
// an added or removed field as "(none)", class absent). A nil doc renders a
// message saying there is no plan yet, or that it was dropped.
//
// Every validation problem is rendered with its file:line:column, field
// path and message. The API records no severity: a problem of an invalid
// report is an error, one of a valid report (none today) a warning. A nil
// rep renders "not validated yet".
func Plan(doc *api.PlanDocument, rep *api.ValidationReport) template.HTML {
	return render(tmpl, "plan", newPlanView(doc, rep))
}

func newPlanView(doc *api.PlanDocument, rep *api.ValidationReport) *planView {
	v := &planView{Validation: newValidationView(rep)}
	if doc == nil {
		v.None = true
		return v
	}
	v.Note, v.Base, v.Commit = doc.Note, doc.BaseCommit, doc.Commit
	p := doc.Plan
	if p == nil {
		p = &api.Plan{}
	}
	v.Risk, v.Breaking, v.PolicyChanged = riskOf(p.Risk), p.Breaking, p.PolicyChanged
	v.Added, v.Modified, v.Removed = p.Added, p.Modified, p.Removed
	v.Truncated, v.Omitted = p.Truncated, p.OmittedChanges
	for _, c := range p.Changes {
		cv := newChangeView(c)
		if cv.Callout != nil {
			v.Geo = append(v.Geo, *cv.Callout)
		}
		for _, d := range cv.Diffs {
			if d.Callout != nil {
				v.Geo = append(v.Geo, *d.Callout)
			}
		}
		v.Changes = append(v.Changes, cv)
	}
	return v
}

func newChangeView(c api.PlanChange) changeView {
	cv := changeView{Action: actionClass(c.Action), ActionText: c.Action, Kind: c.Kind, Path: c.Path,
		Risk: riskOf(c.Risk), Breaking: c.Breaking, Reason: c.Reason, OmittedDiffs: c.OmittedDiffs}
	if co, ok := changeCallout(c); ok {
		cv.Callout = &co
	}
	for _, d := range c.Diff {
		dv := diffView{Field: d.Field, Risk: riskOf(d.Risk), Breaking: d.Breaking, Reason: d.Reason,
			From: FormatValue(d.From, d.FromSummarized), To: FormatValue(d.To, d.ToSummarized),
			FromAbsent: d.From == nil, ToAbsent: d.To == nil}
		dv.FromSummarized = d.FromSummarized && isSummary(d.From)
		dv.ToSummarized = d.ToSummarized && isSummary(d.To)
		switch {
		case dv.FromAbsent && !dv.ToAbsent:
			dv.State = "added"
		case dv.ToAbsent && !dv.FromAbsent:
			dv.State = "removed"
		default:
			dv.State = "modified"
		}
		if co, ok := diffCallout(c, d); ok {
			dv.Callout = &co
		}
		cv.Diffs = append(cv.Diffs, dv)
	}
	return cv
}

func isSummary(v any) bool {
	_, ok := api.SummaryOf(v)
	return ok
}

// actionClass is the class of a change's action: added, modified, removed,
// or other for anything else.
func actionClass(a string) string {
	switch a {
	case api.ActionAdded, api.ActionModified, api.ActionRemoved:
		return a
	}
	return "other"
}

func newValidationView(rep *api.ValidationReport) validationView {
	if rep == nil {
		return validationView{None: true}
	}
	v := validationView{Valid: rep.Valid, Count: len(rep.Problems) + max(rep.Omitted, 0), Omitted: max(rep.Omitted, 0),
		Severity: "error"}
	if rep.Valid {
		v.Severity = "warning"
	}
	for _, p := range rep.Problems {
		v.Problems = append(v.Problems, problemView{Location: location(p), Path: p.Path, Message: p.Message})
	}
	return v
}

// location is file:line:column, as much of it as is known.
func location(p api.ValidationProblem) string {
	switch {
	case p.File == "":
		return ""
	case p.Line <= 0:
		return p.File
	case p.Column <= 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}
