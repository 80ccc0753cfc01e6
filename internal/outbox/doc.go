// Package outbox delivers the notifications the FSM records (its replicated
// outbox; see docs/notifications.md): it runs on the leader only, sends each
// due notification through its channel (package notify), and records the
// outcome through raft — delivered after a 2xx (or the mail server's
// acceptance), or a failed attempt with the next try, backing off
// exponentially with jitter up to MaxAttempts, then failed for good. A new
// leader goes on from what is replicated: whatever is not marked delivered
// is sent again, with the same delivery id, so a receiver can drop a
// duplicate. Delivery never blocks a deployment: it only reads the state
// and writes its own commands.
package outbox
