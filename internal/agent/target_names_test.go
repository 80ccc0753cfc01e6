package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTargetNames: a target may have a name, which rollout waves refer to;
// names are valid and unique within their environment (but may repeat
// across environments).
func TestTargetNames(t *testing.T) {
	const dir = "{type: directory, path: /p}"
	for _, tt := range []struct {
		name, yaml string
		wantErr    string
	}{
		{"named", "environments:\n  prod:\n    targets:\n      - {name: canary, type: directory, path: /a}\n      - {name: eu-1, type: directory, path: /b}\n" +
			"  staging:\n    targets: [{name: canary, type: directory, path: /c}]\n", ""},
		{"unnamed", "environments: {prod: {targets: [" + dir + ", " + dir + "]}}\n", ""},
		{"repeated", "environments:\n  prod:\n    targets:\n      - {name: canary, type: directory, path: /a}\n      - {name: canary, type: directory, path: /b}\n",
			`environments.prod.targets[1].name "canary": repeats the name of targets[0]`},
		{"invalid", "environments: {prod: {targets: [{name: Canary_1, type: directory, path: /a}]}}\n",
			`environments.prod.targets[0].name "Canary_1": must be 1-63 lowercase letters`},
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
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("load %q: %v", tt.yaml, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("load %q: error %v; want one containing %q", tt.yaml, err, tt.wantErr)
			}
		})
	}
}
