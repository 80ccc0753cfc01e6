package api

import (
	"encoding/json"
	"fmt"
)

// The documents a deployment records: the plan (Deployment.Plan) and the
// validation report (Deployment.Validation).

// PlanDocument is a deployment's plan: the changes that take the deployed
// configuration (BaseCommit) to the deployment's (Commit), with their risk.
type PlanDocument struct {
	// BaseCommit is the deployed commit the plan was computed against;
	// empty for a first deployment.
	BaseCommit string `json:"baseCommit,omitempty"`
	Commit     string `json:"commit"`
	// Note says what was unusual about the planning, if anything.
	Note string `json:"note,omitempty"`
	*Plan
}

// Plan is the set of changes between two versions of an environment's
// configuration.
type Plan struct {
	Risk          Risk         `json:"risk"`          // the highest of the changes; RiskNone when nothing changed
	Breaking      bool         `json:"breaking"`      // any change is breaking
	PolicyChanged bool         `json:"policyChanged"` // the deployment policy was added, changed or removed
	Added         int          `json:"added"`
	Modified      int          `json:"modified"`
	Removed       int          `json:"removed"`
	Changes       []PlanChange `json:"changes"` // by kind, then path
	// Truncated says Changes lists only the first changes (and the last
	// may omit diffs); Risk, Breaking, PolicyChanged and the counts still
	// cover every change.
	Truncated bool `json:"truncated,omitempty"`
	// OmittedChanges counts the changes left out of Changes.
	OmittedChanges int `json:"omittedChanges,omitempty"`
}

// Actions of a PlanChange.
const (
	ActionAdded    = "added"
	ActionModified = "modified"
	ActionRemoved  = "removed"
)

// PlanChange is one added, modified or removed resource.
type PlanChange struct {
	Action   string      `json:"action"` // ActionAdded, ActionModified or ActionRemoved
	Kind     string      `json:"kind"`   // service, layer, field, dataSource, appSetting, sharedConfig, document, policy
	Path     string      `json:"path"`   // e.g. layers/sample-points/fields/name
	Breaking bool        `json:"breaking"`
	Risk     Risk        `json:"risk"`
	Reason   string      `json:"reason"`         // why this risk, e.g. "srid changed"
	Diff     []FieldDiff `json:"diff,omitempty"` // field-level; empty for added and removed resources
	// OmittedDiffs counts the diffs left out of Diff.
	OmittedDiffs int `json:"omittedDiffs,omitempty"`
}

// FieldDiff is one changed attribute of a modified resource. A value too
// long to record is replaced by its ValueSummary, and FromSummarized or
// ToSummarized says so (read it with SummaryOf).
type FieldDiff struct {
	Field          string `json:"field"`
	From           any    `json:"from,omitempty"` // omitted for an added field
	To             any    `json:"to,omitempty"`   // omitted for a removed field
	Risk           Risk   `json:"risk"`
	Breaking       bool   `json:"breaking"`
	Reason         string `json:"reason"`
	FromSummarized bool   `json:"fromSummarized,omitempty"`
	ToSummarized   bool   `json:"toSummarized,omitempty"`
}

// ValueSummary stands for a value too long to record: its size, digest
// and start.
type ValueSummary struct {
	// Bytes is the length of the value's JSON.
	Bytes int `json:"bytes"`
	// SHA256 is the hex SHA-256 of the value's JSON.
	SHA256 string `json:"sha256"`
	// Prefix is the start of the value's JSON.
	Prefix string `json:"prefix"`
}

// SummaryOf returns the ValueSummary v holds: a ValueSummary, or one decoded
// into the JSON data model (numbers as float64 or json.Number).
func SummaryOf(v any) (ValueSummary, bool) {
	switch x := v.(type) {
	case ValueSummary:
		return x, true
	case map[string]any:
		var n int
		okN := true
		switch b := x["bytes"].(type) {
		case float64:
			n = int(b)
		case json.Number:
			i, err := b.Int64()
			n, okN = int(i), err == nil
		default:
			okN = false
		}
		sum, okS := x["sha256"].(string)
		prefix, okP := x["prefix"].(string)
		return ValueSummary{Bytes: n, SHA256: sum, Prefix: prefix}, okN && okS && okP
	}
	return ValueSummary{}, false
}

// Risk rates a change or a whole plan. Risks are ordered, lowest first; in
// JSON they are their names.
type Risk int

// The risks, lowest first. RiskNone is the risk of an empty plan.
const (
	RiskNone Risk = iota
	RiskLow
	RiskMedium
	RiskHigh
	RiskCritical
)

var riskNames = [...]string{"none", "low", "medium", "high", "critical"}

// String returns the risk's name: none, low, medium, high or critical.
func (r Risk) String() string {
	if r < RiskNone || r > RiskCritical {
		return fmt.Sprintf("Risk(%d)", int(r))
	}
	return riskNames[r]
}

// ParseRisk parses a risk name.
func ParseRisk(s string) (Risk, error) {
	for i, n := range riskNames {
		if n == s {
			return Risk(i), nil
		}
	}
	return 0, fmt.Errorf("risk %q is not one of none, low, medium, high, critical", s)
}

// MarshalText implements encoding.TextMarshaler.
func (r Risk) MarshalText() ([]byte, error) {
	if r < RiskNone || r > RiskCritical {
		return nil, fmt.Errorf("invalid risk %d", int(r))
	}
	return []byte(r.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Risk) UnmarshalText(b []byte) error {
	v, err := ParseRisk(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// ValidationReport is the result of validating a deployment's
// configuration: valid, or its problems.
type ValidationReport struct {
	Valid    bool                `json:"valid"`
	Problems []ValidationProblem `json:"problems"`
	// Omitted counts the problems left out of Problems.
	Omitted int `json:"omitted,omitempty"`
}

// ValidationProblem is one thing wrong with the configuration, located as
// precisely as the file allows.
type ValidationProblem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
	// Text is the whole problem as one line: file:line:column: path: message.
	Text string `json:"text"`
}
