package chaos

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/internal/targetagent"
)

// TestParseServed reads "bundle served" lines as the agent's logger
// writes them (text, the harness's format), and nothing else.
func TestParseServed(t *testing.T) {
	var buf bytes.Buffer
	log := targetagent.NewLogger(targetagent.Config{LogLevel: "debug", LogFormat: "text"}, &buf).With("component", "target-agent")
	log.Info("serving", "url", "http://127.0.0.1:1/v1/bundle")
	log.With("bundle", "app-1-20261203-0007-42", "commit", "3f2a", "fencingToken", uint64(42)).Info("bundle served")
	log.With("bundle", "app-1-20261203-0006-41", "commit", "1b2c", "fencingToken", uint64(41)).Warn("bundle refused", "status", 409)
	log.With("bundle", "app-1-20261203-0008-43", "commit", "9e9e", "fencingToken", uint64(43)).Info("bundle served")
	got, err := parseServed(buf.String())
	if err != nil {
		t.Fatal(err)
	}
	want := []served{{"app-1-20261203-0007", "3f2a", 42}, {"app-1-20261203-0008", "9e9e", 43}}
	if !slices.Equal(got, want) {
		t.Fatalf("parseServed(%q) = %v; want %v", buf.String(), got, want)
	}
	if _, err := parseServed(`msg="bundle served" component=target-agent bundle=app-1-7 commit=3f2a fencingToken=42`); err == nil {
		t.Fatal("parseServed of a bundle id without its token: no error")
	}
}

func TestServedViolations(t *testing.T) {
	a := served{"app-1-1", "c1", 10}
	b := served{"app-1-2", "c2", 20}
	c := served{"app-1-3", "c3", 30}
	for _, tc := range []struct {
		name        string
		log         []served
		deployed    served
		wantRetries int
		want        []string // substrings, one per violation
	}{
		{"increasing", []served{a, b, c}, c, 0, nil},
		{"a retry", []served{a, b, b, c}, c, 1, nil},
		{"down", []served{a, c, b}, b, 0, []string{"the token went down"}},
		{"one token, two bundles", []served{a, b, {"app-1-9", "c9", 20}}, served{"app-1-9", "c9", 20}, 0, []string{"two bundles with one token"}},
		{"last is not deployed", []served{a, b}, c, 0, []string{"the last bundle"}},
		{"none", nil, c, 0, []string{"no bundle served"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, retries := servedViolations("app-1", tc.log, tc.deployed)
			if retries != tc.wantRetries || len(got) != len(tc.want) {
				t.Fatalf("servedViolations(%v) = %q, %d retries; want %d violations %q, %d retries", tc.log, got, retries, len(tc.want), tc.want, tc.wantRetries)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("violation %d = %q; want it to say %q", i, got[i], w)
				}
			}
		})
	}
}
