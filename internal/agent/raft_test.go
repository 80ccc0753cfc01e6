package agent

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/cluster"
)

// TestRaftTimingOptions: --raft-profile and the three timeouts reach the
// cluster node's configuration, and contradictions are refused naming the
// option.
func TestRaftTimingOptions(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		adjust  func(*Config)
		want    cluster.RaftTimeouts
		wantErr string // the option named, and why
	}{
		{"default", func(*Config) {}, cluster.RaftProfiles[cluster.ProfileDefault], ""},
		{"lan", func(c *Config) { c.RaftProfile = "lan" }, cluster.RaftProfiles[cluster.ProfileLAN], ""},
		{"lan with a multiplier", func(c *Config) { c.RaftProfile, c.RaftMultiplier = "lan", 2 },
			cluster.RaftTimeouts{Heartbeat: 500 * ms, Election: 500 * ms, LeaderLease: 400 * ms}, ""},
		{"explicit timeouts below the default", func(c *Config) {
			c.RaftHeartbeatTimeout, c.RaftElectionTimeout, c.RaftLeaderLeaseTimeout = Duration(150*ms), Duration(300*ms), Duration(100*ms)
		}, cluster.RaftTimeouts{Heartbeat: 150 * ms, Election: 300 * ms, LeaderLease: 100 * ms}, ""},
		{"unknown profile", func(c *Config) { c.RaftProfile = "fast" }, cluster.RaftTimeouts{},
			`raft-profile "fast": must be default or lan`},
		{"lease longer than heartbeat", func(c *Config) { c.RaftHeartbeatTimeout = Duration(300 * ms) }, cluster.RaftTimeouts{},
			`raft-leader-lease-timeout "500ms": must not be longer than the heartbeat timeout (300ms, raft-heartbeat-timeout)`},
		{"election shorter than heartbeat", func(c *Config) { c.RaftProfile, c.RaftElectionTimeout = "lan", Duration(100*ms) },
			cluster.RaftTimeouts{}, `raft-election-timeout "100ms": must not be shorter than the heartbeat timeout (250ms, the lan profile's)`},
		{"negative", func(c *Config) { c.RaftLeaderLeaseTimeout = Duration(-ms) }, cluster.RaftTimeouts{},
			`raft-leader-lease-timeout "-1ms": must not be negative`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			tt.adjust(&cfg)
			err := cfg.Validate()
			if tt.wantErr != "" {
				var ce *ConfigError
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Validate() = %v; want a *ConfigError saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate() = %v; want nil", err)
			}
			cc := cfg.clusterConfig("test")
			if got := cc.RaftTimeouts(); got != tt.want {
				t.Errorf("the node's raft timeouts = %v; want %v", got, tt.want)
			}
		})
	}
}
