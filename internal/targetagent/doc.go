// Package targetagent owns honuad target-agent: the small server that runs
// beside a Honua server, on its host or as a sidecar in its pod, and takes
// the bundles honuad's http targets PUT (docs/targets.md is the contract).
//
// A bundle is written into --dir through a directory target of package
// target, the same code a directory target of honuad runs: it is written
// beside the one served, fsynced, and switched in with one rename of a
// symlink; the last --keep bundles are kept. The directory target's state
// file (.<dir>.honua/state.json beside --dir, fsynced before each switch)
// records the highest fencing token accepted, so the agent refuses a lower
// one with 409 across its restarts, and a deposed leader's late PUT never
// switches in.
//
// Requests: PUT /v1/bundle takes a bundle (bearer token, then a body of at
// most --max-bundle-size, then the document's checks: 400 for a document
// that does not decode, whose headers disagree with its manifest, or whose
// paths leave the folder; 409 for a lower fencing token; 507 when the disk
// is full, the served bundle untouched), reloads the Honua server
// (--reload-url or --reload-command; a failed reload is a 502, which
// honuad retries) and answers a Status. GET /v1/bundle answers the Status,
// or, asked for application/vnd.honua.digest+json, exactly the digest
// honuad's drift detection reads. GET /healthz answers the agent's health
// and the Honua server's (--health-url). A missing or unknown token gets
// 401 with a JSON body, before the body is read; nothing is written.
//
// Every request is bounded: its headers in size and time, its body by
// --max-bundle-size and a read timeout, its answer by a write timeout
// past --reload-timeout; at most 256 connections are served at once.
package targetagent
