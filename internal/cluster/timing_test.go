package cluster

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestRaftTimeouts: the profile's timeouts, scaled by the multiplier, then
// the explicit ones, which may go below the profile's.
func TestRaftTimeouts(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		cfg  Config
		want RaftTimeouts
	}{
		{"no profile is default", Config{}, RaftTimeouts{time.Second, time.Second, 500 * ms}},
		{"default", Config{RaftProfile: ProfileDefault, RaftMultiplier: 1}, RaftTimeouts{time.Second, time.Second, 500 * ms}},
		{"lan", Config{RaftProfile: ProfileLAN, RaftMultiplier: 1}, RaftTimeouts{250 * ms, 250 * ms, 200 * ms}},
		{"lan scaled", Config{RaftProfile: ProfileLAN, RaftMultiplier: 3}, RaftTimeouts{750 * ms, 750 * ms, 600 * ms}},
		{"explicit below the default", Config{RaftProfile: ProfileDefault, RaftMultiplier: 2, HeartbeatTimeout: 100 * ms},
			RaftTimeouts{100 * ms, 2 * time.Second, time.Second}},
		{"all explicit", Config{RaftProfile: ProfileLAN, HeartbeatTimeout: 80 * ms, ElectionTimeout: 90 * ms, LeaderLeaseTimeout: 40 * ms},
			RaftTimeouts{80 * ms, 90 * ms, 40 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.RaftTimeouts(); got != tt.want {
				t.Errorf("RaftTimeouts() = %v; want %v", got, tt.want)
			}
			rc := tt.cfg.raftConfig()
			if got := (RaftTimeouts{rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout}); got != tt.want {
				t.Errorf("raftConfig() timeouts = %v; want %v", got, tt.want)
			}
		})
	}
}

// TestRaftTimingValidation: a bad profile or timeout, or timeouts that
// contradict each other, are refused naming the field and why.
func TestRaftTimingValidation(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name      string
		adjust    func(*Config)
		wantField string
		wantWhy   string
	}{
		{"lan", func(c *Config) { c.RaftProfile = ProfileLAN }, "", ""},
		{"empty profile is default", func(c *Config) { c.RaftProfile = "" }, "", ""},
		{"explicit below the profile", func(c *Config) {
			c.RaftProfile = ProfileLAN
			c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = 100*ms, 100*ms, 80*ms
		}, "", ""},
		{"unknown profile", func(c *Config) { c.RaftProfile = "wan" }, "raft-profile", "must be default or lan"},
		{"negative heartbeat", func(c *Config) { c.HeartbeatTimeout = -time.Second }, "raft-heartbeat-timeout", "must not be negative"},
		{"election below raft's floor", func(c *Config) { c.ElectionTimeout = ms }, "raft-election-timeout", "at least 5ms"},
		{"lease longer than the profile's heartbeat", func(c *Config) {
			c.RaftProfile = ProfileLAN
			c.LeaderLeaseTimeout = 300 * ms
		}, "raft-leader-lease-timeout", "the lan profile's"},
		{"heartbeat below the profile's lease", func(c *Config) { c.HeartbeatTimeout = 400 * ms },
			"raft-leader-lease-timeout", "(400ms, raft-heartbeat-timeout)"},
		{"election shorter than heartbeat", func(c *Config) {
			c.HeartbeatTimeout, c.ElectionTimeout = 2*time.Second, 1500*ms
		}, "raft-election-timeout", "must not be shorter than the heartbeat timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.NodeID, cfg.DataDir = "node1", t.TempDir()
			tt.adjust(&cfg)
			err := cfg.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate() = %v; want nil", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.wantField || !strings.Contains(err.Error(), tt.wantWhy) {
				t.Errorf("Validate() = %v; want a %s error saying %q", err, tt.wantField, tt.wantWhy)
			}
		})
	}
}

// TestNodeRunsRaftWithTheProfile: a node started with the lan profile runs
// raft with its timeouts, as raft itself reports them.
func TestNodeRunsRaftWithTheProfile(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NodeID, cfg.DataDir = "node1", t.TempDir()
	cfg.RaftBind, cfg.GossipBind = "127.0.0.1:0", "127.0.0.1:0"
	cfg.RaftProfile = ProfileLAN
	cfg.Logger = testLogger("node1")
	tn := (&testCluster{t: t}).open(cfg)
	t.Cleanup(func() { _ = tn.node.Shutdown(false) })
	if got, want := tn.node.RaftTimeouts(), RaftProfiles[ProfileLAN]; got != want {
		t.Errorf("node with the lan profile runs raft with %v; want %v", got, want)
	}
}
