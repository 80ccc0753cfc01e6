package sampleconfig_test

import (
	"testing"
	"testing/fstest"

	"github.com/honua-io/honua-gitops/internal/configrepo"
	"github.com/honua-io/honua-gitops/internal/policy"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// TestDocumentsAreValid: every environment sampleconfig renders loads
// without a problem, and every policy parses into what its doc comment
// says.
func TestDocumentsAreValid(t *testing.T) {
	titled := sampleconfig.Layer{ID: "titled-layer", SRID: 3857, Title: "Revision 7"}
	for _, layers := range [][]sampleconfig.Layer{
		{sampleconfig.Points},
		{sampleconfig.Points, sampleconfig.Roads},
		{titled},
	} {
		fsys := fstest.MapFS{}
		for path, data := range sampleconfig.Env("staging", layers...) {
			fsys[path] = &fstest.MapFile{Data: []byte(data)}
		}
		b, problems := configrepo.Load(fsys, "staging")
		if len(problems) > 0 {
			t.Fatalf("Load(Env(staging, %v)) problems: %v", layers, problems)
		}
		if len(b.Layers) != len(layers) {
			t.Fatalf("Load(Env(staging, %v)) has %d layers; want %d", layers, len(b.Layers), len(layers))
		}
		for i, l := range layers {
			want := l.Title
			if want == "" {
				want = "Layer " + l.ID
			}
			if got := b.Layers[i]; got.ID != l.ID || got.SRID != l.SRID || got.Title != want {
				t.Errorf("layer %d = %q srid %d title %q; want %q srid %d title %q", i, got.ID, got.SRID, got.Title, l.ID, l.SRID, want)
			}
		}
	}

	tests := []struct {
		name      string
		doc       string
		env       string
		mode      policy.Mode
		approvals int
	}{
		{"Policy production", sampleconfig.Policy, "production", policy.OnRisk, 2},
		{"Policy staging", sampleconfig.Policy, "staging", policy.Never, 2},
		{"NeverApprove", sampleconfig.NeverApprove("staging", "qa"), "qa", policy.Never, 0},
		{"AlwaysApprove", sampleconfig.AlwaysApprove(3, "staging", "qa"), "qa", policy.Always, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Parse([]byte(tt.doc), sampleconfig.PolicyPath)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			e := p.For(tt.env)
			if e.RequireApproval != tt.mode {
				t.Errorf("For(%q).RequireApproval = %v; want %v", tt.env, e.RequireApproval, tt.mode)
			}
			if tt.mode != policy.Never && e.RequiredApprovals != tt.approvals {
				t.Errorf("For(%q).RequiredApprovals = %d; want %d", tt.env, e.RequiredApprovals, tt.approvals)
			}
		})
	}
}
