package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// TestApplyRefusesACommandOverTheCap: a command whose encoding is over
// MaxCommandSize is refused with ErrTooLarge and never reaches raft; one
// under it is applied.
func TestApplyRefusesACommandOverTheCap(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.MaxCommandSize = MinCommandSize })
	_, idx := tc.apply(observe("production", "c1"))
	tc.waitForApplied(idx)
	leader := tc.waitForLeader()
	before := leader.node.raft.LastIndex()

	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	big := &fsm.SetSourceStatus{Head: "c1", Error: strings.Repeat("e", MinCommandSize), Time: at}
	_, err := leader.node.Apply(context.Background(), big)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Apply(a %d-byte command) with a cap of %d = %v; want ErrTooLarge", MinCommandSize+50, MinCommandSize, err)
	}
	for _, want := range []string{"SetSourceStatus", "65536", "max-command-size"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if after := leader.node.raft.LastIndex(); after != before {
		t.Errorf("raft last index went from %d to %d; want the command never proposed", before, after)
	}
	if s := leader.fsm.Source(); s.Error != "" {
		t.Errorf("source status error is %d bytes after the refused command; want it unchanged", len(s.Error))
	}

	fits := &fsm.SetSourceStatus{Head: "c1", Error: strings.Repeat("e", MinCommandSize-200), Time: at}
	_, idx = tc.apply(fits)
	tc.waitForApplied(idx)
	if s := leader.fsm.Source(); len(s.Error) != len(fits.Error) {
		t.Errorf("source status error is %d bytes; want the %d of the command under the cap", len(s.Error), len(fits.Error))
	}
}

func TestMaxCommandSizeConfig(t *testing.T) {
	if got := DefaultConfig().MaxCommandSize; got != 1<<20 {
		t.Errorf("DefaultConfig().MaxCommandSize = %d; want 1 MiB", got)
	}
	tests := []struct {
		name    string
		size    int
		want    int
		wantErr bool
	}{
		{"zero means the default", 0, DefaultMaxCommandSize, false},
		{"the minimum", MinCommandSize, MinCommandSize, false},
		{"below the minimum", MinCommandSize - 1, 0, true},
		{"the maximum", MaxCommandSizeLimit, MaxCommandSizeLimit, false},
		{"above the maximum", MaxCommandSizeLimit + 1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, "node1", 1)
			cfg.MaxCommandSize = tt.size
			err := cfg.Validate()
			if tt.wantErr {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != "max-command-size" {
					t.Errorf("Validate(MaxCommandSize %d) = %v; want a max-command-size FieldError", tt.size, err)
				}
				return
			}
			if err != nil || cfg.MaxCommandSize != tt.want {
				t.Errorf("Validate(MaxCommandSize %d) = %v, size %d; want nil, %d", tt.size, err, cfg.MaxCommandSize, tt.want)
			}
		})
	}
}
