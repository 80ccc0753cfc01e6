package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Status is a node's GET /v1/status answer.
type Status struct {
	NodeID       string        `json:"nodeId"`
	State        string        `json:"state"` // Leader, Follower or Candidate
	Leader       *StatusLeader `json:"leader"`
	Term         uint64        `json:"term"`
	LastIndex    uint64        `json:"lastIndex"`
	CommitIndex  uint64        `json:"commitIndex"`
	AppliedIndex uint64        `json:"appliedIndex"`
	Members      []Member      `json:"members"`
}

// StatusLeader is the leader a node knows of.
type StatusLeader struct {
	ID      string `json:"id"`
	APIAddr string `json:"apiAddr"`
}

// Member is one server in a node's member list.
type Member struct {
	ID         string `json:"id"`
	RaftAddr   string `json:"raftAddr"`
	GossipAddr string `json:"gossipAddr"`
	APIAddr    string `json:"apiAddr"`
	Voter      bool   `json:"voter"`
	Status     string `json:"status"` // alive, suspect, dead or left
}

// LeaderID returns the id of the leader the node knows of, or "".
func (s Status) LeaderID() string {
	if s.Leader == nil {
		return ""
	}
	return s.Leader.ID
}

// String summarises the status for failure messages.
func (s Status) String() string {
	members := ""
	for _, m := range s.Members {
		voter := ""
		if !m.Voter {
			voter = ",nonvoter"
		}
		members += fmt.Sprintf(" %s=%s%s", m.ID, m.Status, voter)
	}
	return fmt.Sprintf("%s %s leader=%q term=%d last=%d commit=%d applied=%d members:%s",
		s.NodeID, s.State, s.LeaderID(), s.Term, s.LastIndex, s.CommitIndex, s.AppliedIndex, members)
}

// client has a short timeout: a paused or dying node must not stall a poll.
var client = &http.Client{Timeout: 2 * time.Second}

// Status fetches the node's GET /v1/status.
func (n *Node) Status() (Status, error) {
	var st Status
	code, body, err := n.get("/v1/status")
	if err != nil {
		return st, err
	}
	if code != http.StatusOK {
		return st, fmt.Errorf("%s: GET /v1/status: %d %s", n, code, body)
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("%s: GET /v1/status: %w", n, err)
	}
	return st, nil
}

// Ready reports whether GET /readyz answers 200; with 503 the error is nil
// and reason is the node's explanation.
func (n *Node) Ready() (ready bool, reason string, err error) {
	code, body, err := n.get("/readyz")
	switch {
	case err != nil:
		return false, "", err
	case code == http.StatusOK:
		return true, "", nil
	case code == http.StatusServiceUnavailable:
		var e struct{ Error, Code string }
		_ = json.Unmarshal(body, &e)
		return false, e.Error, nil
	}
	return false, "", fmt.Errorf("%s: GET /readyz: %d %s", n, code, body)
}

func (n *Node) get(path string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, n.URL()+path, nil)
	if err != nil {
		return 0, nil, err
	}
	if n.token != "" {
		req.Header.Set("Authorization", "Bearer "+n.token)
	}
	resp, err := n.HTTPClient().Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", n, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: GET %s: %w", n, path, err)
	}
	return resp.StatusCode, body, nil
}

// WaitForApplied waits until the node has applied index.
func (n *Node) WaitForApplied(index uint64, timeout time.Duration) error {
	return Poll(timeout, fmt.Sprintf("%s to apply index %d", n, index), func() error {
		st, err := n.Status()
		if err != nil {
			return err
		}
		if st.AppliedIndex < index {
			return fmt.Errorf("applied %d: %s", st.AppliedIndex, st)
		}
		return nil
	})
}
