package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/configrepo"
	"github.com/honua-io/honua-gitops/internal/plan"
)

// nasty is server text that would set the terminal's window title and
// clear its screen if printed raw, then move the cursor to the line's
// start, erase a character, and reverse the rest of the line (a C1 CSI and
// a bidi override).
const nasty = "\x1b]0;pwned\x07\x1b[2J\r\b\x7f\u009b\u202e"

// nastyShown is nasty as honuactl prints it.
const nastyShown = `\x1b]0;pwned\x07\x1b[2J\r\x08\x7f\u009b\u202e`

func TestEscape(t *testing.T) {
	for _, tc := range []struct {
		name, in, text, cell string
	}{
		{"plain", "deployed and healthy", "deployed and healthy", "deployed and healthy"},
		{"unicode", "staging-3 → Completed, naïve 日本 ✓", "staging-3 → Completed, naïve 日本 ✓", "staging-3 → Completed, naïve 日本 ✓"},
		{"window title and clear screen", "\x1b]0;pwned\x07\x1b[2J", `\x1b]0;pwned\x07\x1b[2J`, `\x1b]0;pwned\x07\x1b[2J`},
		{"cursor moves", "a\rb\bc\x7fd", `a\rb\x08c\x7fd`, `a\rb\x08c\x7fd`},
		{"C1 controls", "\u0080x\u009by\u009f", `\u0080x\u009by\u009f`, `\u0080x\u009by\u009f`},
		{"bidi overrides", "\u202aa\u202eb\u2066c\u2069", `\u202aa\u202eb\u2066c\u2069`, `\u202aa\u202eb\u2066c\u2069`},
		{"neighbours of bidi overrides kept", "\u2029\u202f\u2065\u206a", "\u2029\u202f\u2065\u206a", "\u2029\u202f\u2065\u206a"},
		{"invalid UTF-8 (8-bit CSI)", "a\x9b2Jb\xff", `a\x9b2Jb\xff`, `a\x9b2Jb\xff`},
		{"layout", "line 1\n\tline 2", "line 1\n\tline 2", `line 1\n\tline 2`},
		{"backslashes kept", `C:\honua\x1b`, `C:\honua\x1b`, `C:\honua\x1b`},
		{"empty", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := escapeText(tc.in); got != tc.text {
				t.Errorf("escapeText(%q) = %q; want %q", tc.in, got, tc.text)
			}
			if got := escapeCell(tc.in); got != tc.cell {
				t.Errorf("escapeCell(%q) = %q; want %q", tc.in, got, tc.cell)
			}
		})
	}
}

// colors matches the color sequences honuactl writes itself.
var colors = regexp.MustCompile(`\x1b\[(0|3[0-7]|90)m`)

// rawControl returns the first character of out a terminal acts on
// (besides a newline): a C0 or C1 control, DEL, a bidi override, or a byte
// that is not UTF-8.
func rawControl(out string) (rune, int, bool) {
	for i, r := range out {
		_, size := utf8.DecodeRuneInString(out[i:])
		if r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r <= 0x9f ||
			r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == utf8.RuneError && size == 1 {
			return r, i, true
		}
	}
	return 0, 0, false
}

// wantEscaped fails the test unless out holds no control character a
// terminal acts on and shows nasty escaped.
func wantEscaped(t *testing.T, what, out string) {
	t.Helper()
	if r, i, ok := rawControl(out); ok {
		t.Errorf("%s: printed %U raw at byte %d:\n%q", what, r, i, out)
	}
	if !strings.Contains(out, nastyShown) {
		t.Errorf("%s: does not show %s:\n%s", what, nastyShown, out)
	}
}

