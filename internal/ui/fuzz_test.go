package ui

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzSafeNext: whatever next a sign-in form is given, the browser is sent
// to a path of the dashboard and nowhere else — no scheme, no host, no
// backslash or control character a browser might read as one, no dot
// segment that leaves /ui/ — and a path of the dashboard given is kept.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/ui/", "/ui/cluster", "/ui/deployments/p-1?done=approved", "//evil.example", "/\\evil",
		"https://evil.example/ui/", "/ui/../v1/status", "/ui/%2e%2e/x", "/ui/%2F%2Fevil", "/ui/\t/", "/ui/?next=//x", "/ui/#frag"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if !strings.HasPrefix(got, "/ui/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\x00\r\n\t") {
			t.Fatalf("safeNext(%q) = %q: not a dashboard path", next, got)
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, "/ui/") || hasDotSegment(u.Path) ||
			strings.Contains(u.Path, "//") {
			t.Fatalf("safeNext(%q) = %q, which parses as %+v (%v)", next, got, u, err)
		}
		for _, c := range got {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("safeNext(%q) = %q has a control character", next, got)
			}
		}
		if again := safeNext(got); again != got {
			t.Fatalf("safeNext(%q) = %q, but safeNext of that is %q", next, got, again)
		}
	})
}
