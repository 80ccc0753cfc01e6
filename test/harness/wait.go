package harness

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Poll calls check every 50ms until it returns nil or timeout has passed.
// The error names what was awaited and check's last complaint.
func Poll(timeout time.Duration, what string, check func() error) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s: %w", timeout, what, err)
		}
		<-tick.C
	}
}

// live returns the nodes that run and are not paused: those expected to
// answer.
func (c *Cluster) live() []*Node {
	var out []*Node
	for _, n := range c.nodes {
		if n.Running() && !n.Paused() {
			out = append(out, n)
		}
	}
	return out
}

// view is one poll of every live node's status.
type view struct {
	nodes    []*Node
	statuses []Status
}

// look fetches the status of every live node; it fails if one of them does
// not answer.
func (c *Cluster) look() (view, error) {
	v := view{nodes: c.live()}
	if len(v.nodes) == 0 {
		return v, errors.New("no node is running")
	}
	for _, n := range v.nodes {
		st, err := n.Status()
		if err != nil {
			return v, err
		}
		v.statuses = append(v.statuses, st)
	}
	return v, nil
}

func (v view) String() string {
	var b strings.Builder
	for _, st := range v.statuses {
		b.WriteString("\n\t")
		b.WriteString(st.String())
	}
	return b.String()
}

// agreedLeader returns the node that every live node names as leader and
// that says it is the leader.
func (v view) agreedLeader() (*Node, error) {
	leader := v.statuses[0].LeaderID()
	for _, st := range v.statuses {
		if st.LeaderID() == "" || st.LeaderID() != leader {
			return nil, fmt.Errorf("nodes do not agree on a leader:%s", v)
		}
	}
	for i, st := range v.statuses {
		if st.NodeID == leader && st.State == "Leader" {
			return v.nodes[i], nil
		}
	}
	return nil, fmt.Errorf("no live node named %s says it is the leader:%s", leader, v)
}

// Leader returns the live node that every live node names as leader, now,
// without waiting.
func (c *Cluster) Leader() (*Node, error) {
	v, err := c.look()
	if err != nil {
		return nil, err
	}
	return v.agreedLeader()
}

// Followers returns the live nodes that say they are followers, now.
func (c *Cluster) Followers() ([]*Node, error) {
	v, err := c.look()
	if err != nil {
		return nil, err
	}
	var out []*Node
	for i, st := range v.statuses {
		if st.State == "Follower" {
			out = append(out, v.nodes[i])
		}
	}
	return out, nil
}

// WaitForLeader waits until every live node names the same leader, which
// says it is the leader, and returns it.
func (c *Cluster) WaitForLeader(timeout time.Duration) (*Node, error) {
	var leader *Node
	err := Poll(timeout, "every live node to agree on one leader", func() (err error) {
		leader, err = c.Leader()
		return err
	})
	return leader, err
}

// WaitForNewLeader waits until every live node agrees on a leader other
// than old (compared by id) and returns it.
func (c *Cluster) WaitForNewLeader(old *Node, timeout time.Duration) (*Node, error) {
	var leader *Node
	err := Poll(timeout, fmt.Sprintf("a leader other than %s", old.ID()), func() (err error) {
		leader, err = c.Leader()
		if err == nil && leader.ID() == old.ID() {
			err = fmt.Errorf("%s still leads", old.ID())
		}
		return err
	})
	return leader, err
}

// WaitForMembers waits until every live node lists exactly n members with
// the given status (alive, suspect, dead or left).
func (c *Cluster) WaitForMembers(timeout time.Duration, n int, status string) error {
	return Poll(timeout, fmt.Sprintf("every live node to list %d %s members", n, status), func() error {
		v, err := c.look()
		if err != nil {
			return err
		}
		for _, st := range v.statuses {
			count := 0
			for _, m := range st.Members {
				if m.Status == status {
					count++
				}
			}
			if count != n {
				return fmt.Errorf("%s lists %d:%s", st.NodeID, count, v)
			}
		}
		return nil
	})
}
