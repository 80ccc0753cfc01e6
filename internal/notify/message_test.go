package notify

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// events are every event this package colours, with the colour it must use.
var events = map[string]string{
	"DeploymentCreated":   "#1f6feb",
	"DeploymentStarted":   "#1f6feb",
	"DeploymentScheduled": "#1f6feb",
	"ApprovalRequired":    "#d29922",
	"RolledBack":          "#d29922",
	"Approved":            "#2da44e",
	"DeploymentCompleted": "#2da44e",
	"Rejected":            "#cf222e",
	"DeploymentFailed":    "#cf222e",
	"RollbackFailed":      "#cf222e",
}

// testMessage is a full Message for event.
func testMessage(event string) Message {
	return Message{
		ID:           "n-" + event + "-d-42",
		Event:        event,
		DeploymentID: "d-42",
		Environment:  "production",
		Commit:       "9fceb02d0ae598e95dc970b74767f19372d61af8",
		Subject:      "Raise the tile cache to 2 GiB",
		State:        "AwaitingApproval",
		Risk:         "high",
		Plan:         PlanSummary{Added: 3, Modified: 1, Removed: 2, Breaking: true},
		Actor:        "alice",
		Reason:       "needs a maintenance window",
		URL:          "https://gitops.example.com/deployments/d-42",
		Time:         time.Date(2026, 12, 3, 4, 5, 6, 0, time.UTC),
	}
}

func TestCut(t *testing.T) {
	long := strings.Repeat("é", MaxReason) // 2 bytes each
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"short", "abc", 5, "abc"},
		{"exact", "abcde", 5, "abcde"},
		{"long", "abcdefgh", 6, "abc…"},
		{"rune boundary", "ééé", 5, "é…"}, // 6 bytes; room for 2 before the 3-byte ellipsis
		{"split rune", "aééé", 5, "a…"},   // 5-3=2 bytes would split the first é
		{"invalid utf8", "a\xffb", 10, "a\uFFFDb"},
	}
	for _, tt := range tests {
		if got := cut(tt.in, tt.max); got != tt.want {
			t.Errorf("%s: cut(%q, %d) = %q; want %q", tt.name, tt.in, tt.max, got, tt.want)
		}
	}
	got := cut(long, MaxReason)
	if len(got) > MaxReason || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("cut(%d bytes of é) = %d bytes, valid %v; want at most %d valid bytes ending in …",
			len(long), len(got), utf8.ValidString(got), MaxReason)
	}
}

func TestIsPermanent(t *testing.T) {
	base := errors.New("refused")
	if IsPermanent(base) || IsPermanent(nil) {
		t.Error("IsPermanent of a plain error or nil = true; want false")
	}
	p := fmt.Errorf("send: %w", permanent(base))
	if !IsPermanent(p) {
		t.Error("IsPermanent(wrapped permanent) = false; want true")
	}
	if !errors.Is(p, base) {
		t.Error("a permanent error hides its cause from errors.Is")
	}
}

func TestDefaultTemplatesRender(t *testing.T) {
	m := testMessage("Rejected")
	m.Reason = strings.Repeat("r", 3*MaxReason)
	m.Subject = "Fix <b>bold</b> & \"quotes\""
	subject, text, html, err := render(defaultSubject, defaultText, defaultHTML, bounded(m))
	if err != nil {
		t.Fatal(err)
	}
	if want := "[Honua GitOps] Rejected - production - d-42"; subject != want {
		t.Errorf("subject = %q; want %q", subject, want)
	}
	for _, want := range []string{"d-42", "production", "9fceb02 Fix <b>bold</b>", "high", "3 added, 1 modified, 2 removed, breaking",
		"alice", m.URL, "notification " + m.ID, "AwaitingApproval"} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(html, "<b>bold</b>") || !strings.Contains(html, "&lt;b&gt;bold&lt;/b&gt;") {
		t.Errorf("html part does not escape the commit subject:\n%s", html)
	}
	if !strings.Contains(html, `href="`+m.URL+`"`) {
		t.Errorf("html part lacks the link to %s", m.URL)
	}
	for name, part := range map[string]string{"text": text, "html": html} {
		if n := strings.Count(part, "r"); n < MaxReason-10 || strings.Contains(part, strings.Repeat("r", MaxReason+1)) {
			t.Errorf("%s part: reason not cut to %d bytes (%d r's)", name, MaxReason, n)
		}
	}
}

func TestLoadTemplates(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	subj := write("subject.tmpl", "{{.Environment}}: {{.Event}}")
	text := write("text.tmpl", "line one\nline two\n{{.Reason}}\n")
	html := write("html.tmpl", "<p>{{.Reason}}</p>")
	s, tx, h, err := LoadTemplates(subj, text, html)
	if err != nil {
		t.Fatal(err)
	}
	gotS, gotT, gotH, err := render(s, tx, h, Message{Event: "Rejected", Environment: "prod", Reason: "<no>"})
	if err != nil {
		t.Fatal(err)
	}
	if gotS != "prod: Rejected" || gotT != "line one\nline two\n<no>\n" || gotH != "<p>&lt;no&gt;</p>" {
		t.Errorf("rendered %q, %q, %q", gotS, gotT, gotH)
	}

	// An empty file name keeps the default.
	s, tx, h, err = LoadTemplates("", "", "")
	if err != nil || s != defaultSubject || tx != defaultText || h != defaultHTML {
		t.Errorf("LoadTemplates(\"\", \"\", \"\") = %v, %v, %v, %v; want the defaults", s, tx, h, err)
	}

	bad := []struct {
		name       string
		subj, text string
		html       string
		wantInErr  []string
	}{
		{"parse error", "", write("bad.tmpl", "ok\nok\n{{.Event | nosuch}}\nok\n"), "", []string{"bad.tmpl:3", `"nosuch" not defined`}},
		{"html parse error", "", "", write("bad.html", "<p>\n{{.Event</p>"), []string{"bad.html:2"}},
		{"unknown field", write("field.tmpl", "\n{{.Nope}}"), "", "", []string{"field.tmpl:2", "Nope"}},
		{"missing file", filepath.Join(dir, "absent.tmpl"), "", "", []string{"absent.tmpl", "no such file"}},
	}
	for _, tt := range bad {
		_, _, _, err := LoadTemplates(tt.subj, tt.text, tt.html)
		if err == nil {
			t.Errorf("%s: LoadTemplates succeeded; want an error", tt.name)
			continue
		}
		for _, w := range tt.wantInErr {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tt.name, err, w)
			}
		}
	}
}

func TestOneLine(t *testing.T) {
	in := "a\r\nBcc: evil@example.com\rb\x00c\u2028d"
	if got, want := oneLine(in), "a Bcc: evil@example.com b c d"; got != want {
		t.Errorf("oneLine(%q) = %q; want %q", in, got, want)
	}
}
