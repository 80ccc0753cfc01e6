package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// ctlTimeout bounds one honuactl run: its own --timeout of a wait, plus
// room to start and print.
const ctlTimeout = waitTimeout + 30*time.Second

// ctlResult is how one honuactl run ended.
type ctlResult struct {
	args           []string
	code           int
	stdout, stderr string
}

func (r ctlResult) String() string {
	return fmt.Sprintf("honuactl %s: exit %d\nstdout:\n%s\nstderr:\n%s",
		strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// runHonuactl runs the honuactl binary with args and extra NAME=value
// environment variables, in an environment without the test's HONUA_*
// settings, until it exits (it is killed after ctlTimeout).
func runHonuactl(t *testing.T, bin string, env []string, args ...string) ctlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ctlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "NO_COLOR=1"}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("honuactl %q did not exit within %v; stderr:\n%s", args, ctlTimeout, &stderr)
	case err != nil && !errors.As(err, &exit):
		t.Fatalf("run honuactl %q: %v", args, err)
	}
	return ctlResult{args: args, code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}
