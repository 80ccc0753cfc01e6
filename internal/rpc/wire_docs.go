package rpc

// The documents a deployment records, converted to the API's: the plan
// (internal/plan.Document → api.PlanDocument) and the validation report
// (internal/configrepo.Report → api.ValidationReport). The FSM stores them
// as JSON, verbatim; they are decoded as the package that wrote them reads
// them, and written again as the API declares them. Numbers in diffs stay
// as they were written (json.Number), so nothing is rounded on the way.
//
// A document that does not decode (written by a version that no longer
// exists, say) is sent as stored: the answer is the deployment's record,
// and a client that cannot read its plan says so.

import (
	"bytes"
	"encoding/json"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/configrepo"
	"github.com/honua-io/honua-gitops/internal/plan"
)

// wirePlan converts a stored plan document.
func wirePlan(raw json.RawMessage) json.RawMessage {
	var doc plan.Document
	if !decodeStored(raw, &doc) {
		return raw
	}
	return encodeWire(raw, wirePlanDocument(&doc))
}

// wireValidation converts a stored validation report.
func wireValidation(raw json.RawMessage) json.RawMessage {
	var r configrepo.Report
	if !decodeStored(raw, &r) {
		return raw
	}
	return encodeWire(raw, wireValidationReport(&r))
}

// decodeStored decodes a stored document into v, numbers as json.Number;
// false when there is none or it does not decode.
func decodeStored(raw json.RawMessage, v any) bool {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v) == nil && !dec.More()
}

// encodeWire is v's JSON, or raw when v does not encode.
func encodeWire(raw json.RawMessage, v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return b
}

func wirePlanDocument(d *plan.Document) *api.PlanDocument {
	out := &api.PlanDocument{BaseCommit: d.BaseCommit, Commit: d.Commit, Note: d.Note}
	if p := d.Plan; p != nil {
		out.Plan = &api.Plan{
			Risk:           api.Risk(p.Risk),
			Breaking:       p.Breaking,
			PolicyChanged:  p.PolicyChanged,
			Added:          p.Added,
			Modified:       p.Modified,
			Removed:        p.Removed,
			Changes:        mapSlice(p.Changes, wirePlanChange),
			Truncated:      p.Truncated,
			OmittedChanges: p.OmittedChanges,
		}
	}
	return out
}

func wirePlanChange(c plan.Change) api.PlanChange {
	return api.PlanChange{Action: c.Action, Kind: c.Kind, Path: c.Path, Breaking: c.Breaking, Risk: api.Risk(c.Risk),
		Reason: c.Reason, Diff: mapSlice(c.Diff, wireFieldDiff), OmittedDiffs: c.OmittedDiffs}
}

func wireFieldDiff(d plan.FieldDiff) api.FieldDiff {
	return api.FieldDiff{Field: d.Field, From: wireValue(d.From, d.FromSummarized), To: wireValue(d.To, d.ToSummarized),
		Risk: api.Risk(d.Risk), Breaking: d.Breaking, Reason: d.Reason,
		FromSummarized: d.FromSummarized, ToSummarized: d.ToSummarized}
}

// wireValue is a diffed value: itself, or the api.ValueSummary it holds
// when it was summarized.
func wireValue(v any, summarized bool) any {
	if summarized {
		if s, ok := api.SummaryOf(v); ok {
			return s
		}
	}
	return v
}

func wireValidationReport(r *configrepo.Report) *api.ValidationReport {
	return &api.ValidationReport{Valid: r.Valid, Problems: mapSlice(r.Problems, wireValidationProblem), Omitted: r.Omitted}
}

func wireValidationProblem(p configrepo.ReportProblem) api.ValidationProblem {
	return api.ValidationProblem{File: p.File, Line: p.Line, Column: p.Column, Path: p.Path, Message: p.Message,
		Text: p.Text}
}
