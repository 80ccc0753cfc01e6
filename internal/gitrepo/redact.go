package gitrepo

import (
	"context"
	"encoding/base64"
	"errors"
	"io/fs"
	"net"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/crypto/ssh/knownhosts"
)

// redacted replaces a credential.
const redacted = "***"

// urlUserinfo matches the userinfo of a URL with a scheme. The userinfo
// runs to the last "@" before the path, so a password holding "@" is
// covered too.
var urlUserinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.\-]*://)([^/?#\s]*)@`)

// RedactURL returns u with its credentials removed: the whole userinfo of
// an http(s) URL (a token is often sent as the user), and the password of
// any other URL. A URL without credentials is returned unchanged.
func RedactURL(u string) string { return redactURLsIn(u) }

// redactURLsIn applies RedactURL to every URL in s.
func redactURLsIn(s string) string {
	return urlUserinfo.ReplaceAllStringFunc(s, func(m string) string {
		sub := urlUserinfo.FindStringSubmatch(m)
		scheme, userinfo := sub[1], sub[2]
		if strings.HasPrefix(strings.ToLower(scheme), "http") {
			return scheme + redacted + "@"
		}
		if user, _, hasPassword := strings.Cut(userinfo, ":"); hasPassword {
			return scheme + user + ":" + redacted + "@"
		}
		return m
	})
}

// Redact removes credentials from s: the userinfo of URLs (as RedactURL)
// and every password, token and passphrase this Repo has read from Auth,
// also in their URL-escaped and basic-auth header forms. Every error the
// package returns has already been through it.
func (r *Repo) Redact(s string) string {
	s = redactURLsIn(s)
	r.secretsMu.Lock()
	secrets := make([]string, 0, len(r.secrets))
	for v := range r.secrets {
		secrets = append(secrets, v)
	}
	r.secretsMu.Unlock()
	// Longest first, so that a secret containing another is removed whole.
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, redacted)
	}
	return s
}

// remember records secret forms of v for Redact.
func (r *Repo) remember(values ...string) {
	r.secretsMu.Lock()
	defer r.secretsMu.Unlock()
	for _, v := range values {
		if v == "" {
			continue
		}
		r.secrets[v] = struct{}{}
		r.secrets[url.QueryEscape(v)] = struct{}{}
		r.secrets[url.PathEscape(v)] = struct{}{}
		r.secrets[base64.StdEncoding.EncodeToString([]byte(v))] = struct{}{}
	}
}

// rememberBasic records the basic-auth header value of user and password.
func (r *Repo) rememberBasic(user, password string) {
	r.secretsMu.Lock()
	defer r.secretsMu.Unlock()
	r.secrets[base64.StdEncoding.EncodeToString([]byte(user+":"+password))] = struct{}{}
}

// sentinels are the errors that stay reachable with errors.Is through an
// error of this package. Only these (and the typed errors in reachable)
// are kept, not the whole chain, so that unwrapping cannot reach a message
// holding a credential.
var sentinels = []error{
	ErrBranchNotFound,
	ErrInvalidRef,
	ErrCommitNotFound,
	ErrInvalidHash,
	transport.ErrRepositoryNotFound,
	transport.ErrEmptyRemoteRepository,
	transport.ErrAuthenticationRequired,
	transport.ErrAuthorizationFailed,
	transport.ErrInvalidAuthMethod,
	plumbing.ErrObjectNotFound,
	plumbing.ErrReferenceNotFound,
	context.DeadlineExceeded,
	context.Canceled,
	os.ErrDeadlineExceeded,
	fs.ErrNotExist,
	fs.ErrPermission,
	syscall.ECONNREFUSED,
	syscall.ECONNRESET,
	syscall.EHOSTUNREACH,
	syscall.ENETUNREACH,
}

// opError is an error of this package: a redacted message and the
// sentinels and typed errors of its cause.
type opError struct {
	msg    string
	causes []error
}

func (e *opError) Error() string   { return e.msg }
func (e *opError) Unwrap() []error { return e.causes }

// wrap returns err as an error of operation op (which names the URL or the
// commit), redacted.
func (r *Repo) wrap(op string, err error) error {
	return &opError{msg: r.Redact(op + ": " + err.Error()), causes: reachable(err)}
}

// reachable returns the sentinels err matches and the typed errors in its
// chain that carry no credential (host key and network errors).
func reachable(err error) []error {
	var out []error
	for _, s := range sentinels {
		if errors.Is(err, s) {
			out = append(out, s)
		}
	}
	var keyErr *knownhosts.KeyError
	if errors.As(err, &keyErr) {
		out = append(out, keyErr)
	}
	var revoked *knownhosts.RevokedError
	if errors.As(err, &revoked) {
		out = append(out, revoked)
	}
	var netErr *net.OpError
	if errors.As(err, &netErr) {
		out = append(out, netErr)
	}
	return out
}
