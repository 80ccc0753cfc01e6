package main

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/test/bench/benchrun"
	"github.com/honua-io/honua-gitops/test/harness"
)

// failoverResult is what one profile's kill and transfer rounds measured.
type failoverResult struct {
	profile string
	// custom is set when the nodes had more flags than the profile: the
	// figures then have no goal.
	custom    bool
	timeouts  cluster.RaftTimeouts
	kills     []time.Duration
	transfers []time.Duration
}

// measureFailover starts a three-node cluster with the profile, kills its
// leader kills times, then stops it with SIGTERM transfers times, and
// returns the times until a survivor named another leader.
func measureFailover(r *benchrun.Runner, profile string, nodeArgs []string, kills, transfers int, withTLS bool) failoverResult {
	c := harness.Start(r, 3, harness.Options{TLS: withTLS, Args: append([]string{"--raft-profile", profile}, nodeArgs...)})
	res := failoverResult{profile: profile, custom: len(nodeArgs) > 0}
	if _, err := c.WaitForLeader(waitTimeout); err != nil {
		r.Fatalf("start cluster: %v", err)
	}
	var err error
	if res.timeouts, err = checkTiming(c, profile, res.custom); err != nil {
		r.Fatalf("%v", err)
	}
	if res.custom {
		res.profile += " " + strings.Join(nodeArgs, " ")
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
		d, old, leader, err := failover(c, func(n *harness.Node) {
			// Not Stop, which waits for the exit: the leader hands its
			// leadership over while it leaves.
			if err := syscall.Kill(n.PID(), syscall.SIGTERM); err != nil {
				r.Fatalf("SIGTERM %s: %v", n, err)
			}
		})
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

// timingLine is the line a node logs at start with the raft timeouts it
// runs with.
var timingLine = regexp.MustCompile(`msg="raft timing".* heartbeat=(\S+) election=(\S+) leader-lease=(\S+)`)

// checkTiming reads in every node's log the raft timeouts it runs with,
// and checks that they are the same on every node and, unless custom, the
// profile's; it returns them.
func checkTiming(c *harness.Cluster, profile string, custom bool) (cluster.RaftTimeouts, error) {
	var got cluster.RaftTimeouts
	for i, n := range c.Nodes() {
		m := timingLine.FindStringSubmatch(n.Log())
		if m == nil {
			return got, fmt.Errorf("%s did not log its raft timing", n)
		}
		var t cluster.RaftTimeouts
		for j, d := range []*time.Duration{&t.Heartbeat, &t.Election, &t.LeaderLease} {
			v, err := time.ParseDuration(m[j+1])
			if err != nil {
				return got, fmt.Errorf("%s logged raft timing %q: %v", n, m[0], err)
			}
			*d = v
		}
		if i > 0 && t != got {
			return got, fmt.Errorf("%s runs raft with %v, another node with %v", n, t, got)
		}
		got = t
	}
	if want := cluster.RaftProfiles[profile]; !custom && got != want {
		return got, fmt.Errorf("the nodes run raft with %v; the %s profile is %v", got, profile, want)
	}
	return got, nil
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
