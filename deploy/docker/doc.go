// Package docker holds no code: its tests check the Dockerfile and the
// compose file beside them. No Docker engine is needed: the Dockerfile is
// read, and its build command run with the local Go toolchain; the compose
// file is read, and its configuration loaded with honuad's own loader, with
// the certificates and gossip key that deploy/README.md's walkthrough makes
// (its honuad commands are run with the local honuad); its two target
// agents' configuration is validated the same way, and honuad.yaml's
// production targets checked against them.
package docker
