// Package gitrepo owns access to the configuration repository with go-git:
// it asks the remote for the branch head (the ls-remote step), fetches the
// branch incrementally into a local bare clone in the data directory, reads
// a commit's files as an fs.FS, and tells which paths changed between two
// commits by comparing tree and blob hashes.
//
// Credentials are read from environment variables or files (never the
// command line), re-read on every remote call so that a rotated token is
// picked up, and never appear in a log line or an error: every error the
// package returns names its operation and URL and has been through Redact.
// go-git's sentinel errors (transport.ErrRepositoryNotFound,
// transport.ErrAuthenticationRequired, context.DeadlineExceeded...) stay
// reachable with errors.Is; the rest of the underlying chain does not, so
// that unwrapping cannot reveal a secret.
//
// Every remote call runs under Config.Timeout. A Repo is safe for
// concurrent use; reads of the local clone wait for a Fetch in progress.
package gitrepo
