// Package gitserver makes configuration repositories with the git CLI and
// serves them for real, for the tests of every package that reads the
// configuration repository (and for chaos tests that take a remote away).
//
// A Repo is a bare repository, which the servers export, plus a work tree
// that commits are made in and pushed from. StartDaemon serves a directory
// of bare repositories over git:// with `git daemon`; StartHTTP serves them
// over smart HTTP with `git http-backend`, optionally behind basic or bearer
// authentication, and records every request so a test can tell from the
// server side what a client did; StartSSH serves them over ssh from an
// in-process server with its own host key, known_hosts file and client key.
// StartBlackhole accepts connections and never answers, for timeout tests.
//
// Everything needs git on PATH; without it a test is skipped with a message
// naming the Debian package to install.
package gitserver
