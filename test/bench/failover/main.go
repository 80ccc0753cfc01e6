// Command failover measures how long a three-node honuad cluster takes to
// elect a new leader after its leader is killed:
//
//	go run ./test/bench/failover -kills 10
//
// Each round waits for a stable leader with all three members alive, kills
// the leader with SIGKILL, and times until a survivor's /v1/status names
// another leader (polling every 10ms); then it restarts the killed node and
// waits until it follows again. It prints each figure, the median and the
// maximum against the target. With -tls the nodes run with TLS on: a new
// leader's first contact with each follower then includes a TLS handshake.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"slices"
	"time"

	"github.com/honua-io/honua-gitops/test/bench/benchrun"

	"github.com/honua-io/honua-gitops/test/harness"
)

// target is the median failover time the cluster should beat with default
// raft timeouts.
const target = 2500 * time.Millisecond

const waitTimeout = 60 * time.Second

func main() {
	kills := flag.Int("kills", 10, "how many times to kill the leader")
	withTLS := flag.Bool("tls", false, "run the nodes with TLS: API over https, raft over mutual TLS")
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)

	r := benchrun.New("failover", false)
	defer r.Finish()

	c := harness.Start(r, 3, harness.Options{TLS: *withTLS})
	fmt.Printf("failover of a three-node cluster, TLS %v\n", *withTLS)
	var figures []time.Duration
	for i := 1; i <= *kills; i++ {
		d, old, leader, err := failover(c)
		if err != nil {
			r.Fatalf("kill %d: %v", i, err)
		}
		fmt.Printf("kill %2d: killed %s, %s leads after %v\n", i, old, leader, d.Round(time.Millisecond))
		figures = append(figures, d)
		if err := rejoin(old, leader); err != nil {
			r.Fatalf("kill %d: %v", i, err)
		}
	}
	if len(figures) == 0 {
		return
	}
	med, worst := median(figures), slices.Max(figures)
	verdict := "met"
	if med >= target {
		verdict = "MISSED"
	}
	fmt.Printf("failover over %d kills: median %v, max %v; target median < %v with default timeouts: %s\n",
		len(figures), med.Round(time.Millisecond), worst.Round(time.Millisecond), target, verdict)
}

// failover waits for a stable cluster, kills its leader, and returns the
// time until a survivor names another leader.
func failover(c *harness.Cluster) (time.Duration, *harness.Node, string, error) {
	old, err := c.WaitForLeader(waitTimeout)
	if err != nil {
		return 0, nil, "", err
	}
	if err := c.WaitForMembers(waitTimeout, 3, "alive"); err != nil {
		return 0, nil, "", err
	}
	var survivors []*harness.Node
	for _, n := range c.Nodes() {
		if n != old {
			survivors = append(survivors, n)
		}
	}

	start := time.Now()
	old.Kill()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, n := range survivors {
			if st, err := n.Status(); err == nil && st.LeaderID() != "" && st.LeaderID() != old.ID() {
				return time.Since(start), old, st.LeaderID(), nil
			}
		}
		if time.Since(start) > waitTimeout {
			return 0, old, "", fmt.Errorf("no survivor named a leader other than %s within %v", old, waitTimeout)
		}
		<-tick.C
	}
}

// rejoin restarts the killed node and waits until it follows the leader.
func rejoin(n *harness.Node, leader string) error {
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
