package agent

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// Sections are the configuration file's sections that no flag sets: the
// repository honuad watches, the targets of its environments, the
// webhooks' secrets, and where notifications go. Their keys are their yaml tags, and unknown keys
// within them are refused like any other.
type Sections struct {
	Repository    *RepositoryConfig            `yaml:"repository"`
	Environments  map[string]EnvironmentConfig `yaml:"environments"`
	Webhooks      WebhooksConfig               `yaml:"webhooks"`
	Notifications NotificationsConfig          `yaml:"notifications"`
	Drift         DriftConfig                  `yaml:"drift"`
}

// RepositoryConfig is the configuration repository honuad watches.
type RepositoryConfig struct {
	URL          string         `yaml:"url"`
	Branch       string         `yaml:"branch"`
	PollInterval Duration       `yaml:"pollInterval"`
	Timeout      Duration       `yaml:"timeout"`
	Auth         RepositoryAuth `yaml:"auth"`
}

// RepositoryAuth holds where the repository's credentials are read from:
// files and environment variables, never the configuration itself.
type RepositoryAuth struct {
	TokenFile                string `yaml:"tokenFile"`
	TokenEnv                 string `yaml:"tokenEnv"`
	Username                 string `yaml:"username"`
	UsernameEnv              string `yaml:"usernameEnv"`
	PasswordFile             string `yaml:"passwordFile"`
	PasswordEnv              string `yaml:"passwordEnv"`
	SSHKeyFile               string `yaml:"sshKeyFile"`
	SSHKeyPassphraseFile     string `yaml:"sshKeyPassphraseFile"`
	KnownHostsFile           string `yaml:"knownHostsFile"`
	InsecureSkipHostKeyCheck bool   `yaml:"insecureSkipHostKeyCheck"`
}

// EnvironmentConfig is honuad's own configuration of one environment: where
// its bundles go (docs/domain.md#targets) and whether it only plans.
type EnvironmentConfig struct {
	DryRun  bool           `yaml:"dryRun"`
	Targets []TargetConfig `yaml:"targets"`
}

// TargetConfig is one place an environment's bundle is deployed to.
type TargetConfig struct {
	// Name names the target in the policy's rollout waves; unique in its
	// environment, optional otherwise.
	Name         string              `yaml:"name"`
	Type         string              `yaml:"type"`
	Path         string              `yaml:"path"`
	URL          string              `yaml:"url"`
	Command      []string            `yaml:"command"`
	ReloadURL    string              `yaml:"reloadURL"`
	HealthChecks []HealthCheckConfig `yaml:"healthChecks"`
	// An http target's bearer token (a file holding it) and TLS files, for
	// talking to a target agent (docs/targets.md).
	TokenFile string `yaml:"tokenFile"`
	CAFile    string `yaml:"caFile"`
	CertFile  string `yaml:"certFile"`
	KeyFile   string `yaml:"keyFile"`
}

// HealthCheckConfig is a GET that must answer 2xx after an apply.
type HealthCheckConfig struct {
	URL string `yaml:"url"`
}

// WebhooksConfig names the files holding each webhook's secret.
type WebhooksConfig struct {
	GitHubSecretFile  string `yaml:"githubSecretFile"`
	GitLabTokenFile   string `yaml:"gitlabTokenFile"`
	GenericSecretFile string `yaml:"genericSecretFile"`
}

// Defaults of the repository section.
const (
	DefaultBranch       = "main"
	DefaultPollInterval = 30 * time.Second
	DefaultGitTimeout   = 30 * time.Second
)

