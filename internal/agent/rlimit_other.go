//go:build !unix

package agent

// fileLimit returns the process's limit on open files, unknown here.
func fileLimit() (uint64, bool) { return 0, false }
