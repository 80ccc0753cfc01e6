// Package chaos runs real honuad clusters under a concurrent workload while
// it kills, pauses, restarts, replaces and starves their nodes, records the
// whole history, and checks it against a model afterwards — the method of
// etcd's robustness tests and of Jepsen.
//
// # The cluster
//
// Start builds honuad (test/harness) and starts three or five nodes, each
// with its own data dir, all given one configuration file: a configuration
// repository served by a real git daemon (test/gitserver), polled every
// second, and for every environment two real targets — a directory target
// and an http target, a real honuad target-agent process
// (test/harness.StartTargetAgentIn) with a tokens file, whose token the
// http target sends (tokenFile). The agent keeps the highest fencing token
// it accepted in its durable state and refuses a lower one with 409. The
// nodes reach it through a thin proxy of the test (agents.go) that
// forwards every request unchanged, records each PUT (the node that sent
// it, its token, the agent's answer) and holds PUTs when a fencing fault
// asks it to; the agent alone decides what it accepts. The API needs bearer
// tokens (four approvers and an admin). Raft snapshots are taken every few
// dozen entries (--raft-snapshot-threshold, --raft-trailing-logs and
// --raft-snapshot-interval are low), so snapshots are written, sent and
// restored during every run.
//
// With Options.Network (the network faults' tests and
// TestNetworkSchedule) every node runs in a network namespace of its own
// (test/chaos/netns), started through ip netns exec. Raft, gossip and the
// forwarding of writes to the leader go over a peer network between the
// namespaces (10.77.0.0/24, addresses that exist only inside them), where
// nftables rules cut, one-way drop, flap and lose packets, and tc netem
// or, on a kernel without netem, an nfqueue the test reads delays them. The test's clients reach each node's API over a link of
// its own, which no fault touches, and the git daemon and the agents'
// proxies listen on a service address of the root namespace that every
// namespace reaches over that link (the agents themselves listen on
// 127.0.0.1 of the root namespace, behind their proxies): a node cut off
// from the others still hears from clients and still reaches its targets. Without root, ip or nft these
// tests skip loudly; the others run on loopback.
//
// The repository has three kinds of environment, each for one part of the
// model:
//
//   - gate-1 … gate-N require 1000 approvals (requireApproval: always,
//     approvalTimeout 720h) and no commit ever touches them, so their
//     deployments wait in AwaitingApproval until a client rejects or
//     cancels them. After a rejection or a cancellation, the next commit (to
//     any environment) creates a new deployment of that environment, which
//     the workload picks up once a read shows it AwaitingApproval; nothing
//     but a client can change it after that.
//   - rb-1 … rb-N deploy without approval and receive two commits during
//     set-up (c0, then c1); no commit touches them afterwards. The workload
//     rolls them back to c0 or to c1, syncs them (which deploys the
//     branch head, whose files there are c1's, and keeps the pin), and
//     suspends and resumes them. The first rollback pins the environment
//     from a commit with c1's files, and later ones keep that, so the
//     watcher never unpins it. While one is suspended, the deployments its
//     rollbacks and syncs create wait as Pending; when the workload stops
//     it resumes every environment it suspended, as operations of a client
//     of their own, until a consistent read shows it resumed.
//   - app-1 … app-N deploy without approval; the workload commits to them and
//     syncs them throughout.
//
// Commits never touch environments/common or the policy file, which would
// touch every environment.
//
// # The workload
//
// Concurrent clients use the Go API client (package api) against a random
// order of the nodes for every request: approvals, rejections and
// cancellations of gate deployments (a cancellation of unknown outcome,
// and half of the acknowledged ones, are retried once by the same
// identity), consistent reads of those deployments, rollbacks (and hostile rollbacks, see the model),
// suspensions, resumptions and consistent reads of rb environments, syncs
// of rb and app environments, and commits to app environments. The rare
// operations stay rare: of a gate client's, 1.5% reject and 1.5% cancel;
// of an rb client's, 2% suspend and 6% resume, so that an rb environment
// is suspended about a quarter of the time and its rollbacks still deploy.
// Every operation is recorded with its call and return time and its
// result:
//
//   - ok, with what the server answered;
//   - failed, when the answer says it did nothing: an API error with code
//     invalid, unauthorized, forbidden, not_found, wrong_state, too_large or
//     no_leader, or no node reachable at all (nothing was sent);
//   - unknown, when it may or may not have happened: an API error with code
//     unknown_outcome, unavailable (raft answers ErrRaftShutdown to a
//     command that may have committed when the node shuts down while it
//     waits) or any other 5xx, a timeout, a connection reset or cut after
//     the request was sent.
//
// Event streams (GET /v1/events) are read from every node throughout, and a
// reader goroutine per directory target resolves the target's symlink and
// reads the whole bundle behind it, again and again.
//
// # The model
//
// The history of approvals, rejections, cancellations, rollbacks,
// suspensions and resumptions is checked for linearizability with
// porcupine, partitioned (each partition is checked on its own, which is
// sound because no operation touches two keys):
//
// A gate deployment (one partition per deployment id) has the state
// Awaiting(A), A a set of approver identities, Rejected(A), or
// Cancelled(A, c), c the identity that cancelled it; Rejected and
// Cancelled are its ended states E. It starts as Awaiting(∅): the
// workload acts on it only after a read showed it AwaitingApproval with no
// approvals, and nothing but the workload approves, rejects or cancels it
// (its environment is never suspended). Every answer that shows the
// deployment shows its state, approvals and canceller.
//
//	approve(who) → ok{duplicate: who ∈ A, approvals: A ∪ {who}}  from Awaiting(A), to Awaiting(A ∪ {who})
//	approve(who) → ok{duplicate, the ended state}                 from E when who ∈ A, unchanged
//	approve(who) → wrong_state                                    from E when who ∉ A, unchanged
//	reject(who)  → ok{state: Rejected, approvals: A}              from Awaiting(A), to Rejected(A)
//	reject(who)  → wrong_state                                    from E, unchanged
//	cancel(who)  → ok{state: Cancelled, approvals: A, by who}     from Awaiting(A), to Cancelled(A, who)
//	cancel(who)  → ok{state: Cancelled, approvals: A, by who}     from Cancelled(A, who): a retry, unchanged
//	cancel(who)  → wrong_state                                    from Rejected(A) or Cancelled(A, c), c ≠ who, unchanged
//	read         → {state, approvals, canceller}                  equal to the state, unchanged
//
// An rb environment (one partition per environment) has the state
// (Pin, S): Pin the commit a rollback pinned it to and the identity that
// asked (Environment.Pin's Commit and By), or none; S the identity whose
// suspension holds it (Environment.Suspended.By), or none. It starts as
// (none, none). A suspension, a resumption and a read answer the
// environment, whose pin and suspension must be the state's.
//
//	rollback(to, who) → ok{deployment of commit to, kind rollback}   to (Pin(to, who), S)
//	rollback(to, who) → wrong_state                                   unchanged (to is what is deployed)
//	hostile rollback  → never ok                                      unchanged, even when unknown
//	suspend(who)      → ok{pin, suspended by S or who}                to (Pin, S) if S is someone, else (Pin, who)
//	resume(who)       → ok{pin, not suspended}                        to (Pin, none)
//	suspend, resume   → never wrong_state                             (both are idempotent)
//	read              → the environment's pin and suspension          equal to the state, unchanged
//
// A hostile rollback names what must never be rolled back to, because a
// rollback skips the approvals a commit needs: a gate deployment (waiting
// for approval, rejected or cancelled), from an rb environment or from its own gate
// environment (which has nothing deployed). Only a Completed deployment of
// the environment is a rollback target.
//
// An operation with an unknown outcome is given an infinite return time
// and may step either way: applied at some point after its call, as the
// rules above apply it in the state it finds (an unknown rejection or
// cancellation of an ended deployment changes nothing), or never
// (linearized after everything else, where it is not observed). An
// unknown resumption may thus land after a later suspension, as a request
// that waited in the leader's queue would. A failed operation is left
// out, but for a write refused with wrong_state, which the rules above
// must allow: it did nothing, and if it did, an observation that no
// operation explains fails the check. The checker's verdict
// "unknown" (it timed out) is a failure; a failed check writes porcupine's
// visualization to the artifacts folder.
//
// A rollback to the commit that is deployed is refused with wrong_state:
// that depends on the pipeline's progress, which the model does not
// follow, so a refusal is allowed in any state (and changes nothing).
//
// # The other checks
//
// After every run, once the faults are healed:
//
//   - a leader is elected within a bound; every deployment that was in
//     flight finishes (none is left active, nor in Pending, Validating,
//     Planning or Scheduled; only gate deployments wait for approval; no
//     environment is left suspended); every
//     node reaches the same applied index with the same digest of its
//     replicated state (GET /v1/debug/state);
//   - no acknowledged write is lost: every ok approval, rejection,
//     cancellation and rollback is in the final state of every node, every ok sync was
//     followed by a manual-sync deployment, every commit to an app
//     environment is what it has deployed at the end;
//   - no deployment reached two terminal states, on any node's event
//     stream or in the final state, and every event any node sent is in
//     the final state, with the same id on every node;
//   - at most one deployment of an environment was active (BackingUp to
//     PostValidating, or RollingBack) at any index, by the transitions of
//     the final state and by the event streams;
//   - every target holds exactly the bundle of its environment's deployed
//     deployment with its last fencing token: the directory's manifest and
//     files; each agent's GET /v1/bundle (manifest, file digests, and its
//     durable highest token, which must be that last token) and the folder
//     it switched. Each agent's log ("bundle served", one line per bundle
//     switched in) shows every accepted bundle's token strictly above the
//     one before (equal only for the same bundle, a retry) and ends with
//     the deployed one, and agrees with the proxy's record of the PUTs it
//     answered 200. The directory readers never saw a token go down nor a
//     bundle mixing two commits, and gate environments' targets were never
//     written (no PUT reached their agents, which serve nothing);
//   - every notification the final deployments' transitions raise exists
//     and was delivered, and no other: every event of every environment is
//     routed to a webhook receiver (notifications.go) that is down 3 s of
//     every 8 while the workload runs, across the schedule's faults; a
//     notification is marked delivered only after the receiver answered it
//     2xx, every delivery carries a valid signature and the id of a
//     notification, and the duplicate deliveries are counted and printed;
//   - for every leader kill or partition, the time to the first write a
//     survivor acknowledged is printed.
//
// # Faults
//
// Process faults (process.go, fencing.go, diskfull.go): SIGKILL of the
// leader (at any time, while a deployment is Applying, while it writes a
// snapshot), of a follower and of two of five nodes; SIGSTOP of the leader
// past its lease; a stop and restart of the whole cluster; replacing a
// dead member with a fresh node; and a follower's disk filling up (its data
// dir is a small tmpfs; root only). When the leader is killed while
// Applying, and when it is paused, its PUT is held by the proxy and
// delivered to the agent late, once the new leader has finished the
// deployment: the agent, which then holds a higher token (by its GET),
// must refuse it with 409 and go on serving a bundle with a higher token.
//
// Network faults (netfaults.go), on the peer network only: the leader cut
// off from the majority while clients still reach it (partition-leader);
// every packet from the leader to the followers dropped, or every packet
// from the followers to the leader (partition-one-way-from-leader, -to-);
// the leader cut off and healed every 0.7 to 1.5 s for several seconds
// (partition-flap); 20 to 30% of what one or every node sends lost (loss);
// delay (tc netem, or nfqueue without it; left out, loudly, on a kernel
// with neither); and a
// follower cut off for 40 s, past memberlist's GossipToTheDeadTime
// (partition-follower-long). Besides the common checks, a node cut off
// from a quorum must acknowledge nothing it is sent before the network
// heals (each operation sent to it first ends refused or unknown: the
// client tries another node only when it cannot connect), the majority
// must elect a leader and the old one step down, and after the long
// partition every node must list every member alive again within 40 s.
//
// See README.md for what each fault does and how to read a failure.
//
// Two faults step around product bugs that their own tests (skipped, with
// "BUG:") show: disk-full restarts the leader, loudly, when the follower
// whose disk was freed does not catch up within 30 seconds
// (TestFollowerDiskFullRecovers); and pause-leader resumes the paused node
// after 20 seconds when the new leader cannot finish what it had in flight
// because the paused node holds a directory target's lock
// (TestTargetLockHeldByPausedLeader). Two bugs the suite found are fixed
// and their tests run: TestRollbackTwiceKeepsPin and
// TestRemoveMemberStaysRemoved (replace-member still removes a member only
// once gossip sees it dead, as an operator removing a failed member would).
package chaos