// validateSections checks the docs/domain.md#configuration sections and fills their
// defaults.
func (c *Config) validateSections() []error {
	var errs []error
	bad := func(field string, v any, why string) {
		errs = append(errs, &cluster.FieldError{Field: field, Value: v, Why: why})
	}
	if r := c.Repository; r != nil {
		if r.URL == "" {
			bad("repository.url", "", "is required when a repository section is given")
		} else if u, err := url.Parse(r.URL); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				bad("repository.url", "(redacted)", "must not carry a password; use repository.auth")
			}
		}
		if r.Branch == "" {
			r.Branch = DefaultBranch
		}
		if r.PollInterval == 0 {
			r.PollInterval = Duration(DefaultPollInterval)
		} else if time.Duration(r.PollInterval) < time.Second {
			bad("repository.pollInterval", time.Duration(r.PollInterval).String(), "must be at least 1s")
		}
		if r.Timeout == 0 {
			r.Timeout = Duration(DefaultGitTimeout)
		} else if r.Timeout < 0 {
			bad("repository.timeout", time.Duration(r.Timeout).String(), "must be positive")
		}
		for _, f := range []struct{ field, path string }{
			{"repository.auth.tokenFile", r.Auth.TokenFile},
			{"repository.auth.passwordFile", r.Auth.PasswordFile},
			{"repository.auth.sshKeyFile", r.Auth.SSHKeyFile},
			{"repository.auth.sshKeyPassphraseFile", r.Auth.SSHKeyPassphraseFile},
			{"repository.auth.knownHostsFile", r.Auth.KnownHostsFile},
		} {
			if f.path == "" {
				continue
			}
			if _, err := os.Stat(f.path); err != nil {
				bad(f.field, f.path, "cannot be read: "+err.Error())
			}
		}
	}
	names := make([]string, 0, len(c.Environments))
	for name := range c.Environments {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !fsm.ValidEnvironmentName(name) {
			bad("environments."+name, "", "is not a valid environment name (lowercase letters, digits and '-', not 'common')")
		}
		errs = append(errs, validateTargetNames(name, c.Environments[name].Targets)...)
		for i, t := range c.Environments[name].Targets {
			field := fmt.Sprintf("environments.%s.targets[%d]", name, i)
			switch t.Type {
			case "directory":
				if t.Path == "" {
					bad(field+".path", "", "is required for a directory target")
				}
			case "http":
				if u, err := url.Parse(t.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					bad(field+".url", t.URL, "must be an http(s) URL for an http target")
				}
			case "exec":
				if len(t.Command) == 0 {
					bad(field+".command", "", "is required for an exec target")
				}
			default:
				bad(field+".type", t.Type, "must be directory, http or exec")
			}
			errs = append(errs, validateHTTPTargetFiles(field, t)...)
			for _, u := range append([]string{t.ReloadURL}, healthURLs(t)...) {
				if u == "" {
					continue
				}
				if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
					bad(field, u, "reload and health check URLs must be http(s) URLs")
				}
			}
		}
	}
	for _, f := range []struct{ field, path string }{
		{"webhooks.githubSecretFile", c.Webhooks.GitHubSecretFile},
		{"webhooks.gitlabTokenFile", c.Webhooks.GitLabTokenFile},
		{"webhooks.genericSecretFile", c.Webhooks.GenericSecretFile},
	} {
		if f.path == "" {
			continue
		}
		if b, err := os.ReadFile(f.path); err != nil {
			bad(f.field, f.path, "cannot be read: "+err.Error())
		} else if why := noSecret(b); why != "" {
			bad(f.field, f.path, why)
		}
	}
	errs = append(errs, c.validateDrift()...)
	return append(errs, c.validateNotifications()...)
}

// validateHTTPTargetFiles checks an http target's token and TLS files:
// given only for an http target (https for the TLS files), and readable.
func validateHTTPTargetFiles(field string, t TargetConfig) []error {
	var errs []error
	for _, f := range []struct{ key, path string }{
		{"tokenFile", t.TokenFile}, {"caFile", t.CAFile}, {"certFile", t.CertFile}, {"keyFile", t.KeyFile},
	} {
		if f.path == "" {
			continue
		}
		switch {
		case t.Type != "http":
			errs = append(errs, &cluster.FieldError{Field: field + "." + f.key, Value: f.path, Why: "is only for an http target"})
			continue
		case f.key != "tokenFile" && !strings.HasPrefix(t.URL, "https://"):
			errs = append(errs, &cluster.FieldError{Field: field + "." + f.key, Value: f.path, Why: "needs an https url"})
			continue
		}
		b, err := os.ReadFile(f.path)
		switch {
		case err != nil:
			errs = append(errs, &cluster.FieldError{Field: field + "." + f.key, Value: f.path, Why: "cannot be read: " + err.Error()})
		case f.key == "tokenFile" && len(bytes.TrimSpace(b)) == 0:
			errs = append(errs, &cluster.FieldError{Field: field + "." + f.key, Value: f.path, Why: "holds no token"})
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, &cluster.FieldError{Field: field + ".certFile", Why: "certFile and keyFile go together: give both or neither"})
	}
	return errs
}

// noSecret says why a secret file's content holds no secret, or "" when it
// holds one. The secret is the content without surrounding whitespace: a
// file of only whitespace would be an empty secret, which turns the
// webhook's signature check off.
func noSecret(b []byte) string {
	switch {
	case len(b) == 0:
		return "is empty"
	case len(bytes.TrimSpace(b)) == 0:
		return "holds only whitespace"
	}
	return ""
}

func healthURLs(t TargetConfig) []string {
	out := make([]string, 0, len(t.HealthChecks))
	for _, h := range t.HealthChecks {
		out = append(out, h.URL)
	}
	return out
}
