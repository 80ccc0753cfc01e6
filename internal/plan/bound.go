package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Bounds of a plan. A plan is recorded on its deployment, in the replicated
// log and in every snapshot, so whatever the repository holds it stays
// small: values, names and the list of changes are cut to these sizes, and
// what was cut is said (FieldDiff.FromSummarized, Change.OmittedDiffs,
// Plan.Truncated). Risk, Breaking, PolicyChanged and the counts of a plan
// are always computed from every change.
const (
	// MaxValueSize bounds a diffed value, in bytes of JSON: a longer one is
	// replaced by its ValueSummary.
	MaxValueSize = 1 << 10
	// MaxTextSize bounds a change's path and reason and a diff's field and
	// reason, in bytes. A longer one keeps its start and ends with its
	// length and digest.
	MaxTextSize = 512
	// MaxChangesSize is the budget of a plan's changes, in bytes of JSON.
	// The changes that fit are listed in order, the last one maybe with
	// only its first diffs; the others are counted in OmittedChanges. A
	// plan of a thousand changes fits.
	MaxChangesSize = 256 << 10
	// summaryPrefix is how much of a summarized value's JSON is kept.
	summaryPrefix = 64
)

// ValueSummary stands in a FieldDiff for a value whose JSON is longer than
// MaxValueSize. It names the value without copying it: two versions differ
// when their digests do, and the repository holds the value itself.
type ValueSummary struct {
	// Bytes is the length of the value's JSON.
	Bytes int `json:"bytes"`
	// SHA256 is the hex SHA-256 of the value's JSON.
	SHA256 string `json:"sha256"`
	// Prefix is the start of the value's JSON: at most 64 bytes, whole
	// characters.
	Prefix string `json:"prefix"`
}

// SummaryOf returns the ValueSummary v holds: a ValueSummary, or one decoded
// from a plan's JSON into the JSON data model. Read it from From or To when
// FromSummarized or ToSummarized is set.
func SummaryOf(v any) (ValueSummary, bool) {
	switch x := v.(type) {
	case ValueSummary:
		return x, true
	case map[string]any:
		n, okN := x["bytes"].(float64)
		sum, okS := x["sha256"].(string)
		prefix, okP := x["prefix"].(string)
		return ValueSummary{Bytes: int(n), SHA256: sum, Prefix: prefix}, okN && okS && okP
	}
	return ValueSummary{}, false
}

// summarize returns the summary of a value whose JSON is raw.
func summarize(raw []byte) ValueSummary {
	sum := sha256.Sum256(raw)
	return ValueSummary{Bytes: len(raw), SHA256: hex.EncodeToString(sum[:]), Prefix: cutAt(string(raw), summaryPrefix)}
}

// boundValue returns v, or its summary (and true) when its JSON is longer
// than MaxValueSize.
func boundValue(v any) (any, bool) {
	if v == nil {
		return nil, false
	}
	raw, err := json.Marshal(v)
	if err != nil || len(raw) <= MaxValueSize {
		return v, false
	}
	return summarize(raw), true
}

// boundText returns s, or, when it is longer than MaxTextSize, its start
// followed by "… [N bytes, sha256 0123456789ab]": distinct long texts stay
// distinct.
func boundText(s string) string {
	if len(s) <= MaxTextSize {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	tail := fmt.Sprintf("… [%d bytes, sha256 %x]", len(s), sum[:6])
	return cutAt(s, MaxTextSize-len(tail)) + tail
}

// cutAt returns the longest prefix of s of at most n bytes that ends at a
// character boundary.
func cutAt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// boundChange bounds a change's texts and every diff's texts and values.
func boundChange(c *Change) {
	c.Path, c.Reason = boundText(c.Path), boundText(c.Reason)
	for i := range c.Diff {
		d := &c.Diff[i]
		d.Field, d.Reason = boundText(d.Field), boundText(d.Reason)
		d.From, d.FromSummarized = boundValue(d.From)
		d.To, d.ToSummarized = boundValue(d.To)
	}
}

// bound keeps p within its budget: every change is bounded, and changes are
// listed while their JSON fits MaxChangesSize. The change that does not fit
// keeps the diffs that do, if any does; the rest are counted.
func bound(p *Plan) *Plan {
	left := MaxChangesSize
	for i := range p.Changes {
		c := &p.Changes[i]
		boundChange(c)
		size := jsonSize(c) + 1 // and a comma
		if size <= left {
			left -= size
			continue
		}
		p.Truncated = true
		if cutDiffs(c, left) {
			i++
		}
		p.OmittedChanges = len(p.Changes) - i
		p.Changes = p.Changes[:i:i]
		break
	}
	return p
}

// cutDiffs keeps the first diffs of c that fit in budget bytes of JSON with
// the rest of c, and counts the others. It reports false when c does not
// fit even without diffs.
func cutDiffs(c *Change, budget int) bool {
	diffs := c.Diff
	c.Diff = nil
	c.OmittedDiffs = len(diffs)
	left := budget - jsonSize(c) - len(`,"diff":[]`)
	if left < 0 {
		return false
	}
	kept := 0
	for _, d := range diffs {
		size := jsonSize(d) + 1
		if size > left {
			break
		}
		left -= size
		kept++
	}
	if kept > 0 {
		c.Diff = diffs[:kept:kept]
	}
	c.OmittedDiffs = len(diffs) - kept
	return true
}

// jsonSize is the length of v's JSON.
func jsonSize(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return MaxChangesSize + 1 // cannot be recorded: never fits
	}
	return len(b)
}
