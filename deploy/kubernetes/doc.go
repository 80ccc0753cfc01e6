// Package kubernetes holds no code: its tests check the manifests beside
// them (kustomization.yaml and what it builds) against the Kubernetes API
// types, honuad's own configuration loader and flags, and the metrics a
// live honuad exports.
package kubernetes
