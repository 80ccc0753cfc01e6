package cluster

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// Raft profiles: the names RaftProfile takes.
const (
	// ProfileDefault is hashicorp/raft's own timeouts (as Consul's with
	// raft_multiplier 1): a follower stands for election after 1-2 s
	// without the leader.
	ProfileDefault = "default"
	// ProfileLAN is for nodes on one low-latency network (round trips
	// well under 10 ms), with disks that sync in milliseconds and without
	// long stalls: a follower stands for election after 250-500 ms.
	ProfileLAN = "lan"
)

// RaftTimeouts are the three raft timeouts a profile sets.
type RaftTimeouts struct {
	// Heartbeat is how long a follower goes without hearing from the
	// leader before it stands for election (raft waits for its next
	// check, randomised between one and two of these). The leader sends a
	// heartbeat every tenth of it.
	Heartbeat time.Duration
	// Election is how long a candidate waits for votes (randomised up to
	// twice as long) before it tries again.
	Election time.Duration
	// LeaderLease is how long a leader goes without hearing from a quorum
	// before it steps down.
	LeaderLease time.Duration
}

// String writes the timeouts as the node logs them.
func (t RaftTimeouts) String() string {
	return fmt.Sprintf("heartbeat %v, election %v, leader lease %v", t.Heartbeat, t.Election, t.LeaderLease)
}

// RaftProfiles maps each profile's name to its timeouts, before the
// multiplier.
var RaftProfiles = map[string]RaftTimeouts{
	ProfileDefault: {
		Heartbeat:   raft.DefaultConfig().HeartbeatTimeout,
		Election:    raft.DefaultConfig().ElectionTimeout,
		LeaderLease: raft.DefaultConfig().LeaderLeaseTimeout,
	},
	// A quarter of the default: the leader sends a heartbeat every 25 ms,
	// and steps down after 200 ms without a quorum, before its followers
	// give up on it.
	ProfileLAN: {Heartbeat: 250 * time.Millisecond, Election: 250 * time.Millisecond, LeaderLease: 200 * time.Millisecond},
}

// minRaftTimeout is the least timeout raft accepts.
const minRaftTimeout = 5 * time.Millisecond

// RaftTimeouts returns the timeouts the node runs raft with: the profile's,
// scaled by the multiplier, then the explicit ones.
func (c *Config) RaftTimeouts() RaftTimeouts {
	p, ok := RaftProfiles[c.RaftProfile]
	if !ok {
		p = RaftProfiles[ProfileDefault]
	}
	m := time.Duration(max(c.RaftMultiplier, 1))
	t := RaftTimeouts{Heartbeat: p.Heartbeat * m, Election: p.Election * m, LeaderLease: p.LeaderLease * m}
	if c.HeartbeatTimeout > 0 {
		t.Heartbeat = c.HeartbeatTimeout
	}
	if c.ElectionTimeout > 0 {
		t.Election = c.ElectionTimeout
	}
	if c.LeaderLeaseTimeout > 0 {
		t.LeaderLease = c.LeaderLeaseTimeout
	}
	return t
}

// validateRaftTiming checks the profile and the timeouts it yields with the
// explicit ones.
func (c *Config) validateRaftTiming() []error {
	var errs []error
	bad := func(field string, v any, why string) { errs = append(errs, &FieldError{field, v, why}) }
	if c.RaftProfile == "" {
		c.RaftProfile = ProfileDefault
	}
	if _, ok := RaftProfiles[c.RaftProfile]; !ok {
		names := slices.Sorted(maps.Keys(RaftProfiles))
		bad("raft-profile", c.RaftProfile, "must be "+strings.Join(names, " or "))
		return errs
	}
	badValue := false
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"raft-heartbeat-timeout", c.HeartbeatTimeout},
		{"raft-election-timeout", c.ElectionTimeout},
		{"raft-leader-lease-timeout", c.LeaderLeaseTimeout},
	} {
		switch {
		case d.v < 0:
			bad(d.field, d.v.String(), "must not be negative (0: the profile's)")
			badValue = true
		case d.v > 0 && d.v < minRaftTimeout:
			bad(d.field, d.v.String(), fmt.Sprintf("must be at least %v", minRaftTimeout))
			badValue = true
		}
	}
	if badValue {
		return errs
	}
	// The relations between the three, named after what the operator set
	// (an explicit timeout, or the profile).
	t := c.RaftTimeouts()
	from := func(field string, explicit time.Duration) string {
		if explicit > 0 {
			return field
		}
		return fmt.Sprintf("the %s profile's", c.RaftProfile)
	}
	if t.LeaderLease > t.Heartbeat {
		bad("raft-leader-lease-timeout", t.LeaderLease.String(), fmt.Sprintf(
			"must not be longer than the heartbeat timeout (%v, %s), so that a leader cut off from its followers steps down before they elect another",
			t.Heartbeat, from("raft-heartbeat-timeout", c.HeartbeatTimeout)))
	}
	if t.Election < t.Heartbeat {
		bad("raft-election-timeout", t.Election.String(), fmt.Sprintf(
			"must not be shorter than the heartbeat timeout (%v, %s)",
			t.Heartbeat, from("raft-heartbeat-timeout", c.HeartbeatTimeout)))
	}
	return errs
}
