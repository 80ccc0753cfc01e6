// Package harness runs real honuad processes for end-to-end, chaos and
// benchmark programs: it builds the binary once, gives each node its own
// ports, data dir and log files, and polls the nodes' HTTP API until the
// cluster reaches the state a test waits for.
//
// Node and Cluster methods without an error result report harness
// failures (a process that cannot be started or signalled) with Fatalf, so
// call them from the test's goroutine. Stop, Wait and the Wait* methods
// return errors instead: what they wait for is the product's behaviour.
package harness

// TB is the part of testing.TB the harness uses. A *testing.T or *testing.B
// is one; a command such as the failover benchmark hands in an adapter.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
	Failed() bool
}
