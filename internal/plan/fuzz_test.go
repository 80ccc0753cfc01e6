package plan_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/internal/plan"
)

// fuzzDepth is how deep the fuzzed documents may nest: configrepo refuses
// files that nest deeper than 100 levels, so Compute never sees them.
const fuzzDepth = 100

// depth is how deep lists and objects nest in v.
func depth(v any) int {
	d := 0
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	case []any:
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	}
	return 0
}

// FuzzCompute plans between two versions of an environment's documents,
// each arbitrary JSON (or absent when it is not JSON), and policies.
// Properties: Compute never panics; a version planned against itself has
// no change; a plan is deterministic, leaves its inputs alone, keeps its
// counts and risk over every change (listed or omitted), and stays within
// its budget of MaxChangesSize, its texts within MaxTextSize.
func FuzzCompute(f *testing.F) {
	f.Add([]byte(fixtureMetadata), []byte(fixtureDataSources), []byte(fixtureAppSettings), []byte(fixturePolicy),
		[]byte(fixtureMetadata), []byte(fixtureDataSources), []byte(fixtureAppSettings), []byte(fixturePolicy))
	f.Add([]byte(nil), []byte(nil), []byte(nil), []byte(nil),
		[]byte(fixtureMetadata), []byte(fixtureDataSources), []byte(fixtureSharedConfig), []byte(fixturePolicy))
	f.Add([]byte(fixtureMetadata), []byte(fixtureDataSources), []byte(nil), []byte(nil),
		[]byte(strings.Replace(fixtureMetadata, `"srid": 4326`, `"srid": 3857`, 1)),
		[]byte(strings.Replace(fixtureDataSources, `"host": "db"`, `"host": "db2"`, 1)), []byte(`{"Cache":{"Seconds":1}}`), []byte(nil))
	f.Add([]byte(`{"services":[{"id":"s"},{"id":"s"}],"layers":[{"id":1},{"fields":"x"}]}`), []byte(`{"dataSources":{}}`),
		[]byte(`[]`), []byte("\xff"),
		[]byte(`{"services":"x","layers":[{"id":"l","serviceId":"gone","fields":[{"name":"a"},{"name":"a"}]}]}`),
		[]byte(`{"dataSources":[null,1,"x",{"id":null}]}`), []byte(`1e308`), []byte(nil))
	f.Add([]byte(`{"layers":[{"id":"l","styles":[{"id":"a"},{"id":"a"}],"keywords":[1,[2],{"3":4}]}]}`), []byte(`{}`),
		[]byte(`{"`+strings.Repeat("k", 5000)+`":"`+strings.Repeat("v", 5000)+`"}`), []byte(nil),
		[]byte(`{"layers":[{"id":"l","styles":[{"id":"a","c":1}],"keywords":[]}]}`), []byte(`{}`),
		[]byte(`{"`+strings.Repeat("k", 5000)+`":1}`), []byte("apiVersion: x\n"))
	f.Add([]byte(`{"version":`+strings.Repeat("[", 99)+strings.Repeat("]", 99)+`}`), []byte(nil), []byte(nil), []byte(nil),
		[]byte(`{"version":`+strings.Repeat(`{"a":`, 98)+"1"+strings.Repeat("}", 98)+`}`), []byte(nil), []byte(nil), []byte(nil))
	f.Fuzz(func(t *testing.T, bMeta, bDS, bApp, bPolicy, hMeta, hDS, hApp, hPolicy []byte) {
		doc := func(b []byte) any {
			var v any
			if json.Unmarshal(b, &v) != nil || depth(v) > fuzzDepth {
				return nil
			}
			return v
		}
		base := plan.Input{Metadata: doc(bMeta), DataSources: doc(bDS), AppSettings: doc(bApp), SharedConfig: doc(hApp), Policy: bPolicy}
		head := plan.Input{Metadata: doc(hMeta), DataSources: doc(hDS), AppSettings: doc(hApp), SharedConfig: doc(bApp), Policy: hPolicy}
		before := mustJSON(t, []plan.Input{base, head})

		for name, in := range map[string]plan.Input{"base": base, "head": head} {
			if p := plan.Compute(in, in); len(p.Changes) != 0 || p.Risk != plan.RiskNone || p.Added+p.Modified+p.Removed != 0 {
				t.Fatalf("Compute(%s, %s) = %s; want no change", name, name, mustJSON(t, p))
			}
		}
		p := plan.Compute(base, head)
		doc1 := mustJSON(t, p)
		if again := mustJSON(t, plan.Compute(base, head)); again != doc1 {
			t.Fatalf("Compute is not deterministic:\n%s\n%s", doc1, again)
		}
		if after := mustJSON(t, []plan.Input{base, head}); after != before {
			t.Fatalf("Compute changed its inputs:\n%s\n%s", before, after)
		}
		if n := p.Added + p.Modified + p.Removed; n != len(p.Changes)+p.OmittedChanges {
			t.Fatalf("plan counts %d changes; it lists %d and omits %d", n, len(p.Changes), p.OmittedChanges)
		}
		if p.OmittedChanges > 0 && !p.Truncated {
			t.Fatalf("plan omits %d changes, truncated %v", p.OmittedChanges, p.Truncated)
		}
		if len(doc1) > plan.MaxChangesSize+1024 {
			t.Fatalf("plan is %d bytes of JSON; want at most %d", len(doc1), plan.MaxChangesSize+1024)
		}
		var added, modified, removed int
		for _, c := range p.Changes {
			if c.Risk > p.Risk || (c.Breaking && !p.Breaking) {
				t.Fatalf("change %s is %v (breaking %v); the plan only %v (breaking %v)", c.Path, c.Risk, c.Breaking, p.Risk, p.Breaking)
			}
			if len(c.Path) > plan.MaxTextSize || len(c.Reason) > plan.MaxTextSize {
				t.Fatalf("change %.80q has a path of %d bytes and a reason of %d", c.Path, len(c.Path), len(c.Reason))
			}
			switch c.Action {
			case plan.ActionAdded:
				added++
			case plan.ActionModified:
				modified++
			case plan.ActionRemoved:
				removed++
			default:
				t.Fatalf("change %s has action %q", c.Path, c.Action)
			}
			for _, d := range c.Diff {
				if len(d.Field) > plan.MaxTextSize || len(d.Reason) > plan.MaxTextSize {
					t.Fatalf("diff %.80q of %s is over MaxTextSize", d.Field, c.Path)
				}
				for _, v := range []any{d.From, d.To} {
					if b, _ := json.Marshal(v); len(b) > plan.MaxValueSize && !bytes.Contains(b, []byte(`"sha256"`)) {
						t.Fatalf("diff %s of %s holds a value of %d bytes, not summarized", d.Field, c.Path, len(b))
					}
				}
			}
		}
		if !p.Truncated && (added != p.Added || modified != p.Modified || removed != p.Removed) {
			t.Fatalf("plan counts %d/%d/%d; it lists %d/%d/%d", p.Added, p.Modified, p.Removed, added, modified, removed)
		}
		same := (base.Policy == nil) == (head.Policy == nil) && bytes.Equal(base.Policy, head.Policy) // nil: no file
		if p.PolicyChanged == same {
			t.Fatalf("plan says policy changed %v; the policies are %q and %q", p.PolicyChanged, base.Policy, head.Policy)
		}
	})
}
