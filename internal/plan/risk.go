// Package plan owns the diff between two versions of an environment's
// configuration and its risk rating (docs/domain.md#risk).
package plan

import "fmt"

// Risk rates a change or a whole plan (docs/domain.md#risk). Risks are ordered:
// a plan's risk is the highest of its changes.
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

// MarshalText implements encoding.TextMarshaler: risks are their names in
// JSON and YAML.
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
