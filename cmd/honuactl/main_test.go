package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/api"
)

// TestFlagPlacement: common flags work before the command, after it, and
// after its arguments; a flag beats HONUA_ADDR wherever it is given.
func TestFlagPlacement(t *testing.T) {
	f := newFakeAPI(t)
	dead := deadAddr(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"before", nil, []string{"--addr", f.addr(), "-o", "json", "deployment", "staging-3"}},
		{"after command", nil, []string{"deployment", "--addr", f.addr(), "--output", "json", "staging-3"}},
		{"after argument", nil, []string{"deployment", "staging-3", "--addr=" + f.addr(), "-o", "json"}},
		{"mixed", nil, []string{"-o", "json", "deployment", "staging-3", "--addr", f.addr()}},
		{"env", map[string]string{"HONUA_ADDR": f.addr()}, []string{"deployment", "staging-3", "-o", "json"}},
		{"flag before command beats env", map[string]string{"HONUA_ADDR": dead}, []string{"--addr", f.addr(), "deployment", "-o", "json", "staging-3"}},
		{"flag after command beats env", map[string]string{"HONUA_ADDR": dead}, []string{"deployment", "staging-3", "-o", "json", "--addr", f.addr()}},
		{"after beats before", nil, []string{"--addr", dead, "-o", "table", "deployment", "staging-3", "--addr", f.addr(), "-o", "json"}},
		{"subcommand", nil, []string{"members", "remove", "n3", "-o", "json", "--addr", f.addr()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := invocation{env: tc.env}.run(t, tc.args...)
			wantCode(t, r, exitOK)
			var v map[string]any
			decode(t, r.stdout, &v)
			if len(v) == 0 {
				t.Errorf("empty JSON object:\n%s", r)
			}
		})
	}
	// Command flags after the argument too.
	r := f.ctl(t, "approve", "staging-3", "--comment", "fine by me")
	wantCode(t, r, exitOK)
	if req, _ := f.last("POST", "/v1/deployments/staging-3/approve"); !strings.Contains(req.Body, "fine by me") {
		t.Errorf("approve body = %s; want the comment", req.Body)
	}
	// "--" keeps what follows an argument.
	r = f.ctl(t, "deployment", "--", "-o")
	wantCode(t, r, exitRefused)
}

// TestUsageErrors exit 2 and say what was wrong.
func TestUsageErrors(t *testing.T) {
	f := newFakeAPI(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"deploy"}, `unknown command "deploy"`},
		{"unknown flag", []string{"status", "--bogus"}, "flag provided but not defined: -bogus"},
		{"unknown global flag", []string{"--bogus", "status"}, "flag provided but not defined: -bogus"},
		{"bad output", []string{"status", "-o", "yaml"}, `--output "yaml": must be table or json`},
		{"bad output before", []string{"-o", "yaml", "status"}, `--output "yaml": must be table or json`},
		{"missing argument", []string{"deployment"}, "missing argument <id>"},
		{"extra argument", []string{"diff", "a", "b"}, `unexpected argument "b"`},
		{"missing reason", []string{"reject", "staging-3"}, "--reason is required"},
		{"blank reason", []string{"reject", "staging-3", "--reason", "  "}, "--reason is required"},
		{"abort without reason", []string{"abort", "staging-3"}, "abort: --reason is required"},
		{"rollout without id", []string{"rollout"}, "missing argument <id>"},
		{"bad state", []string{"deployments", "--state", "Done"}, `--state "Done": not a deployment state`},
		{"bad wait state", []string{"wait", "staging-3", "--for", "Done"}, `--for "Done": not a deployment state`},
		{"bad limit", []string{"history", "staging", "--limit", "x"}, "invalid value"},
		{"members subcommand", []string{"members", "drop", "n3"}, `unknown subcommand "drop"`},
		{"completion shell", []string{"completion", "fish"}, "the shells are bash and zsh"},
		{"bad addr", []string{"status", "--addr", "ftp://x"}, "--addr"},
		{"missing token file", []string{"status", "--token-file", "/nonexistent/token"}, "--token-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.ctl(t, tc.args...)
			wantCode(t, r, exitUsage)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr = %q; want it to contain %q", r.stderr, tc.want)
			}
		})
	}
	if rs := f.seen(); len(rs) != 0 {
		t.Errorf("usage errors sent %d requests (first %s %s); want none", len(rs), rs[0].Method, rs[0].Path)
	}
}

