package targetagent

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoadFile reads the options' names as keys and refuses unknown and
// repeated keys and bad values, naming each line.
func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, file string
		wantErr    []string
		check      func(Config) bool
	}{
		{"options", "listen: 0.0.0.0:7501\ndir: /srv/honua/metadata\nkeep: 3\nreload-timeout: 1m\nmax-bundle-size: 8MiB\ntls-client-auth: require\n", nil,
			func(c Config) bool {
				return c.Listen == "0.0.0.0:7501" && c.Dir == "/srv/honua/metadata" && c.Keep == 3 &&
					time.Duration(c.ReloadTimeout) == time.Minute && c.MaxBundleSize == 8<<20 && c.TLSClientAuth.String() == "require"
			}},
		{"empty", "", nil, func(c Config) bool { return c.Listen == DefaultListen }},
		{"unknown key", "listen: a:1\nreload_url: x\n", []string{"line 2", `"reload_url" is not an option`}, nil},
		{"repeated key", "dir: /a\ndir: /b\n", []string{"line 2", "already given at line 1"}, nil},
		{"bad value", "keep: many\n", []string{"line 1", "many"}, nil},
		{"bad size", "max-bundle-size: lots\n", []string{"line 1", "not a size"}, nil},
		{"not a mapping", "- dir\n", []string{"line 1", "mapping"}, nil},
		{"config key", "config: other.yaml\n", []string{`"config" is not an option`}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name+".yaml")
			writeFile(t, path, c.file)
			cfg := DefaultConfig()
			err := cfg.LoadFile(path)
			if len(c.wantErr) == 0 {
				if err != nil {
					t.Fatalf("LoadFile: %v", err)
				}
				if !c.check(cfg) {
					t.Errorf("LoadFile read %+v", cfg)
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadFile of %q succeeded; want an error saying %q", c.file, c.wantErr)
			}
			for _, w := range c.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("LoadFile error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestValidate refuses what the agent cannot run with, naming the option.
func TestValidate(t *testing.T) {
	dir := t.TempDir()
	ok := func() Config {
		c := DefaultConfig()
		c.Dir = filepath.Join(dir, "metadata")
		c.InsecureNoAuth = true
		return c
	}
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no dir", func(c *Config) { c.Dir = "" }, "dir: is required"},
		{"root dir", func(c *Config) { c.Dir = "/" }, "root directory"},
		{"no auth", func(c *Config) { c.InsecureNoAuth = false }, "tokens-file: is required"},
		{"both reloads", func(c *Config) { c.ReloadURL, c.ReloadCommand = "http://a/r", "true" }, "not both"},
		{"bad reload url", func(c *Config) { c.ReloadURL = "ftp://a/r" }, "reload-url"},
		{"bad health url", func(c *Config) { c.HealthURL = "localhost:8080" }, "health-url"},
		{"keep 0", func(c *Config) { c.Keep = 0 }, "keep"},
		{"bad listen", func(c *Config) { c.Listen = "7501" }, "listen"},
		{"half TLS", func(c *Config) { c.TLSCertFile = "x.pem" }, "--tls-ca-file"},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, "log-level"},
	} {
		cfg := ok()
		c.edit(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate = %v; want an error saying %q", c.name, err, c.want)
		}
	}
	cfg := ok()
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate of a good config: %v", err)
	}
}
