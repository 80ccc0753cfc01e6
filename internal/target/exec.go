package target

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// outputLines is how many of the last lines of a command's output are
// kept, and outputMax how many of their last bytes: the output goes into
// the deployment's record.
const (
	outputLines = 20
	outputMax   = 4 << 10
)

// execTarget runs a command with the bundle in a temporary directory.
type execTarget struct {
	argv []string
	log  *slog.Logger

	mu   sync.Mutex
	last string // the last lines of the last command's output
}

// String implements Target; the arguments are left out.
func (e *execTarget) String() string { return "exec " + e.argv[0] }

// Current returns nil: an exec target cannot tell what it deployed.
func (e *execTarget) Current(context.Context) (*Manifest, error) { return nil, nil }

// LastOutput returns the last lines the last command printed (stdout and
// stderr together), whether it succeeded or not.
func (e *execTarget) LastOutput() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// Apply writes the bundle to a temporary directory, runs the command with
// it and removes the directory. The command's process group is killed when
// ctx ends.
func (e *execTarget) Apply(ctx context.Context, b *Bundle) error {
	out, err := e.run(ctx, b)
	e.mu.Lock()
	e.last = out
	e.mu.Unlock()
	return err
}

// run does Apply's work and returns the last lines of output.
func (e *execTarget) run(ctx context.Context, b *Bundle) (string, error) {
	fail := func(op string, err error) *Error { return &Error{Target: e.String(), Op: op, Err: err} }
	if err := b.Validate(); err != nil {
		return "", fail("validate bundle", err)
	}
	dir, err := os.MkdirTemp("", "honua-bundle-")
	if err != nil {
		return "", fail("write bundle", err)
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			e.log.Error("remove the bundle directory", "dir", dir, "error", err)
		}
	}()
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", fail("write bundle", err)
	}
	if err := writeTree(dir, b, false); err != nil {
		return "", fail("write bundle", err)
	}

	m := b.Manifest
	cmd := exec.CommandContext(ctx, e.argv[0], e.argv[1:]...)
	cmd.Env = append(os.Environ(),
		"HONUA_BUNDLE_DIR="+dir,
		"HONUA_DEPLOYMENT_ID="+m.DeploymentID,
		"HONUA_ENVIRONMENT="+m.Environment,
		"HONUA_COMMIT="+m.Commit,
		"HONUA_FENCING_TOKEN="+strconv.FormatUint(m.FencingToken, 10),
		"HONUA_KIND="+m.Kind,
	)
	var buf tailBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf // one pipe: lines stay in order
	// A child that keeps the output open after the group is killed (it
	// left the group) cannot hold Wait up for longer than this.
	cmd.WaitDelay = 5 * time.Second
	ownProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return "", fail("start", err)
	}
	err = cmd.Wait()
	out := lastLines(buf.String(), outputLines)
	if err == nil {
		e.log.Info("command succeeded", "bundle", m.BundleID())
		return out, nil
	}
	f := fail("run", err)
	f.Output = out
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		f.Err = fmt.Errorf("killed: %w", ctx.Err())
		f.Retryable = true
	case errors.As(err, &exit):
		f.Err = fmt.Errorf("the command failed: %w", err)
	}
	return out, f
}

// tailBuffer keeps the last tailMax bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 64 << 10

// Write implements io.Writer.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailMax {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-tailMax:]...)
	}
	return len(p), nil
}

// String returns what the buffer holds.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// lastLines returns the last n lines of s, without a trailing newline, and
// of those at most the last outputMax bytes, after a "…".
func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := strings.Join(lines, "\n")
	if len(out) > outputMax {
		start := len(out) - outputMax
		for start < len(out) && !utf8.RuneStart(out[start]) {
			start++
		}
		out = "…" + out[start:]
	}
	return out
}
