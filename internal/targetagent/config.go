package targetagent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/honua-io/honua-gitops/internal/agent"
	"github.com/honua-io/honua-gitops/internal/certs"
	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/target"
)

// Config is honuad target-agent's configuration. Each field is bound to
// its flag, environment variable and file key in Options.
type Config struct {
	// Listen is the address the agent serves on.
	Listen string
	// Dir is the folder the Honua server reads: a symlink the agent
	// switches, as a directory target does (internal/target).
	Dir string
	// TokensFile lists who may deploy, as the API's tokens file does (only
	// each token's SHA-256; see honuad token create).
	TokensFile string
	// InsecureNoAuth serves without tokens.
	InsecureNoAuth bool
	// ReloadURL is POSTed, or ReloadCommand run (sh -c), after a switch;
	// ReloadTimeout bounds either.
	ReloadURL     string
	ReloadCommand string
	ReloadTimeout agent.Duration
	// HealthURL is the Honua server's own health, which GET /healthz
	// passes on.
	HealthURL string
	// Keep is how many bundles are kept besides the one served.
	Keep int
	// MaxBundleSize bounds a PUT's body.
	MaxBundleSize agent.Size
	// TLS: with the three files the agent serves https; client
	// certificates none, request or require.
	TLSCAFile     string
	TLSCertFile   string
	TLSKeyFile    string
	TLSClientAuth agent.ClientAuth
	LogLevel      string
	LogFormat     string
}

// Defaults of Config.
const (
	DefaultListen        = "127.0.0.1:7501"
	DefaultReloadTimeout = 30 * time.Second
	// DefaultMaxBundleSize leaves room for an environment of honuad's
	// default max-environment-size (16MiB) sent as base64, in JSON.
	DefaultMaxBundleSize = 32 << 20
)

// DefaultConfig returns the defaults, which the file, the environment and
// the flags override in that order.
func DefaultConfig() Config {
	return Config{
		Listen:        DefaultListen,
		ReloadTimeout: agent.Duration(DefaultReloadTimeout),
		Keep:          target.DefaultKeep,
		MaxBundleSize: DefaultMaxBundleSize,
		LogLevel:      "info",
		LogFormat:     "text",
	}
}

// Option is one option of honuad target-agent, declared once: its flag,
// the environment variable and the configuration file key (the flag's
// name) that also set it, its usage, and the field of Config it sets.
type Option struct {
	// Name is the flag's name without dashes, and the file key.
	Name  string
	Usage string
	// field returns a pointer to the option's field of c: a *string,
	// *int, *bool, *agent.Duration, *agent.Size or *agent.ClientAuth; nil
	// for --config.
	field func(c *Config) any
}

// ConfigFileOption is the name of the option that names the configuration
// file (--config): it has no field and no file key.
const ConfigFileOption = "config"

// Env is the environment variable that sets the option:
// HONUA_TARGET_AGENT_DIR for --dir (prefixed apart from honuad agent's, so
// that both may share an environment).
func (o Option) Env() string {
	return "HONUA_TARGET_AGENT_" + strings.ToUpper(strings.ReplaceAll(o.Name, "-", "_"))
}

// Field returns a pointer to the option's field of c, nil for --config.
func (o Option) Field(c *Config) any {
	if o.field == nil {
		return nil
	}
	return o.field(c)
}

// Default is the option's default as --help and docs/targets.md show it.
func (o Option) Default() string {
	def := DefaultConfig()
	switch v := o.Field(&def).(type) {
	case nil:
		return ""
	case *string:
		return *v
	case *int:
		return strconv.Itoa(*v)
	case *bool:
		return strconv.FormatBool(*v)
	case fmt.Stringer: // Duration, Size, ClientAuth
		return v.String()
	default:
		panic(fmt.Sprintf("targetagent: option %s has a field of type %T", o.Name, v))
	}
}

// Options returns honuad target-agent's options in the order --help lists
// them.
func Options() []Option { return append([]Option(nil), options...) }

