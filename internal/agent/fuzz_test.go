package agent

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzLoadFile feeds arbitrary honuad.yaml files to LoadFile over the
// defaults, then Validate, as honuad does at start. Properties: no panic;
// every refusal is a *ConfigError (honuad exits 2), and LoadFile's names
// the file; loading a file twice is loading it once; Validate never
// repeats a password written in repository.url.
func FuzzLoadFile(f *testing.F) {
	for _, s := range []string{
		// scripts/sample-repo.sh's configuration.
		"auth:\n  tokensFile: /tmp/honua/tokens.yaml\nrepository:\n  url: /tmp/honua/config.git\n  branch: main\n  pollInterval: 5s\n" +
			"environments:\n  development:\n    targets:\n      - type: directory\n        path: /tmp/honua/targets/development\n" +
			"  production:\n    targets:\n      - type: http\n        url: https://honua.example/admin/config\n" +
			"        reloadURL: https://honua.example/admin/reload\n        healthChecks: [{url: \"https://honua.example/healthz\"}]\n" +
			"      - type: exec\n        command: [/usr/local/bin/deploy, --env, production]\n",
		"node-id: n1\ndata-dir: /var/lib/honua\nraft-addr: 0.0.0.0:7301\ngossip-addr: 0.0.0.0:7401\nhttp-addr: 0.0.0.0:7201\n" +
			"advertise-addr: 10.0.0.1\nbootstrap-expect: 3\njoin: [10.0.0.2:7401, 10.0.0.3:7401]\nlog-level: debug\nlog-format: json\n" +
			"raft-multiplier: 5\nraft-snapshot-threshold: 8192\nraft-snapshot-interval: 2m\nraft-trailing-logs: 10240\n" +
			"dead-server-cleanup: true\ndead-server-grace: 1h\nhistory-retention: 50\nplan-retention: 10\ndry-run: true\n" +
			"leader-wait: 10s\nmax-file-size: 1MiB\nmax-environment-size: 4 MiB\nmax-command-size: 8388608\n",
		"repository:\n  url: https://user:hunter2-secret@git.example/c.git\n",
		"repository:\n  url: \"ssh://git:s3cr3t-pass@h/c.git\"\n  auth: {sshKeyFile: /nope, knownHostsFile: /nope}\n",
		"repository:\n  url: x\n  pollInterval: 1ns\n  timeout: -5s\n",
		"raft-snapshot-interval: forever\n",
		"max-file-size: 99999999999999999999999 EiB\n",
		"max-file-size: -1\n",
		"max-command-size: 0\n",
		"unknown-key: 1\n",
		"environments:\n  Prod: {targets: [{type: ftp}]}\n  common: {}\n",
		"environments: &e\n  a: *e\n",
		"join: &j [a, *j]\n",
		"l0: &l0 [x]\nl1: &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]\n",
		"join: " + strings.Repeat("[", 10000) + "\n",
		"history-retention: 1e400\n",
		"log-level: \"\xff\"\n",
		"node-id: \"a\x00b\"\n",
		"",
		"---\n",
		"a: 1\n---\nb: 2\n",
		"{",
		"- 1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "honuad.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c := DefaultConfig()
		err := c.LoadFile(path)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "config "+path+": ") {
				t.Fatalf("LoadFile(%q) = %v; want a *ConfigError naming the file", data, err)
			}
			return
		}
		twice := DefaultConfig()
		if err := twice.LoadFile(path); err != nil {
			t.Fatalf("LoadFile(%q) the second time = %v", data, err)
		}
		if err := twice.LoadFile(path); err != nil || !reflect.DeepEqual(c, twice) {
			t.Fatalf("LoadFile(%q) twice = %+v (%v); once = %+v", data, twice, err, c)
		}
		// Validate reads the secret files the file names; these could be
		// anything (a device that never ends), so they are left out. A
		// password in the URL is replaced by one that appears nowhere
		// else, to look for in what Validate says.
		c.Webhooks = WebhooksConfig{}
		const probe = "Zq7-probe-password"
		if c.Repository != nil {
			if u, perr := url.Parse(c.Repository.URL); perr == nil && u.User != nil {
				if _, has := u.User.Password(); has {
					u.User = url.UserPassword(u.User.Username(), probe)
					c.Repository.URL = u.String()
				}
			}
		}
		err = c.Validate()
		if err == nil {
			return
		}
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("Validate of %q = %v; want a *ConfigError", data, err)
		}
		if strings.Contains(err.Error(), probe) {
			t.Fatalf("Validate of %q = %v; it repeats the password of repository.url", data, err)
		}
	})
}
