package gitrepo

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Defaults for the fields of Config left empty.
const (
	DefaultBranch  = "main"
	DefaultTimeout = 30 * time.Second
)

// Config says where the configuration repository is and how to reach it:
// the "repository:" section of honuad's configuration file plus the local
// clone's directory.
type Config struct {
	// URL is the remote: a local path, file://, git://, http(s)://, ssh://
	// or scp-like user@host:path. It must not carry a password; put
	// credentials in Auth.
	URL string
	// Branch is the branch deployed from (default "main").
	Branch string
	// Dir is the local bare clone, e.g. <data-dir>/repo. It is created on
	// first use.
	Dir string
	// Timeout bounds every git call (default 30s).
	Timeout time.Duration
	// Auth holds the credentials for http(s) and ssh remotes.
	Auth Auth
	// Logger receives debug lines about fetches; nil discards them.
	Logger *slog.Logger
}

// Auth names where the credentials are; it never holds a secret itself.
type Auth struct {
	// Username is the http(s) basic-auth user; UsernameEnv names an
	// environment variable holding it instead. The user of an
	// https://user@host URL is used when both are empty.
	Username, UsernameEnv string
	// PasswordEnv or PasswordFile hold the basic-auth password (for a
	// GitHub or GitLab token sent as a password, use these with a username).
	PasswordEnv, PasswordFile string
	// TokenEnv or TokenFile hold a token sent as "Authorization: Bearer".
	TokenEnv, TokenFile string

	// SSHKeyFile is the private key for ssh remotes;
	// SSHKeyPassphraseFile holds its passphrase if it is encrypted.
	SSHKeyFile, SSHKeyPassphraseFile string
	// KnownHostsFile lists the host keys the ssh remote is checked against.
	KnownHostsFile string
	// InsecureSkipHostKeyCheck accepts any ssh host key; only for tests.
	InsecureSkipHostKeyCheck bool
}

