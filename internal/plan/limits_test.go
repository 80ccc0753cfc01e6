package plan_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/internal/plan"
)

// changeAt returns the change at path, or fails.
func changeAt(t *testing.T, p *plan.Plan, path string) plan.Change {
	t.Helper()
	for _, c := range p.Changes {
		if c.Path == path {
			return c
		}
	}
	t.Fatalf("plan has no change at %s: %s", path, p.Summary())
	return plan.Change{}
}

// summaryOf checks that v is the summary of the value whose JSON is raw.
func summaryOf(t *testing.T, what string, v any, raw []byte) {
	t.Helper()
	s, ok := v.(plan.ValueSummary)
	if !ok {
		t.Fatalf("%s is a %T; want a plan.ValueSummary of the %d-byte value", what, v, len(raw))
	}
	sum := sha256.Sum256(raw)
	if s.Bytes != len(raw) || s.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("%s = %d bytes, sha256 %s; want %d bytes, sha256 %x", what, s.Bytes, s.SHA256, len(raw), sum)
	}
	if s.Prefix == "" || !strings.HasPrefix(string(raw), s.Prefix) || len(s.Prefix) > 64 {
		t.Errorf("%s prefix = %q; want the first bytes (at most 64) of the value's JSON", what, s.Prefix)
	}
}

func TestComputeSummarizesLargeValues(t *testing.T) {
	big := strings.Repeat("v", 20<<20)
	bigger := big + "w"
	atLimit := strings.Repeat("a", plan.MaxValueSize-2) // with its quotes, exactly the limit
	base := plan.Input{AppSettings: map[string]any{"Blob": big, "Edge": "x", "Small": "a"}}
	head := plan.Input{AppSettings: map[string]any{"Blob": bigger, "Edge": atLimit, "Small": "b",
		"Added": map[string]any{"list": []any{big}}}}
	p := plan.Compute(base, head)

	doc, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc) > 8<<10 {
		t.Fatalf("plan of two 20 MiB values is %d bytes; want the values summarized", len(doc))
	}
	t.Logf("plan of a 20 MiB value changed and another added: %d bytes of JSON", len(doc))

	rawOf := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	blob := changeAt(t, p, "appsettings/Blob").Diff[0]
	if !blob.FromSummarized || !blob.ToSummarized {
		t.Errorf("Blob diff summarized from %v, to %v; want both", blob.FromSummarized, blob.ToSummarized)
	}
	summaryOf(t, "Blob from", blob.From, rawOf(big))
	summaryOf(t, "Blob to", blob.To, rawOf(bigger))

	added := changeAt(t, p, "appsettings/Added").Diff[0]
	if added.From != nil || added.FromSummarized || !added.ToSummarized {
		t.Errorf("Added diff = from %v (summarized %v), to summarized %v; want no from and a summarized to", added.From, added.FromSummarized, added.ToSummarized)
	}
	summaryOf(t, "Added to", added.To, rawOf(head.AppSettings.(map[string]any)["Added"]))

	for path, want := range map[string][2]any{"appsettings/Small": {"a", "b"}, "appsettings/Edge": {"x", atLimit}} {
		d := changeAt(t, p, path).Diff[0]
		if d.From != want[0] || d.To != want[1] || d.FromSummarized || d.ToSummarized {
			t.Errorf("%s diff = %.40v → %.40v (summarized %v, %v); want the values themselves", path, d.From, d.To, d.FromSummarized, d.ToSummarized)
		}
	}
	if again, _ := json.Marshal(plan.Compute(base, head)); string(again) != string(doc) {
		t.Errorf("Compute of the same inputs gave different JSON")
	}
}

