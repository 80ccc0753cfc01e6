package targetagent

import (
	"errors"
	"testing"
)

// FuzzLoadFile feeds arbitrary configuration files to the agent's file
// decoder, which walks the YAML by hand: it never panics, and an error is
// always a *ConfigError.
func FuzzLoadFile(f *testing.F) {
	f.Add([]byte("listen: 0.0.0.0:7501\ndir: /srv/honua/metadata\ntokens-file: /etc/honua/tokens.yaml\nkeep: 3\n"))
	f.Add([]byte("reload-timeout: 1m\nmax-bundle-size: 8MiB\ntls-client-auth: require\n"))
	f.Add([]byte("dir: [a, b]\nkeep: {x: 1}\n"))
	f.Add([]byte("a: &x 1\nb: *x\n"))
	f.Add([]byte("---\n...\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := t.TempDir() + "/agent.yaml"
		writeFile(t, path, string(data))
		cfg := DefaultConfig()
		if err := cfg.LoadFile(path); err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("LoadFile error %v is not a *ConfigError", err)
			}
		}
	})
}
