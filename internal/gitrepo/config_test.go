package gitrepo

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr []string // substrings of the error; none: valid
	}{
		{name: "git url", cfg: Config{URL: "git://127.0.0.1:9418/config.git", Dir: "/d"}},
		{name: "local path", cfg: Config{URL: "/srv/config.git", Dir: "/d"}},
		{name: "relative path", cfg: Config{URL: "./config.git", Dir: "/d"}},
		{name: "file url", cfg: Config{URL: "file:///srv/config.git", Dir: "/d"}},
		{name: "https with token file", cfg: Config{URL: "https://git.example.com/c.git", Dir: "/d", Auth: Auth{TokenFile: "/t"}}},
		{name: "http with token env", cfg: Config{URL: "http://127.0.0.1/c.git", Dir: "/d", Auth: Auth{TokenEnv: "T"}}},
		{name: "https basic", cfg: Config{URL: "https://h/c.git", Dir: "/d", Auth: Auth{UsernameEnv: "U", PasswordFile: "/p"}}},
		{name: "https user in url", cfg: Config{URL: "https://alice@h/c.git", Dir: "/d", Auth: Auth{PasswordEnv: "P"}}},
		{name: "ssh with known hosts", cfg: Config{URL: "ssh://git@h:2222/c.git", Dir: "/d",
			Auth: Auth{SSHKeyFile: "/k", KnownHostsFile: "/kh"}}},
		{name: "scp-like ssh insecure", cfg: Config{URL: "git@h:org/c.git", Dir: "/d",
			Auth: Auth{SSHKeyFile: "/k", SSHKeyPassphraseFile: "/p", InsecureSkipHostKeyCheck: true}}},

		{name: "no url", cfg: Config{Dir: "/d"}, wantErr: []string{"repository.url is required"}},
		{name: "no dir", cfg: Config{URL: "/x"}, wantErr: []string{"repository.dir"}},
		{name: "bad scheme", cfg: Config{URL: "ftp://h/c.git", Dir: "/d"}, wantErr: []string{"repository.url", `unsupported scheme "ftp"`}},
		{name: "password in url", cfg: Config{URL: "https://u:hunter2@h/c.git", Dir: "/d"},
			wantErr: []string{"repository.url https://***@h/c.git", "must not carry a password"}},
		{name: "password with a space in a url that does not parse", cfg: Config{URL: "https://u:pa ss@h/c.git", Dir: "/d"},
			wantErr: []string{"repository.url: is not a valid URL (not shown"}},
		{name: "bad branch", cfg: Config{URL: "/x", Dir: "/d", Branch: "a..b"}, wantErr: []string{`repository.branch "a..b"`}},
		{name: "negative timeout", cfg: Config{URL: "/x", Dir: "/d", Timeout: -time.Second}, wantErr: []string{"repository.timeout"}},
		{name: "token with git url", cfg: Config{URL: "git://h/c.git", Dir: "/d", Auth: Auth{TokenFile: "/t"}},
			wantErr: []string{"repository.auth.tokenFile", "need an http(s) url"}},
		{name: "token with ssh url", cfg: Config{URL: "ssh://git@h/c.git", Dir: "/d",
			Auth: Auth{TokenEnv: "T", SSHKeyFile: "/k", KnownHostsFile: "/kh"}},
			wantErr: []string{"repository.auth.tokenEnv", "need an http(s) url"}},
		{name: "password with file url", cfg: Config{URL: "file:///x", Dir: "/d", Auth: Auth{Username: "u", PasswordFile: "/p"}},
			wantErr: []string{"repository.auth.passwordFile", "need an http(s) url"}},
		{name: "ssh without known hosts", cfg: Config{URL: "ssh://git@h/c.git", Dir: "/d", Auth: Auth{SSHKeyFile: "/k"}},
			wantErr: []string{"repository.auth.knownHostsFile is required", "insecureSkipHostKeyCheck"}},
		{name: "ssh without a key", cfg: Config{URL: "git@h:c.git", Dir: "/d", Auth: Auth{KnownHostsFile: "/kh"}},
			wantErr: []string{"repository.auth.sshKeyFile is required"}},
		{name: "known hosts and insecure", cfg: Config{URL: "ssh://h/c.git", Dir: "/d",
			Auth: Auth{SSHKeyFile: "/k", KnownHostsFile: "/kh", InsecureSkipHostKeyCheck: true}},
			wantErr: []string{"knownHostsFile and repository.auth.insecureSkipHostKeyCheck"}},
		{name: "ssh key with https", cfg: Config{URL: "https://h/c.git", Dir: "/d", Auth: Auth{SSHKeyFile: "/k"}},
			wantErr: []string{"repository.auth.sshKeyFile", "need an ssh"}},
		{name: "passphrase without key", cfg: Config{URL: "ssh://h/c.git", Dir: "/d",
			Auth: Auth{SSHKeyPassphraseFile: "/p", InsecureSkipHostKeyCheck: true}},
			wantErr: []string{"sshKeyPassphraseFile: needs repository.auth.sshKeyFile"}},
		{name: "token and password", cfg: Config{URL: "https://h/c.git", Dir: "/d",
			Auth: Auth{TokenFile: "/t", Username: "u", PasswordFile: "/p"}},
			wantErr: []string{"repository.auth.tokenFile: a bearer token excludes"}},
		{name: "two token sources", cfg: Config{URL: "https://h/c.git", Dir: "/d", Auth: Auth{TokenFile: "/t", TokenEnv: "T"}},
			wantErr: []string{"repository.auth.tokenEnv and repository.auth.tokenFile"}},
		{name: "two password sources", cfg: Config{URL: "https://h/c.git", Dir: "/d",
			Auth: Auth{Username: "u", PasswordFile: "/p", PasswordEnv: "P"}},
			wantErr: []string{"repository.auth.passwordEnv and repository.auth.passwordFile"}},
		{name: "username without password", cfg: Config{URL: "https://h/c.git", Dir: "/d", Auth: Auth{Username: "u"}},
			wantErr: []string{"repository.auth.username: a username needs"}},
		{name: "every problem reported", cfg: Config{URL: "git://h/c.git", Auth: Auth{TokenFile: "/t"}},
			wantErr: []string{"repository.dir", "repository.auth.tokenFile"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			err := cfg.Validate()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v; want nil", tc.cfg, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%+v) = nil; want an error with %q", tc.cfg, tc.wantErr)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("Validate(%+v) = %q; want it to contain %q", tc.cfg, err, want)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("Validate error carries the URL's password: %q", err)
			}
		})
	}
}

