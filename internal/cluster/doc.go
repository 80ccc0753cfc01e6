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
// Gossip is encrypted when the node is given a key (Config.GossipKey) or
// finds a keyring in its data dir, which wins: memberlist encrypts with the
// keyring's primary key, decrypts with any of its keys and refuses what it
// cannot decrypt, so a node with another key, or none, is never admitted.
// InstallGossipKey, UseGossipKey and RemoveGossipKey change this node's
// keyring alone, saving it to the data dir first; rotating a cluster's key
// is installing the new key everywhere, using it everywhere, and removing
// the old one everywhere, in that order. Keys are named by their
// fingerprints in logs and errors, never written out.
//
// With RaftTLS, raft speaks only to peers that prove a certificate of the
// cluster's CA naming them a node, in both directions, and the leader adds
// a gossip member as a voter only after its raft address proved one:
// gossip itself is not authenticated by the CA. A connection that does not
// complete its handshake within the handshake timeout is closed, and at
// most 64 handshakes run at once; refusals are counted and logged at a low
// rate.
package cluster
