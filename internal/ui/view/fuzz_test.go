package view_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/ui/view"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// FuzzPlan: whatever JSON a plan and a validation report hold, Plan never
// panics and its output, parsed as a browser would, holds only the
// elements and attributes the package renders (no script, no handler).
// Numbers are decoded as json.Number when the plan's length is even and as
// float64 otherwise, the two ways a plan reaches the dashboard.
func FuzzPlan(f *testing.F) {
	base := sample(f, sampleconfig.Points, sampleconfig.Roads)
	head := sample(f, sampleconfig.Points)
	head.layer(f, "sample-points")["srid"] = 3857
	head.layer(f, "sample-points")["geometryType"] = hostile[0]
	head.fields(f, "sample-points")[1].(map[string]any)["name"] = hostile[1]
	real, err := json.Marshal(planDoc(f, base, head, true))
	if err != nil {
		f.Fatal(err)
	}
	rep, err := json.Marshal(api.ValidationReport{Problems: []api.ValidationProblem{
		{File: hostile[2], Line: 1, Column: 2, Path: hostile[3], Message: hostile[4]}}, Omitted: 3})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real, rep)
	f.Add([]byte(`null`), []byte(`null`))
	f.Add([]byte(`{}`), []byte(`{"valid":true}`))
	f.Add([]byte(`{"commit":"c","risk":"critical","truncated":true,"omittedChanges":-1,"changes":[{"action":"removed","kind":"field","path":"layers/a/fields/<b>"},`+
		`{"action":"modified","kind":"layer","path":"","diff":[{"field":"storage[0]","from":{"bytes":"x","sha256":1},"fromSummarized":true},`+
		`{"field":"srid","to":{"bytes":1e300,"sha256":"<i>","prefix":"</span>"},"toSummarized":true}],"omittedDiffs":-5}]}`),
		[]byte(`{"problems":[{"line":-1,"column":99999999999}],"omitted":-2}`))

	f.Fuzz(func(t *testing.T, planJSON, reportJSON []byte) {
		var doc *api.PlanDocument
		dec := json.NewDecoder(bytes.NewReader(planJSON))
		if len(planJSON)%2 == 0 {
			dec.UseNumber()
		}
		_ = dec.Decode(&doc) // a partial decode is rendered too
		var rep *api.ValidationReport
		_ = json.Unmarshal(reportJSON, &rep)
		out := view.Plan(doc, rep)
		if p := safetyProblem(out, parse(t, out)); p != "" {
			t.Fatalf("output holds %s:\n%s", p, out)
		}
	})
}
