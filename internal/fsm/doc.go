// Package fsm owns Honua GitOps' replicated state: environments, deployments,
// approvals, history, the fencing-token counter and the notification outbox,
// together with the commands that change them and the deployment state
// machine that Apply enforces.
//
// Everything here is deterministic: Apply never reads the clock, the network,
// the disk or a random source. Times and ids travel inside commands, so every
// node fed the same log holds byte-identical state. Every command is first
// checked against the state, which refuses it with an error and changes
// nothing, then applied, which cannot fail.
package fsm
