//go:build !linux

package gitserver

import "os/exec"

// setProcAttr leaves the process attributes alone off Linux.
func setProcAttr(cmd *exec.Cmd) {}

// killGroup kills the server process; off Linux its children may outlive it.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}
