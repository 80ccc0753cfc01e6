package agent

// This file holds the drift section of the configuration file: how often
// the leader checks that each environment's targets still hold what was
// deployed (docs/domain.md#drift).

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/honua-io/honua-gitops/internal/cluster"
)

// DefaultDriftInterval is how often the leader checks for drift unless
// drift.interval says otherwise.
const DefaultDriftInterval = 3 * time.Minute

// minDriftInterval is the shortest drift.interval accepted: each check
// reads every directory target's files.
const minDriftInterval = time.Second

// DriftConfig is the drift section: drift.interval is how often the leader
// compares each target with the bundle deployed to it; 0 or "off" turns
// the check off.
type DriftConfig struct {
	Interval Duration `yaml:"interval"`
}

// UnmarshalYAML implements yaml.Unmarshaler: it takes "off" for an
// interval of 0, and refuses unknown keys with their line, as the
// decoder does for the other sections.
func (d *DriftConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: drift must be a mapping like { interval: 3m }", n.Line)
	}
	seen := 0
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value != "interval" {
			return fmt.Errorf("line %d: field %s not found in drift (only interval)", k.Line, k.Value)
		}
		if seen != 0 {
			return fmt.Errorf("line %d: mapping key %q already defined at line %d", k.Line, k.Value, seen)
		}
		seen = k.Line
		if v.Kind == yaml.ScalarNode && (v.Value == "off" || v.Value == "0") {
			d.Interval = 0
			continue
		}
		if err := d.Interval.UnmarshalYAML(v); err != nil {
			return fmt.Errorf("drift.interval: %w (or off)", err)
		}
	}
	return nil
}

// validateDrift checks the drift section.
func (c *Config) validateDrift() []error {
	if iv := time.Duration(c.Drift.Interval); iv != 0 && iv < minDriftInterval {
		return []error{&cluster.FieldError{Field: "drift.interval", Value: iv.String(), Why: "must be at least 1s, or 0 or off to turn drift checks off"}}
	}
	return nil
}
