package harness

import "syscall"

// sysProcAttr makes the kernel kill a node when the test process dies
// without running its cleanups (a go test timeout, say), so no honuad
// outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
