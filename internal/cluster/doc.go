// Package cluster owns the consensus side of honuad: hashicorp/raft with its
// bolt log and stable store and file snapshots, the TCP transport,
// memberlist discovery, bootstrap, membership reconciliation, the leader
// loop that runs leader-only work, the node's readiness, and the watch on
// its file descriptors (a leader that runs out of them hands its leadership
// away). Other packages change replicated state only through Node.Apply and
// register leader-only work with Node.RegisterLeaderWork.
package cluster
