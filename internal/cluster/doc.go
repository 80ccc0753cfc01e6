// Package cluster owns the consensus side of honuad: hashicorp/raft with its
// bolt log and stable store and file snapshots, the TCP transport,
// memberlist discovery, bootstrap, membership reconciliation, the leader
// loop that runs leader-only work, the node's readiness, and the watch on
// its file descriptors (a leader that runs out of them hands its leadership
// away). Other packages change replicated state only through Node.Apply and
// register leader-only work with Node.RegisterLeaderWork. Apply never
// proposes a command larger than Config.MaxCommandSize (ErrTooLarge): every
// entry goes to every follower within a heartbeat and stays in the log and
// snapshots, so an oversized one would cost elections and rejoins.
package cluster
