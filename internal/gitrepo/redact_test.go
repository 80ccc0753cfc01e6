package gitrepo

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://user:pa55@git.example.com/c.git", "https://***@git.example.com/c.git"},
		{"https://ghp_token123@github.com/o/c.git", "https://***@github.com/o/c.git"},
		{"HTTP://u:p@h/c.git", "HTTP://***@h/c.git"},
		{"https://u:p@ss@h/c.git", "https://***@h/c.git"},
		{"ssh://git@h:22/c.git", "ssh://git@h:22/c.git"},
		{"ssh://git:secret@h/c.git", "ssh://git:***@h/c.git"},
		{"git://127.0.0.1:9418/config.git", "git://127.0.0.1:9418/config.git"},
		{"git@github.com:o/c.git", "git@github.com:o/c.git"},
		{"/srv/config.git", "/srv/config.git"},
		{"https://h/c.git?x=a@b", "https://h/c.git?x=a@b"},
		{`fetch "https://u:p@h/c.git": failed; retry https://u2:p2@h2/d.git`, `fetch "https://***@h/c.git": failed; retry https://***@h2/d.git`},
	} {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactSecrets(t *testing.T) {
	const token = "s3cr3t/t0ken+x"
	t.Setenv("HONUA_TEST_TOKEN", token)
	r := open(t, "https://h/c.git", func(c *Config) { c.Auth = Auth{TokenEnv: "HONUA_TEST_TOKEN"} })
	for _, form := range []string{token, url.QueryEscape(token), url.PathEscape(token), base64.StdEncoding.EncodeToString([]byte(token))} {
		in := "server said: bad credentials " + form + " at https://me:" + form + "@h/c.git"
		got := r.Redact(in)
		if strings.Contains(got, form) {
			t.Fatalf("Redact(%q) = %q; the secret is still there", in, got)
		}
		if !strings.Contains(got, "server said: bad credentials ***") {
			t.Fatalf("Redact(%q) = %q; want the rest kept", in, got)
		}
	}

	// A password read from a file, and its basic-auth header form.
	r = open(t, "https://h/c.git", func(c *Config) { c.Auth = Auth{Username: "bob", PasswordFile: writeSecret(t, "hunter2")} })
	header := base64.StdEncoding.EncodeToString([]byte("bob:hunter2"))
	if got := r.Redact("password hunter2, header Basic " + header); strings.Contains(got, "hunter2") || strings.Contains(got, header) {
		t.Fatalf("Redact kept a secret: %q", got)
	}
}

// TestErrorsAreRedactedAndKeepSentinels checks the wrapping every error of
// the package goes through: the message is redacted, the sentinels stay
// reachable, and no unwrapped error carries the secret.
func TestErrorsAreRedactedAndKeepSentinels(t *testing.T) {
	r := open(t, "https://h/c.git", func(c *Config) { c.Auth = Auth{Username: "bob", PasswordFile: writeSecret(t, "hunter2")} })
	cause := fmt.Errorf("request https://bob:hunter2@h/c.git with hunter2: %w", transport.ErrAuthenticationRequired)
	err := r.wrap("fetch "+r.URL(), cause)
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("wrapped error carries the password: %q", err)
	}
	if !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Fatalf("errors.Is(%v, ErrAuthenticationRequired) = false", err)
	}
	if errors.Is(err, transport.ErrRepositoryNotFound) {
		t.Fatal("the wrapped error claims ErrRepositoryNotFound")
	}
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if strings.Contains(e.Error(), "hunter2") {
			t.Fatalf("an error in the chain carries the password: %q", e)
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
}