// TestHelp exits 0 and lists the commands.
func TestHelp(t *testing.T) {
	r := invocation{}.run(t, "--help")
	wantCode(t, r, exitOK)
	for _, c := range []string{"status", "members", "deployments", "deployment", "diff", "approve", "reject",
		"rollback", "history", "sync", "wait", "version", "completion", "notifications"} {
		wantLines(t, r.stdout, []string{"   " + c + " "})
	}
	r = invocation{}.run(t)
	wantCode(t, r, exitOK)
	r = invocation{}.run(t, "help", "wait")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"honuactl wait", "<id>"}, []string{"--for"}, []string{"--timeout"})
	r = invocation{}.run(t, "status", "-h")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"honuactl status"})
	r = invocation{}.run(t, "rollback", "--help")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"--yes"}, []string{"--to"})
}

// TestToken: the bearer token comes from --token, else HONUA_TOKEN, else
// --token-file (trimmed), and is never printed.
func TestToken(t *testing.T) {
	f := newFakeAPI(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("  file-token\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"none", nil, nil, ""},
		{"flag", nil, []string{"--token", "flag-token"}, "Bearer flag-token"},
		{"flag after command", nil, []string{"status", "--token", " flag-token "}, "Bearer flag-token"},
		{"env", map[string]string{"HONUA_TOKEN": "env-token\n"}, nil, "Bearer env-token"},
		{"file", nil, []string{"--token-file", file}, "Bearer file-token"},
		{"flag beats env", map[string]string{"HONUA_TOKEN": "env-token"}, []string{"--token", "flag-token"}, "Bearer flag-token"},
		{"env beats file", map[string]string{"HONUA_TOKEN": "env-token"}, []string{"--token-file", file}, "Bearer env-token"},
		{"flag beats file", nil, []string{"--token-file", file, "--token", "flag-token"}, "Bearer flag-token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--addr", f.addr()}, tc.args...)
			if len(tc.args) == 0 || tc.args[0] != "status" {
				args = append(args, "status")
			}
			r := invocation{env: tc.env}.run(t, args...)
			wantCode(t, r, exitOK)
			req, ok := f.last("GET", "/v1/status")
			if !ok {
				t.Fatal("no request")
			}
			if req.Auth != tc.want {
				t.Errorf("Authorization = %q; want %q", req.Auth, tc.want)
			}
		})
	}
	t.Run("empty file", func(t *testing.T) {
		r := f.ctl(t, "status", "--token-file", empty)
		wantCode(t, r, exitUsage)
		wantLines(t, r.stderr, []string{"--token-file", "empty"})
	})
	t.Run("refused token is not printed", func(t *testing.T) {
		f.mu.Lock()
		f.token = "the-right-one"
		f.mu.Unlock()
		defer func() { f.mu.Lock(); f.token = ""; f.mu.Unlock() }()
		r := f.ctl(t, "--token", "s3cret-token-value", "deployments")
		wantCode(t, r, exitRefused)
		wantLines(t, r.stderr, []string{"honuactl: unknown token (401 unauthorized)"})
		if strings.Contains(r.stdout+r.stderr, "s3cret") {
			t.Errorf("the token was printed:\n%s", r)
		}
		r = f.ctl(t, "--token", "the-right-one", "deployments")
		wantCode(t, r, exitOK)
	})
}

