// Package analysis owns judging a rollout's wave by metrics
// (docs/domain.md#rollouts): it asks a Prometheus HTTP API
// (/api/v1/query) each check of a policy.Analysis for one target and
// says, per check, the value measured and whether it is within bounds.
//
// Guarantees: every query has a deadline (the caller's context, bounded by
// Client.Timeout); an answer larger than MaxResponse is refused rather
// than read; a query that answers no number, more than one series, or NaN
// is a failed check, never a pass. What an unanswered query (Prometheus
// unreachable, an error status, a bad answer) counts as is the policy's
// onError: a failed check (fail, the default) or neither (ignore).
//
// Failure modes: Prometheus unreachable or slow, a query that errors, a
// series that does not exist yet (an empty vector: no sample is no
// evidence of health, so it fails).
package analysis
