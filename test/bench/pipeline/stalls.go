package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/test/gitserver"
)

// stallGap is the silence between two consecutive pkt-lines that counts as
// a stall. On loopback, git answers a small request within a millisecond or
// two; a 40ms silence is a delayed ACK holding back a packet that Nagle's
// algorithm kept waiting (git does not set TCP_NODELAY on git:// sockets,
// and both git and upload-pack write a message in several small writes).
const stallGap = 35 * time.Millisecond

// stalls describes the waits of one traced git run.
type stalls struct {
	count int
	total time.Duration
}

func (s stalls) String() string {
	return fmt.Sprintf("%d wait(s) of %v or more between pkt-lines, %s in all", s.count, stallGap, ms(s.total))
}

// traceStalls runs git once with GIT_TRACE_PACKET and adds up the gaps of
// stallGap or more between consecutive packets of its exchange with the
// server. The run is not timed: tracing slows git down.
func traceStalls(dir string, args ...string) (stalls, error) {
	f, err := os.CreateTemp("", "git-trace-")
	if err != nil {
		return stalls{}, err
	}
	path := f.Name()
	f.Close()
	defer os.Remove(path)
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(gitserver.GitEnviron(), "GIT_TRACE_PACKET="+filepath.ToSlash(path))
	if out, err := cmd.CombinedOutput(); err != nil {
		return stalls{}, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
	}
	trace, err := os.ReadFile(path)
	if err != nil {
		return stalls{}, err
	}
	var s stalls
	var prev time.Time
	for line := range strings.Lines(string(trace)) {
		stamp, _, ok := strings.Cut(line, " ")
		if !ok || !strings.Contains(line, "packet:") {
			continue
		}
		t, err := time.Parse("15:04:05.000000", stamp)
		if err != nil {
			continue
		}
		if gap := t.Sub(prev); !prev.IsZero() && gap >= stallGap {
			s.count++
			s.total += gap
		}
		prev = t
	}
	return s, nil
}
