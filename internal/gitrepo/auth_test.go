package gitrepo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/honua-io/honua-gitops/test/gitserver"
)

func TestAuthConstruction(t *testing.T) {
	t.Setenv("HONUA_TEST_USER", "carol")
	t.Setenv("HONUA_TEST_PASSWORD", "pw-from-env")
	for _, tc := range []struct {
		name string
		url  string
		auth Auth
		want string // the go-git auth's String(), "" for none
	}{
		{"git url", "git://h/c.git", Auth{}, ""},
		{"https without credentials", "https://h/c.git", Auth{}, ""},
		{"token", "https://h/c.git", Auth{TokenFile: writeSecret(t, "tok")}, "http-token-auth - *******"},
		{"basic from env", "https://h/c.git", Auth{UsernameEnv: "HONUA_TEST_USER", PasswordEnv: "HONUA_TEST_PASSWORD"},
			"http-basic-auth - carol:*******"},
		{"basic with url user", "https://dave@h/c.git", Auth{PasswordFile: writeSecret(t, "pw")}, "http-basic-auth - dave:*******"},
		{"basic user overrides url", "https://dave@h/c.git", Auth{Username: "erin", PasswordFile: writeSecret(t, "pw")},
			"http-basic-auth - erin:*******"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := open(t, tc.url, func(c *Config) { c.Auth = tc.auth })
			a, err := r.authMethod()
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if a != nil {
				got = a.String()
			}
			if got != tc.want {
				t.Fatalf("auth = %q; want %q", got, tc.want)
			}
		})
	}

	// The token is read again on every call: a rotated file is picked up.
	file := writeSecret(t, "first-token")
	r := open(t, "https://h/c.git", func(c *Config) { c.Auth = Auth{TokenFile: file} })
	if err := os.WriteFile(file, []byte("second-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := r.authMethod()
	if err != nil {
		t.Fatal(err)
	}
	if tok := a.(*githttp.TokenAuth).Token; tok != "second-token" {
		t.Fatalf("token after rotation = %q; want second-token", tok)
	}
	if got := r.Redact("first-token second-token"); got != "*** ***" {
		t.Fatalf("Redact after rotation = %q; want both tokens removed", got)
	}
}

func TestSSHAuthConstruction(t *testing.T) {
	_, key := gitserver.NewSSHKey(t, "")
	_, encrypted := gitserver.NewSSHKey(t, "open sesame")
	srv := gitserver.StartSSH(t, t.TempDir())

	r := open(t, "ssh://deploy@"+srv.Addr()+"/c.git", func(c *Config) {
		c.Auth = Auth{SSHKeyFile: key, KnownHostsFile: srv.KnownHostsFile}
		c.Timeout = 7 * time.Second
	})
	a, err := r.authMethod()
	if err != nil {
		t.Fatal(err)
	}
	keys := a.(*sshKeys)
	cc, err := keys.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cc.User != "deploy" || cc.Timeout != 7*time.Second {
		t.Fatalf("ssh client config: user %q, timeout %v; want deploy, 7s", cc.User, cc.Timeout)
	}
	if strings.Join(cc.HostKeyAlgorithms, ",") != "ssh-ed25519" {
		t.Fatalf("host key algorithms = %q; want the known_hosts entry's type, ssh-ed25519", cc.HostKeyAlgorithms)
	}
	if cc.HostKeyCallback == nil {
		t.Fatal("no host key callback")
	}

	// scp-like URLs default to the user git.
	r = open(t, "h.example:org/c.git", func(c *Config) { c.Auth = Auth{SSHKeyFile: key, InsecureSkipHostKeyCheck: true} })
	a, err = r.authMethod()
	if err != nil {
		t.Fatal(err)
	}
	if cc, _ := a.(*sshKeys).ClientConfig(); cc.User != "git" {
		t.Fatalf("ssh user = %q; want git", cc.User)
	}

	for _, tc := range []struct {
		name string
		auth Auth
		want string
	}{
		{"encrypted key without passphrase", Auth{SSHKeyFile: encrypted, InsecureSkipHostKeyCheck: true},
			"the key is encrypted; set repository.auth.sshKeyPassphraseFile"},
		{"wrong passphrase", Auth{SSHKeyFile: encrypted, SSHKeyPassphraseFile: writeSecret(t, "not it"), InsecureSkipHostKeyCheck: true},
			"repository.auth.sshKeyFile"},
		{"missing known_hosts", Auth{SSHKeyFile: key, KnownHostsFile: filepath.Join(t.TempDir(), "none")},
			"repository.auth.knownHostsFile"},
		{"not a key", Auth{SSHKeyFile: writeSecret(t, "garbage"), InsecureSkipHostKeyCheck: true},
			"repository.auth.sshKeyFile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{URL: "ssh://git@h/c.git", Dir: t.TempDir(), Auth: tc.auth}
			_, err := Open(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open() = %v; want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "not it") {
				t.Fatalf("error carries the passphrase: %v", err)
			}
		})
	}
	// Open parses the key: an encrypted key opens with its passphrase.
	open(t, "ssh://git@h/c.git", func(c *Config) {
		c.Auth = Auth{SSHKeyFile: encrypted, SSHKeyPassphraseFile: writeSecret(t, "open sesame"), InsecureSkipHostKeyCheck: true}
	})
}

