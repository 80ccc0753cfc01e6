package cluster

import (
	"time"

	"github.com/hashicorp/memberlist"
)

// FastConfig returns a configuration for in-process test clusters: loopback
// with free ports, 50 ms raft timeouts and memberlist tuned to notice joins
// and failures within a fraction of a second. Too twitchy for production.
func FastConfig(nodeID, dataDir string, bootstrapExpect int) Config {
	cfg := DefaultConfig()
	cfg.NodeID = nodeID
	cfg.DataDir = dataDir
	cfg.RaftBind = "127.0.0.1:0"
	cfg.GossipBind = "127.0.0.1:0"
	cfg.APIAddr = "127.0.0.1:1"
	cfg.BootstrapExpect = bootstrapExpect
	cfg.HeartbeatTimeout = 50 * time.Millisecond
	cfg.ElectionTimeout = 50 * time.Millisecond
	cfg.LeaderLeaseTimeout = 50 * time.Millisecond
	cfg.CommitTimeout = 5 * time.Millisecond
	cfg.ApplyTimeout = 5 * time.Second
	cfg.ReconcileInterval = 200 * time.Millisecond
	cfg.JoinRetryMax = 200 * time.Millisecond
	cfg.ReconnectInterval = 200 * time.Millisecond
	cfg.ResourceCheckInterval = 50 * time.Millisecond
	cfg.ResourceGrace = 250 * time.Millisecond
	cfg.Gossip = fastGossip
	return cfg
}

func fastGossip(mc *memberlist.Config) {
	mc.ProbeInterval = 100 * time.Millisecond
	mc.ProbeTimeout = 50 * time.Millisecond
	mc.GossipInterval = 20 * time.Millisecond
	mc.PushPullInterval = 500 * time.Millisecond
	mc.SuspicionMult = 2
	mc.TCPTimeout = time.Second
	mc.GossipToTheDeadTime = time.Second
}
