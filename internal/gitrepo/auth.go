package gitrepo

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// defaultSSHUser is the ssh user when the URL names none, as GitHub,
// GitLab and Gitea expect.
const defaultSSHUser = "git"

// authMethod builds the go-git credentials for the remote from Auth,
// reading the secrets afresh (a rotated token is picked up on the next
// call) and remembering them for Redact. It returns nil for file:// and
// git://, and for http(s) without credentials.
func (r *Repo) authMethod() (transport.AuthMethod, error) {
	a := r.cfg.Auth
	switch r.endpoint.Protocol {
	case "http", "https":
		return r.httpAuth(a)
	case "ssh":
		return r.sshAuth(a)
	}
	return nil, nil
}

func (r *Repo) httpAuth(a Auth) (transport.AuthMethod, error) {
	if a.TokenEnv != "" || a.TokenFile != "" {
		token, err := r.readSecret("token", a.TokenEnv, a.TokenFile)
		if err != nil {
			return nil, err
		}
		return &githttp.TokenAuth{Token: token}, nil
	}
	if a.PasswordEnv == "" && a.PasswordFile == "" {
		return nil, nil
	}
	password, err := r.readSecret("password", a.PasswordEnv, a.PasswordFile)
	if err != nil {
		return nil, err
	}
	user := a.Username
	switch {
	case a.UsernameEnv != "":
		if user = os.Getenv(a.UsernameEnv); user == "" {
			return nil, fmt.Errorf("repository.auth.usernameEnv: environment variable %s is unset or empty", a.UsernameEnv)
		}
	case user == "":
		user = r.endpoint.User
	}
	if user == "" {
		return nil, errors.New("repository.auth.username: a password needs a username " +
			"(username, usernameEnv, or the user of an https://user@host url)")
	}
	r.rememberBasic(user, password)
	return &githttp.BasicAuth{Username: user, Password: password}, nil
}

func (r *Repo) sshAuth(a Auth) (transport.AuthMethod, error) {
	key, err := os.ReadFile(a.SSHKeyFile)
	if err != nil {
		return nil, fmt.Errorf("repository.auth.sshKeyFile: %w", err)
	}
	var signer ssh.Signer
	if a.SSHKeyPassphraseFile != "" {
		passphrase, err := r.readSecret("sshKeyPassphrase", "", a.SSHKeyPassphraseFile)
		if err != nil {
			return nil, err
		}
		signer, err = ssh.ParsePrivateKeyWithPassphrase(key, []byte(passphrase))
		if err != nil {
			return nil, fmt.Errorf("repository.auth.sshKeyFile %s: %w", a.SSHKeyFile, err)
		}
	} else {
		signer, err = ssh.ParsePrivateKey(key)
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("repository.auth.sshKeyFile %s: the key is encrypted; set repository.auth.sshKeyPassphraseFile", a.SSHKeyFile)
		}
		if err != nil {
			return nil, fmt.Errorf("repository.auth.sshKeyFile %s: %w", a.SSHKeyFile, err)
		}
	}
	user := r.endpoint.User
	if user == "" {
		user = defaultSSHUser
	}
	keys := &gitssh.PublicKeys{User: user, Signer: signer}
	if a.InsecureSkipHostKeyCheck {
		keys.HostKeyCallback = ssh.InsecureIgnoreHostKey()
	} else {
		if _, err := os.Stat(a.KnownHostsFile); err != nil {
			return nil, fmt.Errorf("repository.auth.knownHostsFile: %w", err)
		}
		db, err := gitssh.NewKnownHostsDb(a.KnownHostsFile)
		if err != nil {
			return nil, fmt.Errorf("repository.auth.knownHostsFile %s: %w", a.KnownHostsFile, err)
		}
		port := r.endpoint.Port
		if port <= 0 {
			port = 22
		}
		keys.HostKeyCallback = db.HostKeyCallback()
		// Offer only the key types known_hosts holds for the host, or the
		// server may present another type and fail the check.
		keys.HostKeyAlgorithms = db.HostKeyAlgorithms(net.JoinHostPort(r.endpoint.Host, strconv.Itoa(port)))
	}
	return &sshKeys{PublicKeys: keys, timeout: r.cfg.Timeout}, nil
}

// sshKeys bounds the ssh dial and handshake, which go-git runs without the
// call's context, by the configured timeout.
type sshKeys struct {
	*gitssh.PublicKeys
	timeout time.Duration
}

// ClientConfig implements gitssh.AuthMethod.
func (k *sshKeys) ClientConfig() (*ssh.ClientConfig, error) {
	c, err := k.PublicKeys.ClientConfig()
	if err != nil {
		return nil, err
	}
	c.Timeout = k.timeout
	return c, nil
}

// readSecret reads a secret from the environment variable env or the file
// (field names the Auth fields, e.g. "token" → tokenEnv/tokenFile), trims
// surrounding white space (a file's final newline), and remembers it for
// Redact.
func (r *Repo) readSecret(field, env, file string) (string, error) {
	var v string
	if env != "" {
		v = os.Getenv(env)
		if v == "" {
			return "", fmt.Errorf("repository.auth.%sEnv: environment variable %s is unset or empty", field, env)
		}
	} else {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("repository.auth.%sFile: %w", field, err)
		}
		v = string(b)
	}
	v = strings.TrimSpace(v)
	r.remember(v)
	if v == "" {
		return "", fmt.Errorf("repository.auth.%sFile %s: empty", field, file)
	}
	return v, nil
}