func TestComputeTruncatesAPlanOverItsBudget(t *testing.T) {
	const n = 100000
	settings := make(map[string]any, n+1)
	for i := range n {
		settings[fmt.Sprintf("Key%06d", i)] = fmt.Sprintf("value %d", i)
	}
	// Sorted last, so left out of the list: its risk still counts.
	settings["ZZZ.ApiToken"] = "tokenEnv"
	p := plan.Compute(plan.Input{}, plan.Input{AppSettings: settings})

	doc, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("plan of %d added settings: %d changes listed, %d omitted, %d bytes of JSON", n+1, len(p.Changes), p.OmittedChanges, len(doc))
	if len(doc) > plan.MaxChangesSize+1024 {
		t.Errorf("plan of %d changes is %d bytes; want at most the budget of %d and the totals", n+1, len(doc), plan.MaxChangesSize)
	}
	if !p.Truncated || len(p.Changes) == 0 || p.OmittedChanges != n+1-len(p.Changes) {
		t.Errorf("plan truncated %v with %d changes and %d omitted; want truncated, the first changes kept and the rest counted",
			p.Truncated, len(p.Changes), p.OmittedChanges)
	}
	if len(p.Changes) > 0 && p.Changes[0].Path != "appsettings/Key000000" {
		t.Errorf("first listed change is %s; want the first in order, appsettings/Key000000", p.Changes[0].Path)
	}
	if p.Added != n+1 || p.Risk != plan.RiskHigh {
		t.Errorf("plan counts %d added, risk %s; want %d and high (the security setting left out of the list counts)", p.Added, p.Risk, n+1)
	}
	if s := p.Summary(); !strings.Contains(s, fmt.Sprintf("%d changes", n+1)) {
		t.Errorf("Summary() = %q; want it to count every change", s)
	}

	small := plan.Compute(fixture(t).input(), func() plan.Input { h := fixture(t); manyChanges(t, h); return h.input() }())
	if small.Truncated || small.OmittedChanges != 0 {
		t.Errorf("plan of a handful of changes is truncated (%d omitted); want it whole", small.OmittedChanges)
	}
}

func TestComputeCutsTheDiffsOfOneHugeChange(t *testing.T) {
	const n = 100000
	extra := func(v float64) map[string]any {
		m := make(map[string]any, n)
		for i := range n {
			m[fmt.Sprintf("k%06d", i)] = v
		}
		return m
	}
	in := func(v float64) plan.Input {
		return plan.Input{Metadata: map[string]any{
			"services": []any{map[string]any{"id": "s", "dataSourceId": "d"}},
			"layers":   []any{map[string]any{"id": "l", "serviceId": "s", "extra": extra(v)}},
		}, DataSources: map[string]any{"dataSources": []any{map[string]any{"id": "d"}}}}
	}
	p := plan.Compute(in(1), in(2))
	doc, _ := json.Marshal(p)
	if len(p.Changes) != 1 {
		t.Fatalf("plan has %d changes; want the one modified layer", len(p.Changes))
	}
	c := p.Changes[0]
	t.Logf("plan of one layer with %d changed keys: %d diffs listed, %d omitted, reason %d bytes, %d bytes of JSON", n, len(c.Diff), c.OmittedDiffs, len(c.Reason), len(doc))
	if len(doc) > plan.MaxChangesSize+1024 {
		t.Errorf("plan is %d bytes; want at most the budget of %d", len(doc), plan.MaxChangesSize)
	}
	if !p.Truncated || len(c.Diff) == 0 || c.OmittedDiffs != n-len(c.Diff) {
		t.Errorf("change lists %d diffs and omits %d, plan truncated %v; want the first diffs kept, the rest counted", len(c.Diff), c.OmittedDiffs, p.Truncated)
	}
	if len(c.Reason) > plan.MaxTextSize {
		t.Errorf("change reason is %d bytes; want at most %d", len(c.Reason), plan.MaxTextSize)
	}
}

func TestComputeBoundsLongKeys(t *testing.T) {
	key := strings.Repeat("k", 1<<20)
	p := plan.Compute(plan.Input{AppSettings: map[string]any{"Logging": map[string]any{key: 1}}},
		plan.Input{AppSettings: map[string]any{"Logging": map[string]any{key: 2}}})
	if len(p.Changes) != 1 || len(p.Changes[0].Diff) != 1 {
		t.Fatalf("plan = %d changes; want one", len(p.Changes))
	}
	c := p.Changes[0]
	for what, s := range map[string]string{"path": c.Path, "reason": c.Reason, "field": c.Diff[0].Field, "diff reason": c.Diff[0].Reason} {
		if len(s) > plan.MaxTextSize {
			t.Errorf("%s is %d bytes; want at most %d", what, len(s), plan.MaxTextSize)
		}
		if !strings.HasPrefix(s, "appsettings/Logging.kkk") && !strings.HasPrefix(s, "Logging.kkk") {
			t.Errorf("%s = %.40q…; want the start of the key kept", what, s)
		}
	}
}