func TestValidateDefaults(t *testing.T) {
	cfg := Config{URL: "/x", Dir: "/d"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Branch != "main" || cfg.Timeout != 30*time.Second {
		t.Fatalf("defaults: branch %q, timeout %v; want main, 30s", cfg.Branch, cfg.Timeout)
	}
}

func TestOpenChecksCredentials(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing token file", Config{URL: "https://h/c.git", Auth: Auth{TokenFile: dir + "/none"}},
			"repository.auth.tokenFile: open " + dir + "/none"},
		{"unset token env", Config{URL: "https://h/c.git", Auth: Auth{TokenEnv: "HONUA_TEST_UNSET_TOKEN"}},
			"repository.auth.tokenEnv: environment variable HONUA_TEST_UNSET_TOKEN is unset or empty"},
		{"empty password file", Config{URL: "https://h/c.git", Auth: Auth{Username: "u", PasswordFile: writeSecret(t, "  ")}},
			"repository.auth.passwordFile"},
		{"missing ssh key", Config{URL: "ssh://git@h/c.git", Auth: Auth{SSHKeyFile: dir + "/id", InsecureSkipHostKeyCheck: true}},
			"repository.auth.sshKeyFile: open " + dir + "/id"},
		{"invalid config", Config{URL: "https://h/c.git", Auth: Auth{SSHKeyFile: "/k"}},
			"invalid repository configuration: repository.dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.Dir == "" && !strings.HasPrefix(tc.want, "invalid") {
				tc.cfg.Dir = t.TempDir()
			}
			_, err := Open(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open() = %v; want an error containing %q", err, tc.want)
			}
		})
	}
}