// Validate fills the defaults and rejects a configuration that cannot work,
// naming the field (repository.url, repository.auth.tokenFile...). It
// reports every problem it finds, joined, and reads no file.
func (c *Config) Validate() error {
	if c.Branch == "" {
		c.Branch = DefaultBranch
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	protocol := ""
	switch {
	case c.URL == "":
		add("repository.url is required")
	default:
		ep, err := transport.NewEndpoint(c.URL)
		switch {
		case err != nil && strings.Contains(c.URL, "@"):
			// A URL that does not parse may hold a credential where
			// RedactURL cannot find it (a password with a space or a
			// slash, say), so neither it nor the parser's message, which
			// quotes it, is repeated.
			add("repository.url: is not a valid URL (not shown: it holds an @, so it may hold a credential; " +
				"credentials go in repository.auth)")
		case err != nil:
			add("repository.url %s: %s", RedactURL(c.URL), redactURLsIn(err.Error()))
		case !supportedProtocols[ep.Protocol]:
			add("repository.url %s: unsupported scheme %q (use a path, file://, git://, http(s):// or ssh://)",
				RedactURL(c.URL), ep.Protocol)
		case ep.Password != "":
			add("repository.url %s: must not carry a password; use repository.auth.passwordFile or passwordEnv",
				RedactURL(c.URL))
		default:
			protocol = ep.Protocol
		}
	}
	if err := plumbing.NewBranchReferenceName(c.Branch).Validate(); err != nil {
		add("repository.branch %q: not a valid branch name", c.Branch)
	}
	if c.Dir == "" {
		add("repository.dir (the local clone's directory) is required")
	}
	if c.Timeout < 0 {
		add("repository.timeout %v: must be positive", c.Timeout)
	}
	errs = append(errs, c.Auth.validate(protocol)...)
	return errors.Join(errs...)
}

var supportedProtocols = map[string]bool{"file": true, "git": true, "http": true, "https": true, "ssh": true}

// validate checks Auth against the URL's protocol ("" when the URL itself
// is bad: only the checks that do not depend on it run).
func (a *Auth) validate(protocol string) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	both := func(x, y string, xName, yName string) {
		if x != "" && y != "" {
			add("repository.auth.%s and repository.auth.%s: set one, not both", xName, yName)
		}
	}
	both(a.Username, a.UsernameEnv, "username", "usernameEnv")
	both(a.PasswordEnv, a.PasswordFile, "passwordEnv", "passwordFile")
	both(a.TokenEnv, a.TokenFile, "tokenEnv", "tokenFile")

	hasUser := a.Username != "" || a.UsernameEnv != ""
	hasPassword := a.PasswordEnv != "" || a.PasswordFile != ""
	hasToken := a.TokenEnv != "" || a.TokenFile != ""
	hasSSH := a.SSHKeyFile != "" || a.SSHKeyPassphraseFile != "" || a.KnownHostsFile != "" || a.InsecureSkipHostKeyCheck
	if hasToken && (hasUser || hasPassword) {
		add("repository.auth.%s: a bearer token excludes a username and password "+
			"(to send a token as a basic-auth password, use usernameEnv or username with passwordFile)", a.tokenField())
	}
	if hasUser && !hasPassword && !hasToken {
		add("repository.auth.%s: a username needs repository.auth.passwordFile or passwordEnv", a.httpField())
	}
	if a.SSHKeyPassphraseFile != "" && a.SSHKeyFile == "" {
		add("repository.auth.sshKeyPassphraseFile: needs repository.auth.sshKeyFile")
	}
	if a.KnownHostsFile != "" && a.InsecureSkipHostKeyCheck {
		add("repository.auth.knownHostsFile and repository.auth.insecureSkipHostKeyCheck: set one, not both")
	}

	switch protocol {
	case "http", "https":
		if hasSSH {
			add("repository.auth.%s: ssh settings need an ssh:// or user@host:path url, not %s://", a.sshField(), protocol)
		}
	case "ssh":
		if hasToken || hasUser || hasPassword {
			add("repository.auth.%s: http credentials need an http(s) url, not ssh (the ssh user is the url's)", a.httpField())
		}
		if a.SSHKeyFile == "" {
			add("repository.auth.sshKeyFile is required for an ssh url")
		}
		if a.KnownHostsFile == "" && !a.InsecureSkipHostKeyCheck {
			add("repository.auth.knownHostsFile is required for an ssh url " +
				"(or repository.auth.insecureSkipHostKeyCheck, which accepts any host key)")
		}
	case "file", "git":
		if hasToken || hasUser || hasPassword {
			add("repository.auth.%s: http credentials need an http(s) url, not %s", a.httpField(), protocol)
		}
		if hasSSH {
			add("repository.auth.%s: ssh settings need an ssh:// or user@host:path url, not %s", a.sshField(), protocol)
		}
	}
	return errs
}

// tokenField, httpField and sshField name the first field set of a kind,
// for error messages.
func (a *Auth) tokenField() string {
	if a.TokenFile != "" {
		return "tokenFile"
	}
	return "tokenEnv"
}

func (a *Auth) httpField() string {
	for _, f := range []struct{ name, v string }{
		{"tokenFile", a.TokenFile}, {"tokenEnv", a.TokenEnv},
		{"passwordFile", a.PasswordFile}, {"passwordEnv", a.PasswordEnv},
		{"username", a.Username}, {"usernameEnv", a.UsernameEnv},
	} {
		if f.v != "" {
			return f.name
		}
	}
	return "username"
}

func (a *Auth) sshField() string {
	for _, f := range []struct{ name, v string }{
		{"sshKeyFile", a.SSHKeyFile}, {"sshKeyPassphraseFile", a.SSHKeyPassphraseFile},
		{"knownHostsFile", a.KnownHostsFile},
	} {
		if f.v != "" {
			return f.name
		}
	}
	return "insecureSkipHostKeyCheck"
}
