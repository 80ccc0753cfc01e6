package gitserver

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts a server in its own process group, so that stopping it
// also stops the upload-pack children it forked, and has the kernel kill it
// if the test process dies without running its cleanups.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup kills the server and every process of its group.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
