package walkthrough

import (
	"errors"
	"slices"
	"testing"
)

const page = "# Title\n\n" +
	"## Other\n\n```sh\nnot this\n```\n\n" +
	"## Walk\n\nText.\n\n" +
	"```sh\n" +
	"# a comment\n" +
	"mkdir -p a/b\n" +
	"tool create --dir tls \\\n  --dns 'x.y' \\\n  --dns \"*.z\"\n" +
	"\n" +
	"kubectl create secret generic s --from-literal=k=\"$(bin/tool keygen)\"\n" +
	"tool keygen > a/b/key\n" +
	"```\n\n" +
	"```yaml\nnot: sh\n```\n\n" +
	"## Next\n\n```sh\nnot this either\n```\n"

func TestCommands(t *testing.T) {
	got, err := Commands([]byte(page), "Walk")
	if err != nil {
		t.Fatal(err)
	}
	want := []Command{
		{Args: []string{"mkdir", "-p", "a/b"}, Line: 15},
		{Args: []string{"tool", "create", "--dir", "tls", "--dns", "x.y", "--dns", "*.z"}, Line: 16},
		{Args: []string{"kubectl", "create", "secret", "generic", "s", "--from-literal=k=$(bin/tool keygen)"}, Line: 20},
		{Args: []string{"tool", "keygen"}, Stdout: "a/b/key", Line: 21},
	}
	if len(got) != len(want) {
		t.Fatalf("Commands = %q; want %q", got, want)
	}
	for i := range want {
		if !slices.Equal(got[i].Args, want[i].Args) || got[i].Stdout != want[i].Stdout || got[i].Line != want[i].Line {
			t.Errorf("command %d = %q > %q (line %d); want %q > %q (line %d)",
				i, got[i].Args, got[i].Stdout, got[i].Line, want[i].Args, want[i].Stdout, want[i].Line)
		}
	}
	if f := got[1].Flag("--dns"); !slices.Equal(f, []string{"x.y", "*.z"}) {
		t.Errorf("Flag(--dns) = %q; want [x.y *.z]", f)
	}
	if f := got[2].Flag("--from-literal"); !slices.Equal(f, []string{"k=$(bin/tool keygen)"}) {
		t.Errorf("Flag(--from-literal) = %q", f)
	}
	if !got[1].HasPrefix("tool", "create") || got[1].HasPrefix("tool", "keygen") {
		t.Errorf("HasPrefix misjudges %q", got[1].Args)
	}
}

func TestCommandsRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, page, heading string
	}{
		{"no section", page, "Missing"},
		{"unterminated quote", "## W\n```sh\necho 'a\n```\n", "W"},
		{"continued at the end", "## W\n```sh\necho a \\\n```\n", "W"},
		{"redirect without file", "## W\n```sh\necho a >\n```\n", "W"},
	} {
		if _, err := Commands([]byte(tc.page), tc.heading); err == nil {
			t.Errorf("%s: Commands = nil error; want one", tc.name)
		}
	}
	if _, err := Commands([]byte(page), "Missing"); !errors.Is(err, ErrNoSection) {
		t.Errorf("Commands(missing section) = %v; want ErrNoSection", err)
	}
}
