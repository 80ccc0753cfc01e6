package main

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"syscall"
	"time"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/test/bench/benchrun"
	"github.com/honua-io/honua-gitops/test/harness"
)

// failoverResult is what one profile's kill and transfer rounds measured.
type failoverResult struct {
	profile   string
	timeouts  cluster.RaftTimeouts
	kills     []time.Duration
	transfers []time.Duration
}

// measureFailover starts a three-node cluster with the profile, kills its
// leader kills times, then stops it with SIGTERM transfers times, and
// returns the times until a survivor named another leader.
func measureFailover(r *benchrun.Runner, profile string, kills, transfers int, withTLS bool) failoverResult {
	c := harness.Start(r, 3, harness.Options{TLS: withTLS, Args: []string{"--raft-profile", profile}})
	res := failoverResult{profile: profile, timeouts: cluster.RaftProfiles[profile]}
	if _, err := c.WaitForLeader(waitTimeout); err != nil {
		r.Fatalf("start cluster: %v", err)
	}
	if err := checkTiming(c, res.timeouts); err != nil {
		r.Fatalf("%v", err)
	}
	fmt.Printf("failover of a three-node cluster, raft profile %s (%v), TLS %v\n", profile, res.timeouts, withTLS)
	for i := 1; i <= kills; i++ {
		d, old, leader, err := failover(c, (*harness.Node).Kill)
		if err != nil {
			r.Fatalf("kill %d: %v", i, err)
		}
		fmt.Printf("kill %2d: killed %s at %s, %s leads after %v\n", i, old, d.start.Format("15:04:05.000"), leader, d.took.Round(time.Millisecond))
		res.kills = append(res.kills, d.took)
		if err := rejoin(old); err != nil {
			r.Fatalf("kill %d: %v", i, err)
		}
	}
	for i := 1; i <= transfers; i++ {
		d, old, leader, err := failover(c, stop)
		if err != nil {
			r.Fatalf("SIGTERM %d: %v", i, err)
		}
		fmt.Printf("SIGTERM %2d: stopped %s at %s, %s leads after %v\n", i, old, d.start.Format("15:04:05.000"), leader, d.took.Round(time.Millisecond))
		res.transfers = append(res.transfers, d.took)
		if err := rejoin(old); err != nil {
			r.Fatalf("SIGTERM %d: %v", i, err)
		}
	}
	for _, n := range c.Nodes() {
		n.Kill()
	}
	return res
}

// stop sends the node SIGTERM without waiting for it to exit: the leader
// hands its leadership over while it leaves.
func stop(n *harness.Node) {
	if err := syscall.Kill(n.PID(), syscall.SIGTERM); err != nil {
		panic(fmt.Sprintf("SIGTERM %s: %v", n, err))
	}
}

// timingLine is the line a node logs at start with the raft timeouts it
// runs with.
var timingLine = regexp.MustCompile(`msg="raft timing".* heartbeat=(\S+) election=(\S+) leader-lease=(\S+)`)

// checkTiming checks in every node's log that it runs raft with the
// profile's timeouts, so that the figures are the profile's.
func checkTiming(c *harness.Cluster, want cluster.RaftTimeouts) error {
	for _, n := range c.Nodes() {
		m := timingLine.FindStringSubmatch(n.Log())
		if m == nil {
			return fmt.Errorf("%s did not log its raft timing", n)
		}
		if got := fmt.Sprintf("%s %s %s", m[1], m[2], m[3]); got != fmt.Sprintf("%v %v %v", want.Heartbeat, want.Election, want.LeaderLease) {
			return fmt.Errorf("%s runs raft with heartbeat, election and lease %s; want %v", n, got, want)
		}
	}
	return nil
}

// took is when a round ended the leader and how long until another led.
type took struct {
	start time.Time
	took  time.Duration
}

// failover waits for a stable cluster, ends its leader with end, and
// returns the time until a survivor names another leader.
func failover(c *harness.Cluster, end func(*harness.Node)) (took, *harness.Node, string, error) {
	old, err := c.WaitForLeader(waitTimeout)
	if err != nil {
		return took{}, nil, "", err
	}
	if err := c.WaitForMembers(waitTimeout, 3, "alive"); err != nil {
		return took{}, nil, "", err
	}
	var survivors []*harness.Node
	for _, n := range c.Nodes() {
		if n != old {
			survivors = append(survivors, n)
		}
	}

	start := time.Now()
	end(old)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, n := range survivors {
			if st, err := n.Status(); err == nil && st.LeaderID() != "" && st.LeaderID() != old.ID() {
				return took{start, time.Since(start)}, old, st.LeaderID(), nil
			}
		}
		if time.Since(start) > waitTimeout {
			return took{}, old, "", fmt.Errorf("no survivor named a leader other than %s within %v", old, waitTimeout)
		}
		<-tick.C
	}
}

// rejoin waits for the ended node to exit, restarts it and waits until it
// follows the leader.
func rejoin(n *harness.Node) error {
	if _, err := n.Wait(waitTimeout); err != nil {
		return err
	}
	n.Restart()
	return harness.Poll(waitTimeout, fmt.Sprintf("%s to follow again", n), func() error {
		st, err := n.Status()
		if err == nil && (st.State != "Follower" || st.LeaderID() == "") {
			err = errors.New(st.String())
		}
		return err
	})
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
