// Package cluster owns the consensus side of honuad: hashicorp/raft with its
// bolt log and stable store and file snapshots, the transport (plain TCP,
// or mutual TLS with RaftTLS: see tlsstream.go), memberlist discovery, bootstrap, membership reconciliation, the leader
// loop that runs leader-only work, the node's readiness, and the watch on
// its file descriptors (a leader that runs out of them hands its leadership
// away). Other packages change replicated state only through Node.Apply and
// register leader-only work with Node.RegisterLeaderWork. Apply never
// proposes a command larger than Config.MaxCommandSize (ErrTooLarge): every
// entry goes to every follower within a heartbeat and stays in the log and
// snapshots, so an oversized one would cost elections and rejoins.
//
// With RaftTLS, raft speaks only to peers that prove a certificate of the
// cluster's CA naming them a node, in both directions, and the leader adds
// a gossip member as a voter only after its raft address proved one:
// gossip itself is not authenticated by the CA. A connection that does not
// complete its handshake within the handshake timeout is closed, and at
// most 64 handshakes run at once; refusals are counted and logged at a low
// rate.
package cluster
