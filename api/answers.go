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
	// Repository is the watched repository; nil when none is configured.
	Repository *RepositoryStatus `json:"repository,omitempty"`
}

// RepositoryStatus is the watched repository and what the leader last
// learned of it.
type RepositoryStatus struct {
	URL    string `json:"url"`
	Branch string `json:"branch"`
	SourceStatus
}

// Leader names the leader and where its API listens.
type Leader struct {
	ID      string `json:"id"`
	APIAddr string `json:"apiAddr"`
}

// Member is one server of the cluster (GET /v1/cluster/members).
type Member struct {
	ID         string `json:"id"`
	RaftAddr   string `json:"raftAddr"`
	GossipAddr string `json:"gossipAddr,omitempty"`
	APIAddr    string `json:"apiAddr,omitempty"`
	Version    string `json:"version,omitempty"`
	Voter      bool   `json:"voter"`
	Status     string `json:"status"`
}

// DeploymentSummary is a deployment without its plan, validation and
// transitions, as lists give it.
type DeploymentSummary struct {
	ID          string          `json:"id"`
	Environment string          `json:"environment"`
	Commit      string          `json:"commit"`
	Branch      string          `json:"branch,omitempty"`
	Kind        string          `json:"kind"`
	Initiator   string          `json:"initiator"`
	DryRun      bool            `json:"dryRun,omitempty"`
	Subject     string          `json:"subject,omitempty"`
	State       DeploymentState `json:"state"`
	Risk        string          `json:"risk,omitempty"`
	Message     string          `json:"message,omitempty"`
	Error       string          `json:"error,omitempty"`
	Approvals   int             `json:"approvals"`
	Required    int             `json:"requiredApprovals,omitempty"`
	CreatedAt   time.Time       `json:"createdAt"`
	UpdatedAt   time.Time       `json:"updatedAt"`
}

// EnvironmentDetail is an environment with its current and waiting
// deployments spelled out (GET /v1/environments and /v1/environments/{env}).
type EnvironmentDetail struct {
	*Environment
	CurrentDeployment *DeploymentSummary `json:"currentDeployment,omitempty"`
	WaitingDeployment *DeploymentSummary `json:"waitingDeployment,omitempty"`
	// LatestDeployment is the environment's newest deployment, whatever
	// its state.
	LatestDeployment *DeploymentSummary `json:"latestDeployment,omitempty"`
	// Deployed is the deployment the environment's targets hold.
	Deployed *DeploymentSummary `json:"deployed,omitempty"`
}

// History is a page of an environment's deployments, newest first, with
// totals over all it keeps (GET /v1/environments/{env}/history).
type History struct {
	Environment string               `json:"environment"`
	Deployments []*DeploymentSummary `json:"deployments"`
	// NextCursor, when set, fetches the next (older) page.
	NextCursor string        `json:"nextCursor,omitempty"`
	Totals     HistoryTotals `json:"totals"`
}

// HistoryTotals summarizes the deployments an environment keeps.
type HistoryTotals struct {
	Total      int `json:"total"`
	Completed  int `json:"completed"`
	Failed     int `json:"failed"`
	RolledBack int `json:"rolledBack"`
	Rejected   int `json:"rejected"`
	Superseded int `json:"superseded"`
	Cancelled  int `json:"cancelled"`
	InProgress int `json:"inProgress"`
	// SuccessRate is Completed over the deployments that reached a
	// verdict on their targets (Completed, Failed, RolledBack).
	SuccessRate float64 `json:"successRate"`
	// AverageDuration is the mean time from creation to Completed.
	AverageDuration string  `json:"averageDuration,omitempty"`
	AverageSeconds  float64 `json:"averageSeconds"`
}

// ApproveResult is the answer to an approval.
type ApproveResult struct {
	// Duplicate is true when the identity had approved already: nothing
	// changed.
	Duplicate  bool        `json:"duplicate"`
	Deployment *Deployment `json:"deployment"`
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// Keyring is one node's gossip keyring (GET /v1/agent/keyring): its keys
// named by their fingerprints (the hex of the first 8 bytes of each key's
// SHA-256), never the keys themselves.
type Keyring struct {
	// Node is the node whose keyring this is.
	Node string `json:"node"`
	// Encrypted is false on a node that gossips in the clear: it was
	// started without a key and has no keyring.
	Encrypted bool `json:"encrypted"`
	// Primary is the key that encrypts what the node sends.
	Primary string `json:"primary,omitempty"`
	// Keys are every key the node decrypts with, primary first.
	Keys  []string `json:"keys"`
	Count int      `json:"count"`
}

// KeyringOp is a change to a node's gossip keyring (POST
// /v1/agent/keyring).
type KeyringOp struct {
	// Op is install, use or remove.
	Op string `json:"op"`
	// Key is the key, base64-encoded as honuad keygen prints it.
	Key string `json:"key"`
}

// KeyringChange is the answer to a KeyringOp: the operation, the key's
// fingerprint, whether anything changed (installing a key already
// installed, using the primary or removing a key not installed changes
// nothing) and the keyring after it.
type KeyringChange struct {
	Op          string `json:"op"`
	Fingerprint string `json:"fingerprint"`
	Changed     bool   `json:"changed"`
	Keyring
}

// Identity is who the request's token is (GET /v1/whoami): its name, role
// (viewer, approver or admin) and groups. Without a tokens file every
// request is the admin "anonymous", in every group ("*").
type Identity struct {
	Name   string   `json:"name"`
	Role   string   `json:"role"`
	Groups []string `json:"groups"`
}

// EnvironmentApprovers are the approver groups of the policy in force for
// an environment (GET /v1/environments/{env}/approvers), as the leader reads
// it: who may roll the environment back or sync it. Empty Groups means any
// approver may.
type EnvironmentApprovers struct {
	Environment string   `json:"environment"`
	Groups      []string `json:"groups"`
}