// TestSSH fetches over a real (in-process) ssh server, with the host key
// checked against known_hosts.
func TestSSH(t *testing.T) {
	remote := gitserver.NewRepo(t)
	head := remote.Commit(sampleFiles(), "first")
	srv := gitserver.StartSSH(t, remote.Root())
	url := srv.URL(remote.Name())

	r := open(t, url, func(c *Config) { c.Auth = Auth{SSHKeyFile: srv.ClientKeyFile, KnownHostsFile: srv.KnownHostsFile} })
	if got := mustHead(t, r); got != head {
		t.Fatalf("Head() = %s; want %s", got, head)
	}
	if got := mustFetch(t, r); got != head {
		t.Fatalf("Fetch() = %s; want %s", got, head)
	}
	next := remote.Commit(map[string]string{"x": "1"}, "next")
	if got := mustFetch(t, r); got != next {
		t.Fatalf("Fetch() = %s; want %s", got, next)
	}

	t.Run("unknown host key", func(t *testing.T) {
		other := gitserver.StartSSH(t, t.TempDir()) // its known_hosts names another address
		r := open(t, url, func(c *Config) { c.Auth = Auth{SSHKeyFile: srv.ClientKeyFile, KnownHostsFile: other.KnownHostsFile} })
		_, err := r.Head(ctx(t))
		var keyErr *knownhosts.KeyError
		if !errors.As(err, &keyErr) {
			t.Fatalf("Head() with the host missing from known_hosts: err = %v; want a knownhosts.KeyError", err)
		}
	})
	t.Run("changed host key", func(t *testing.T) {
		other := gitserver.StartSSH(t, t.TempDir())
		line := knownhosts.Line([]string{knownhosts.Normalize(srv.Addr())}, other.HostKey) + "\n"
		kh := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(kh, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
		r := open(t, url, func(c *Config) { c.Auth = Auth{SSHKeyFile: srv.ClientKeyFile, KnownHostsFile: kh} })
		_, err := r.Head(ctx(t))
		var keyErr *knownhosts.KeyError
		if !errors.As(err, &keyErr) || len(keyErr.Want) == 0 {
			t.Fatalf("Head() with a changed host key: err = %v; want a knownhosts.KeyError (mismatch)", err)
		}
	})
	t.Run("insecure skip", func(t *testing.T) {
		r := open(t, url, func(c *Config) { c.Auth = Auth{SSHKeyFile: srv.ClientKeyFile, InsecureSkipHostKeyCheck: true} })
		mustHead(t, r)
	})
	t.Run("key not accepted", func(t *testing.T) {
		_, stranger := gitserver.NewSSHKey(t, "")
		r := open(t, url, func(c *Config) { c.Auth = Auth{SSHKeyFile: stranger, KnownHostsFile: srv.KnownHostsFile} })
		_, err := r.Head(ctx(t))
		if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
			t.Fatalf("Head() with a key the server does not accept: err = %v", err)
		}
	})
}
