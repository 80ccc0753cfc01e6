package gitrepo

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// FuzzRedactURL: whatever a URL parser reads as the password of a URL with
// a scheme, once redacted, is "***", or nothing; an http(s) URL keeps no
// user either.
func FuzzRedactURL(f *testing.F) {
	for _, s := range []string{
		"https://user:pa55@git.example.com/c.git", "https://ghp_token123@github.com/o/c.git", "HTTP://u:p@h/c.git",
		"https://u:p@ss@h/c.git", "ssh://git:secret@h/c.git", "ssh://git@h:22/c.git", "git@github.com:o/c.git",
		"/srv/config.git", "https://h/c.git?x=a@b", "fetch \"https://u:p@h/c.git\": failed; retry https://u2:p2@h2/d.git",
		"https://u:p%40x@h/", "git+ssh://u:pw@h/x", "https://:pw@h/", "https://u:@h/", "a://b:c@d@e/f", "https://u:p\x00w@h/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := RedactURL(s)
		u, err := url.Parse(out)
		if err != nil || u.User == nil || u.Scheme == "" {
			return
		}
		if pw, has := u.User.Password(); has && pw != redacted && pw != "" {
			t.Fatalf("RedactURL(%q) = %q, whose password is %q", s, out, pw)
		}
		if strings.HasPrefix(strings.ToLower(u.Scheme), "http") && u.User.Username() != redacted {
			t.Fatalf("RedactURL(%q) = %q keeps the user %q of an http(s) URL (often a token)", s, out, u.User.Username())
		}
	})
}

// FuzzValidateURL checks a repository URL built from fuzzed parts around a
// password that appears nowhere else. Properties: Validate never panics,
// and no error it returns holds the password, as written or as Go quotes
// it, unless a URL parser reads the URL as one without a password (the
// "password" is then part of a host, a path or a fragment).
func FuzzValidateURL(f *testing.F) {
	for _, p := range []struct{ scheme, user, password, rest string }{
		{"https", "u", "hunter2", "h/c.git"},
		{"ssh", "git", "secret", "h:22/c.git"},
		{"http", "", "tok", "127.0.0.1:8080/c.git"},
		{"https", "u", "pa ss", "h/c.git"},
		{"https", "u", "pa/ss", "h/c.git"},
		{"https", "u", "pa#ss", "h/c.git"},
		{"https", "u", "pa\x00ss", "h/c.git"},
		{"https", "u", "pä\xffss", "h/c.git"},
		{"ftp", "u", "word", "h/c.git"},
		{"file", "u", "word", "/x"},
		{"https", "u", "p@ss", "h:99999/c.git"},
	} {
		f.Add(p.scheme, p.user, p.password, p.rest)
	}
	f.Fuzz(func(t *testing.T, scheme, user, password, rest string) {
		password = "Zq7" + password // nothing else holds it
		raw := scheme + "://" + user + ":" + password + "@" + rest
		if strings.Count(raw, "Zq7") != 1 {
			return
		}
		if u, err := url.Parse(raw); err == nil {
			if pw, has := u.User.Password(); !has || pw != password {
				return
			}
		}
		c := Config{URL: raw, Dir: "/d"}
		err := c.Validate()
		if err == nil {
			return
		}
		quoted := strconv.Quote(password)
		for _, form := range []string{password, quoted[1 : len(quoted)-1], url.PathEscape(password), url.QueryEscape(password)} {
			if strings.Contains(err.Error(), form) {
				t.Fatalf("Validate(%q) = %q; it holds the password %q", raw, err, form)
			}
		}
	})
}

// FuzzValidRef: a ref Resolve accepts is a full hash or a branch name that
// cannot act as refspec syntax, leave refs/heads/, or start like an option.
func FuzzValidRef(f *testing.F) {
	for _, s := range []string{"main", "feature/srid", "refs/heads/x", "0123456789012345678901234567890123456789",
		"a:b", "+refs/heads/*", "../x", "-n", "x.lock", "a..b", "a@{1}", "a b", "a\x00", "refs/heads/../x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		if !ValidRef(ref) {
			return
		}
		name := strings.TrimPrefix(ref, "refs/heads/")
		if strings.ContainsAny(name, ":*+^~?[\\ \t\n\x00\x7f") || strings.Contains(name, "..") ||
			strings.HasPrefix(name, "-") || strings.HasPrefix(name, "/") || strings.HasPrefix(name, ".") || name == "" {
			t.Errorf("ValidRef(%q) = true; its branch %q could be refspec syntax or leave refs/heads/", ref, name)
		}
	})
}
