package api

import "time"

// Status is a node's view of the cluster (GET /v1/status).
type Status struct {
	NodeID       string     `json:"nodeId"`
	State        string     `json:"state"`
	Leader       *Leader    `json:"leader"`
	Term         uint64     `json:"term"`
	LastIndex    uint64     `json:"lastIndex"`
	CommitIndex  uint64     `json:"commitIndex"`
	AppliedIndex uint64     `json:"appliedIndex"`
	LastContact  *time.Time `json:"lastContact,omitempty"`
	Version      string     `json:"version,omitempty"`
	Members      []Member   `json:"members"`
}

// Leader names the leader and where its API listens.
type Leader struct {
	ID      string `json:"id"`
	APIAddr string `json:"apiAddr"`
}

// Member is one server of the cluster.
type Member struct {
	ID         string `json:"id"`
	RaftAddr   string `json:"raftAddr"`
	GossipAddr string `json:"gossipAddr,omitempty"`
	APIAddr    string `json:"apiAddr,omitempty"`
	Version    string `json:"version,omitempty"`
	Voter      bool   `json:"voter"`
	Status     string `json:"status"`
}
