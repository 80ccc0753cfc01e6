//go:build unix

package target

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "notify-honua")
	if err := os.WriteFile(name, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestExecApply(t *testing.T) {
	t.Setenv("HONUA_TEST_PARENT", "inherited")
	prog := script(t, `set -e
test -f "$HONUA_BUNDLE_DIR/metadata.json" || { echo "no metadata.json" >&2; exit 1; }
test -f "$HONUA_BUNDLE_DIR/layers/roads.json" || { echo "no layers/roads.json" >&2; exit 1; }
grep -q '"fencingToken": 42' "$HONUA_BUNDLE_DIR/.honua/deployment.json" || { echo "bad manifest" >&2; exit 1; }
echo "args=$*"
echo "dir=$HONUA_BUNDLE_DIR"
echo "id=$HONUA_DEPLOYMENT_ID env=$HONUA_ENVIRONMENT commit=$HONUA_COMMIT token=$HONUA_FENCING_TOKEN kind=$HONUA_KIND"
echo "parent=$HONUA_TEST_PARENT"
echo "to stderr" >&2
`)
	tg := newTarget(t, Config{Type: "exec", Command: []string{prog, "--env", "production"}})
	if want := "exec " + prog; tg.String() != want {
		t.Errorf("String() = %q; want %q", tg.String(), want)
	}
	b := testBundle("production-9", 42)
	mustApply(t, tg, b)

	out := tg.(interface{ LastOutput() string }).LastOutput()
	for _, want := range []string{
		"args=--env production",
		"id=production-9 env=production commit=c0ffee0042 token=42 kind=auto",
		"parent=inherited",
		"to stderr",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	_, dir, _ := strings.Cut(out, "dir=")
	dir, _, _ = strings.Cut(dir, "\n")
	if dir == "" {
		t.Fatalf("no bundle dir in the output:\n%s", out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("bundle dir %s is still there after the command: %v", dir, err)
	}
	if m, err := tg.Current(context.Background()); m != nil || err != nil {
		t.Errorf("Current() = %v, %v; want nil, nil", m, err)
	}
}

func TestExecFailure(t *testing.T) {
	prog := script(t, `for i in $(seq 1 30); do echo "line $i"; done
echo "line 31 on stderr" >&2
exit 3
`)
	tg := newTarget(t, Config{Type: "exec", Command: []string{prog}})
	err := tg.Apply(context.Background(), testBundle("production-1", 1))
	if err == nil {
		t.Fatal("Apply = nil; want the exit status")
	}
	e := asError(t, err)
	if e.Op != "run" || e.Retryable || !strings.Contains(err.Error(), "exit status 3") || !strings.HasPrefix(err.Error(), "exec "+prog+": ") {
		t.Errorf("error = %v (op %q, retryable %v); want a run error naming %s with exit status 3", err, e.Op, e.Retryable, prog)
	}
	var want []string
	for i := 12; i <= 30; i++ {
		want = append(want, fmt.Sprintf("line %d", i))
	}
	want = append(want, "line 31 on stderr")
	if e.Output != strings.Join(want, "\n") {
		t.Errorf("Output = %q; want the last 20 lines, 12 to 31", e.Output)
	}
	if !strings.HasSuffix(err.Error(), "last output:\n"+e.Output) {
		t.Errorf("error does not end with the output: %q", err)
	}
	if got := tg.(interface{ LastOutput() string }).LastOutput(); got != e.Output {
		t.Errorf("LastOutput() = %q; want %q", got, e.Output)
	}
}

func TestExecMissingCommand(t *testing.T) {
	tests := []struct {
		name    string
		argv    []string
		wantErr string
	}{
		{"absolute", []string{"/usr/local/bin/honua-no-such-notifier", "--env", "x"}, "/usr/local/bin/honua-no-such-notifier: no such file or directory"},
		{"on PATH", []string{"honua-no-such-notifier"}, `"honua-no-such-notifier": executable file not found in $PATH`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget(t, Config{Type: "exec", Command: tt.argv})
			err := tg.Apply(context.Background(), testBundle("production-1", 1))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "exec "+tt.argv[0]+": start: ") {
				t.Fatalf("Apply = %v; want a start error containing %q", err, tt.wantErr)
			}
		})
	}
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !os.IsNotExist(err) // no /proc: trust kill
	}
	// pid (comm) state ...: the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestExecCancelKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile, childFile := filepath.Join(dir, "pid"), filepath.Join(dir, "child")
	// "started" is in the output pipe before the test can see a pid file
	// and cancel.
	prog := script(t, fmt.Sprintf(`echo started
sleep 60 &
echo $! > %[2]s.tmp && mv %[2]s.tmp %[2]s
echo $$ > %[1]s.tmp && mv %[1]s.tmp %[1]s
exec sleep 60
`, pidFile, childFile))
	tg := newTarget(t, Config{Type: "exec", Command: []string{prog}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tg.Apply(ctx, testBundle("production-1", 1)) }()

	readPID := func(name string) int {
		var pid int
		waitUntil(t, 10*time.Second, "the script to write "+name, func() bool {
			data, err := os.ReadFile(name)
			if err != nil {
				return false
			}
			pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
			return err == nil
		})
		return pid
	}
	pid, child := readPID(pidFile), readPID(childFile)
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Apply did not return after its context was canceled")
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Apply = %v; want it killed by the canceled context", err)
	}
	if e := asError(t, err); !strings.Contains(e.Output, "started") {
		t.Errorf("Output = %q; want what the script printed", e.Output)
	}
	for _, p := range []int{pid, child} {
		waitUntil(t, 10*time.Second, fmt.Sprintf("process %d to die", p), func() bool { return !alive(p) })
	}
}

func TestLastLines(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"", 20, ""},
		{"\n\n", 20, ""},
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 5, "a\nb\nc"},
		{"a\n\nb\n", 2, "\nb"},
		// Long lines: the last outputMax bytes, whole characters, marked.
		{strings.Repeat("x", 3*outputMax) + "\nlast words", 20, "…" + strings.Repeat("x", outputMax-len("\nlast words")) + "\nlast words"},
		{"é" + strings.Repeat("y", outputMax-1), 20, "…" + strings.Repeat("y", outputMax-1)},
	}
	for _, tt := range tests {
		if got := lastLines(tt.in, tt.n); got != tt.want {
			t.Errorf("lastLines(%q, %d) = %q; want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	var b tailBuffer
	line := strings.Repeat("z", 1023) + "\n"
	for range 300 { // 300 KiB
		fmt.Fprint(&b, line)
	}
	fmt.Fprint(&b, "the end\n")
	s := b.String()
	if len(s) > 2*tailMax || !strings.HasSuffix(s, line+"the end\n") {
		t.Errorf("tail buffer holds %d bytes ending %q", len(s), s[max(0, len(s)-20):])
	}
}