// TestExitCodes: 0 ok, 1 refused (message and code), 2 usage, 3 no node
// reachable; a dead first address is skipped.
func TestExitCodes(t *testing.T) {
	f := newFakeAPI(t)
	dead := deadAddr(t)

	r := f.ctl(t, "approve", "production-7")
	wantCode(t, r, exitRefused)
	if want := "honuactl: cannot approve deployment production-7: it is Completed, not AwaitingApproval (409 wrong_state)\n"; r.stderr != want {
		t.Errorf("stderr = %q; want %q", r.stderr, want)
	}
	r = f.ctl(t, "deployment", "staging-99")
	wantCode(t, r, exitRefused)
	wantLines(t, r.stderr, []string{"deployment staging-99 is not known", "(404 not_found)"})

	r = invocation{}.run(t, "--addr", dead, "status")
	wantCode(t, r, exitUnreachable)
	wantLines(t, r.stderr, []string{"honuactl: " + api.ErrNoNodeReachable.Error(), dead})

	r = invocation{}.run(t, "--addr", dead+","+deadAddr(t), "deployments")
	wantCode(t, r, exitUnreachable)

	r = invocation{}.run(t, "--addr", dead+","+f.addr(), "status")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Node:", "n1 (Leader)"})

	r = invocation{}.run(t, "--addr", "http://"+dead+", http://"+f.addr(), "approve", "staging-3")
	wantCode(t, r, exitOK)

	r = invocation{env: map[string]string{"HONUA_ADDR": dead + "," + f.addr()}}.run(t, "deployments")
	wantCode(t, r, exitOK)
}

// TestColor: state names are colored only on a terminal, and not with
// --no-color or NO_COLOR.
func TestColor(t *testing.T) {
	f := newFakeAPI(t)
	const green = "\x1b[32mCompleted\x1b[0m"
	r := invocation{terminal: true}.run(t, "--addr", f.addr(), "deployments")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, green) || !strings.Contains(r.stdout, "\x1b[36mAwaitingApproval\x1b[0m") {
		t.Errorf("no colored states on a terminal:\n%q", r.stdout)
	}
	// Colored columns still line up: the column after STATE starts at
	// the same place on every line.
	var cols []int
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		plain := stripANSI(l)
		i := strings.Index(plain, "KIND")
		if i < 0 {
			i = strings.Index(plain, "auto")
		}
		cols = append(cols, i)
	}
	for _, c := range cols[1:] {
		if c != cols[0] {
			t.Errorf("KIND column misaligned with color: %v\n%s", cols, stripANSI(r.stdout))
			break
		}
	}
	for _, inv := range []invocation{
		{terminal: false},
		{terminal: true, env: map[string]string{"NO_COLOR": "1"}},
		{terminal: true, env: map[string]string{"TERM": "dumb"}},
	} {
		r := inv.run(t, "--addr", f.addr(), "deployments")
		if strings.Contains(r.stdout, "\x1b[") {
			t.Errorf("%+v: colored output:\n%q", inv, r.stdout)
		}
	}
	r = invocation{terminal: true}.run(t, "deployments", "--no-color", "--addr", f.addr())
	if strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("--no-color: colored output:\n%q", r.stdout)
	}
}

func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b {
			for i < len(s) && s[i] != 'm' {
				i++
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// TestPermute: flags after a command's arguments move before them.
func TestPermute(t *testing.T) {
	app := newApp(streams{})
	for _, tc := range []struct{ in, want string }{
		{"honuactl status", "honuactl status"},
		{"honuactl -o json status", "honuactl -o json status"},
		{"honuactl deployment x -o json", "honuactl deployment -o json -- x"},
		{"honuactl --addr a deployment x --verbose --addr b", "honuactl --addr a deployment --verbose --addr b -- x"},
		{"honuactl members remove n3 -o json", "honuactl members remove -o json -- n3"},
		{"honuactl rollback prod --yes --to p-3", "honuactl rollback --yes --to p-3 -- prod"},
		{"honuactl deployment -- -x -o json", "honuactl deployment -- -x -o json"},
		{"honuactl deployment x -o --generate-bash-completion", "honuactl deployment x -o --generate-bash-completion"},
		{"honuactl nosuch x -o json", "honuactl nosuch x -o json"},
	} {
		got := strings.Join(permute(app, strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("permute(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// TestConcurrentRuns: two runs in one process share nothing (urfave/cli's
// global help flag is not used), as the cluster test's sync --wait beside
// an approve needs.
func TestConcurrentRuns(t *testing.T) {
	f := newFakeAPI(t)
	f.setEvents(toCompleted...)
	done := make(chan result, 2)
	go func() { done <- f.ctl(t, "wait", "staging-3", "--help") }()
	go func() { done <- f.ctl(t, "deployments", "-h") }()
	for range 2 {
		wantCode(t, <-done, exitOK)
	}
}