// makeNasty puts nasty into every kind of text the server sends about
// staging-3 (comments, reasons, messages, errors, identities, plan and
// validation text) and into the status.
func makeNasty(t *testing.T, f *fakeAPI) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.deployments["staging-3"]
	d.Initiator = "mallory\nstaging-9  Completed" + nasty
	d.Error = "boom" + nasty
	d.Approvals[0].Comment = "looks right" + nasty
	d.Approvals[0].Identity = "alice" + nasty
	d.Rejection = &api.Rejection{Identity: "eve" + nasty, Time: testNow, Reason: "no" + nasty}
	d.Transitions[len(d.Transitions)-1].Message = "needs 2 approvals" + nasty
	var doc plan.Document
	if err := json.Unmarshal(d.Plan, &doc); err != nil {
		t.Fatal(err)
	}
	doc.Note = "note" + nasty
	doc.Changes[0].Path = "layers/roads" + nasty
	doc.Changes[1].Diff[1].Reason = "title" + nasty
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	d.Plan = b
	if d.Validation, err = json.Marshal(configrepo.NewReport([]configrepo.Problem{{File: "metadata.json", Message: "bad" + nasty}})); err != nil {
		t.Fatal(err)
	}
	for i := range f.notifications {
		f.notifications[i].Channel += nasty
		f.notifications[i].LastError = "refused" + nasty
	}
	f.editStatus = func(st *api.Status) {
		st.Repository.URL += nasty
		st.Repository.Error, st.Repository.ErrorSince = "poll"+nasty, testNow
		st.Members[2].ID += nasty
	}
}

// TestServerTextEscaped: text from the server reaches the terminal with
// its control characters escaped, in tables, text and errors, while JSON
// output keeps it exactly.
func TestServerTextEscaped(t *testing.T) {
	f := newFakeAPI(t)
	makeNasty(t, f)
	f.setEvents(ev(95, "staging-3", api.KindAuto, api.StateAwaitingApproval, api.StateFailed, "failed"+nasty))

	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"deployment", "staging-3", "-v"}, exitOK},
		{[]string{"diff", "staging-3"}, exitOK},
		{[]string{"deployments"}, exitOK},
		{[]string{"history", "staging", "-v"}, exitOK},
		{[]string{"status"}, exitOK},
		{[]string{"members"}, exitOK},
		{[]string{"notifications"}, exitOK},
		{[]string{"notifications", "retry", "staging-3.ApprovalRequired.approvers-mail"}, exitOK},
		{[]string{"notifications", "retry", "x" + nasty}, exitRefused},
		{[]string{"reject", "staging-3", "--reason", "no" + nasty}, exitOK},
		// The failing transition's message is printed as it happens, and
		// in the error on stderr.
		{[]string{"wait", "staging-3", "--for", "Completed"}, exitRefused},
		// The server's error message names the deployment asked for.
		{[]string{"deployment", "x" + nasty}, exitRefused},
		{[]string{"members", "remove", "x" + nasty}, exitRefused},
	} {
		r := f.ctl(t, tc.args...)
		wantCode(t, r, tc.code)
		wantEscaped(t, tc.args[0], r.stdout+r.stderr)
	}

	// A newline in a cell does not break the table: a header and five
	// deployments, five lines.
	r := f.ctl(t, "deployments")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 6 {
		t.Errorf("deployments: %d lines; want 6:\n%s", len(lines), r.stdout)
	}
	wantLines(t, r.stdout, []string{"staging-3", `mallory\nstaging-9  Completed` + nastyShown})

	// Nor in the notifications' table: a header and four.
	r = f.ctl(t, "notifications")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 5 {
		t.Errorf("notifications: %d lines; want 5:\n%s", len(lines), r.stdout)
	}

	// On a terminal, states are still colored; nothing else is.
	r = invocation{terminal: true}.run(t, "--addr", f.addr(), "deployment", "staging-3")
	wantCode(t, r, exitOK)
	if !strings.Contains(r.stdout, "\x1b[36mAwaitingApproval\x1b[0m") {
		t.Errorf("no colored state on a terminal:\n%q", r.stdout)
	}
	wantEscaped(t, "deployment on a terminal", colors.ReplaceAllString(r.stdout, ""))

	// JSON keeps the server's text exactly, with JSON's escapes for what
	// a terminal acts on.
	r = f.ctl(t, "deployment", "staging-3", "-o", "json")
	wantCode(t, r, exitOK)
	if r, i, ok := rawControl(r.stdout); ok {
		t.Errorf("JSON: printed %U raw at byte %d", r, i)
	}
	var d api.Deployment
	decode(t, r.stdout, &d)
	if d.Approvals[0].Comment != "looks right"+nasty || d.Error != "boom"+nasty {
		t.Errorf("JSON comment %q, error %q; want the server's text exactly", d.Approvals[0].Comment, d.Error)
	}
}
