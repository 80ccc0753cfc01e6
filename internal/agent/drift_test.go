package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDriftConfig: drift.interval defaults to 3m, takes a duration, 0 or
// off (checks off), and refuses anything else with its line or field.
func TestDriftConfig(t *testing.T) {
	if got := time.Duration(DefaultConfig().Drift.Interval); got != DefaultDriftInterval {
		t.Fatalf("default drift.interval = %v; want %v", got, DefaultDriftInterval)
	}
	for _, tt := range []struct {
		name, yaml string
		want       time.Duration
		wantErr    string // in LoadFile's or Validate's error
	}{
		{"absent", "log-level: info\n", DefaultDriftInterval, ""},
		{"duration", "drift:\n  interval: 30s\n", 30 * time.Second, ""},
		{"off", "drift: { interval: off }\n", 0, ""},
		{"zero", "drift:\n  interval: 0\n", 0, ""},
		{"not a duration", "log-level: info\ndrift:\n  interval: soon\n", 0, `line 3: "soon" is not a duration`},
		{"unknown key", "drift:\n  every: 3m\n", 0, "line 2: field every not found in drift"},
		{"not a mapping", "drift: 3m\n", 0, "line 1: drift must be a mapping"},
		{"repeated key", "drift:\n  interval: 1m\n  interval: off\n", 0, `line 3: mapping key "interval" already defined at line 2`},
		{"too short", "drift:\n  interval: 10ms\n", 0, `drift.interval "10ms": must be at least 1s`},
		{"negative", "drift:\n  interval: -1m\n", 0, `drift.interval "-1m0s": must be at least 1s`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "honuad.yaml")
			if err := os.WriteFile(p, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := testConfig(t)
			err := cfg.LoadFile(p)
			if err == nil {
				err = cfg.Validate()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("load %q: error %v; want one containing %q", tt.yaml, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("load %q: %v", tt.yaml, err)
			}
			if got := time.Duration(cfg.Drift.Interval); got != tt.want {
				t.Errorf("load %q: drift.interval = %v; want %v", tt.yaml, got, tt.want)
			}
		})
	}
}
