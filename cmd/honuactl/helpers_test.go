package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// result is what one run of honuactl printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// invocation runs honuactl in-process with a controlled environment.
type invocation struct {
	env      map[string]string
	stdin    string
	terminal bool // both stdin and stdout are terminals
	// clock is the time of relative times; nil is testNow.
	clock func() time.Time
}

func (inv invocation) run(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	clock := inv.clock
	if clock == nil {
		clock = func() time.Time { return testNow }
	}
	code := runWith(context.Background(), append([]string{"honuactl"}, args...), streams{
		stdin: strings.NewReader(inv.stdin), stdout: &stdout, stderr: &stderr,
		stdinTerminal: inv.terminal, stdoutTerminal: inv.terminal,
		getenv: func(k string) string { return inv.env[k] },
		now:    clock, pollEvery: 10 * time.Millisecond,
	})
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// ctl runs honuactl against the fake, its address given first.
func (f *fakeAPI) ctl(t *testing.T, args ...string) result {
	t.Helper()
	return invocation{}.run(t, append([]string{"--addr", f.addr()}, args...)...)
}

// deadAddr returns an address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// wantCode fails the test unless r exited with code.
func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d; want %d\n%s", r.code, code, r)
	}
}

// wantLines checks that out has, for each want, a line containing all of
// its parts (in any order).
func wantLines(t *testing.T, out string, wants ...[]string) {
	t.Helper()
	lines := strings.Split(out, "\n")
next:
	for _, parts := range wants {
		for _, l := range lines {
			all := true
			for _, p := range parts {
				if !strings.Contains(l, p) {
					all = false
					break
				}
			}
			if all {
				continue next
			}
		}
		t.Errorf("no line contains all of %q in:\n%s", parts, out)
	}
}

// decode decodes JSON output into v, failing the test if it is not JSON.
func decode(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("output is not JSON of %T: %v\n%s", v, err, out)
	}
}
