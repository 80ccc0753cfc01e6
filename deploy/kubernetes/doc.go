// Package kubernetes holds no code: its tests check the manifests beside
// them (kustomization.yaml and what it builds) against the Kubernetes API
// types, honuad's own configuration loader and flags, the certificates and
// gossip key that deploy/README.md's walkthrough makes (its commands are
// run), and a live honuad started as a pod would be: over TLS, with
// encrypted gossip, and the metrics it exports. honua-server/ (a Honua
// server with honuad target-agent as a sidecar) is checked the same way
// against the agent's options and honuad.yaml's http targets.
package kubernetes