var options = []Option{
	{Name: ConfigFileOption, Usage: "YAML configuration file; its keys are the flag names"},
	{Name: "listen", Usage: "address to serve the bundle endpoint on",
		field: func(c *Config) any { return &c.Listen }},
	{Name: "dir", Usage: "the folder the Honua server reads (required); it becomes a symlink to the bundle served, and its parent must exist",
		field: func(c *Config) any { return &c.Dir }},
	{Name: "tokens-file", Usage: "who may deploy: bearer tokens, stored hashed (see honuad token create); required unless --insecure-no-auth",
		field: func(c *Config) any { return &c.TokensFile }},
	{Name: "insecure-no-auth", Usage: "accept bundles without a bearer token",
		field: func(c *Config) any { return &c.InsecureNoAuth }},
	{Name: "reload-url", Usage: "POSTed after each switch, to make the Honua server read the new bundle; must answer 2xx",
		field: func(c *Config) any { return &c.ReloadURL }},
	{Name: "reload-command", Usage: "run with sh -c after each switch instead of --reload-url; must exit 0",
		field: func(c *Config) any { return &c.ReloadCommand }},
	{Name: "reload-timeout", Usage: "how long a reload may take",
		field: func(c *Config) any { return &c.ReloadTimeout }},
	{Name: "health-url", Usage: "the Honua server's own health check, passed on by GET /healthz",
		field: func(c *Config) any { return &c.HealthURL }},
	{Name: "keep", Usage: "bundles kept besides the one served",
		field: func(c *Config) any { return &c.Keep }},
	{Name: "max-bundle-size", Usage: "largest bundle document accepted; a larger PUT gets 413",
		field: func(c *Config) any { return &c.MaxBundleSize }},
	{Name: "tls-ca-file", Usage: "CA certificates (PEM) that sign client certificates; with the cert and key: serve https",
		field: func(c *Config) any { return &c.TLSCAFile }},
	{Name: "tls-cert-file", Usage: "this agent's certificate (PEM), carrying the name honuad's target URL uses",
		field: func(c *Config) any { return &c.TLSCertFile }},
	{Name: "tls-key-file", Usage: "the private key (PEM) of --tls-cert-file",
		field: func(c *Config) any { return &c.TLSKeyFile }},
	{Name: "tls-client-auth", Usage: "client certificates: none, request (verified if sent) or require (mutual TLS)",
		field: func(c *Config) any { return &c.TLSClientAuth }},
	{Name: "log-level", Usage: "debug, info, warn or error",
		field: func(c *Config) any { return &c.LogLevel }},
	{Name: "log-format", Usage: "text or json",
		field: func(c *Config) any { return &c.LogFormat }},
}

// ConfigError is a configuration the agent refuses; honuad exits 2 on it.
type ConfigError = agent.ConfigError

// LoadFile merges the YAML file at path into c: a mapping whose keys are
// the options' names. Unknown or repeated keys are refused with their line.
func (c *Config) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return &ConfigError{Err: fmt.Errorf("config %s: %w", path, err)}
	}
	if err := c.decodeFile(b); err != nil {
		return &ConfigError{Err: fmt.Errorf("config %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	return nil
}

// decodeFile decodes a configuration file's first document into c.
func (c *Config) decodeFile(b []byte) error {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	m := &root
	if m.Kind == yaml.DocumentNode && len(m.Content) == 1 {
		m = m.Content[0]
	}
	if m.ShortTag() == "!!null" {
		return nil
	}
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: the file must be a mapping of option names to values", m.Line)
	}
	var problems []string
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if line, dup := seen[k.Value]; dup {
			problems = append(problems, fmt.Sprintf("line %d: key %q already given at line %d", k.Line, k.Value, line))
			continue
		}
		seen[k.Value] = k.Line
		o, ok := optionNamed(k.Value)
		if !ok || o.field == nil {
			problems = append(problems, fmt.Sprintf("line %d: %q is not an option of honuad target-agent", k.Line, k.Value))
			continue
		}
		if err := v.Decode(o.Field(c)); err != nil {
			var te *yaml.TypeError
			if !errors.As(err, &te) {
				return fmt.Errorf("%s: %w", k.Value, err)
			}
			problems = append(problems, te.Errors...)
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func optionNamed(name string) (Option, bool) {
	for _, o := range options {
		if o.Name == name {
			return o, true
		}
	}
	return Option{}, false
}

// Validate checks the configuration and returns every problem, each
// naming its option.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field string, v any, why string) {
		errs = append(errs, &cluster.FieldError{Field: field, Value: v, Why: why})
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", c.Listen, "must be host:port")
	}
	if c.Dir == "" {
		bad("dir", "", "is required: the folder the Honua server reads")
	} else if _, err := target.New(target.Config{Type: "directory", Path: c.Dir, Keep: c.Keep}); err != nil {
		bad("dir", c.Dir, err.Error())
	}
	if c.Keep < 1 {
		bad("keep", c.Keep, "must be at least 1")
	}
	switch {
	case c.TokensFile == "" && !c.InsecureNoAuth:
		bad("tokens-file", "", "is required: who may deploy (or --insecure-no-auth to accept any request)")
	case c.TokensFile != "" && c.InsecureNoAuth:
		bad("insecure-no-auth", true, "contradicts --tokens-file: give one")
	}
	if c.ReloadURL != "" && c.ReloadCommand != "" {
		bad("reload-command", c.ReloadCommand, "give --reload-url or --reload-command, not both")
	}
	for _, u := range []struct{ field, url string }{{"reload-url", c.ReloadURL}, {"health-url", c.HealthURL}} {
		if u.url == "" {
			continue
		}
		if p, err := url.Parse(u.url); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad(u.field, u.url, "must be an http(s) URL")
		}
	}
	if c.ReloadTimeout <= 0 {
		bad("reload-timeout", time.Duration(c.ReloadTimeout).String(), "must be positive")
	}
	if c.MaxBundleSize <= 0 {
		bad("max-bundle-size", c.MaxBundleSize, "must be positive")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level", c.LogLevel, "must be debug, info, warn or error")
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("log-format", c.LogFormat, "must be text or json")
	}
	if err := c.tlsConfig().Check(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return &ConfigError{Err: err}
	}
	return nil
}

// tlsConfig is the TLS part of the configuration.
func (c *Config) tlsConfig() certs.Config {
	return certs.Config{CAFile: c.TLSCAFile, CertFile: c.TLSCertFile, KeyFile: c.TLSKeyFile,
		ClientAuth: certs.ClientAuth(c.TLSClientAuth)}
}
