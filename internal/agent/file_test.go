package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// LoadFile's refusals name the file, and each problem its line, its key
// and why, in the order of the lines, wherever the key is: at the top,
// under an option's section (auth) or in a file-only section.
func TestLoadFileProblems(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		want       []string // in this order
	}{
		{"unknown key", "node-id: n1\nnode_id: n2\n", []string{"line 2: field node_id not found in type agent.Config"}},
		{"unknown key under auth", "auth:\n  tokensFile: /x\n  bogus: 1\n", []string{"line 3: field bogus not found in type agent.AuthConfig"}},
		{"auth not a mapping", "auth: 3\n", []string{"line 1: cannot unmarshal !!int `3` into agent.AuthConfig"}},
		{"repeated key", "node-id: a\nnode-id: b\n", []string{`line 2: mapping key "node-id" already defined at line 1`}},
		{"repeated key under auth", "auth:\n  tokensFile: /x\n  tokensFile: /y\n", []string{`line 3: mapping key "tokensFile" already defined at line 2`}},
		{"problems in line order", "foo: 1\nrepository:\n  url: x\n  bogus: 1\nbootstrap-expect: x\n", []string{
			"line 1: field foo not found in type agent.Config",
			"line 4: field bogus not found in type agent.RepositoryConfig",
			"line 5: cannot unmarshal !!str `x` into int"}},
		{"unknown key in a target", "environments: {a: {targets: [{type: directory, path: /p, zzz: 1}]}}\n",
			[]string{"line 1: field zzz not found in type agent.TargetConfig"}},
		{"not a mapping", "- 1\n", []string{"line 1: cannot unmarshal !!seq into agent.Config"}},
		{"bad value", "max-file-size: lots\n", []string{`line 1: "lots" is not a size`}},
		{"bad choice", "tls-client-auth: maybe\n", []string{"line 1: ", "maybe"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "honuad.yaml")
			if err := os.WriteFile(path, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			c := DefaultConfig()
			err := c.LoadFile(path)
			if err == nil {
				t.Fatalf("LoadFile(%q) = nil; want %q", tt.body, tt.want)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "config "+path+": ") {
				t.Errorf("LoadFile(%q) = %q; want it to name the file first", tt.body, msg)
			}
			at := 0
			for _, w := range tt.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("LoadFile(%q) = %q; want %q in it, in the order %q", tt.body, msg, w, tt.want)
				}
				at += i + len(w)
			}
		})
	}
}

// Every option's key sets its field, and a file without it leaves the
// field as it was: the file merges into what it is loaded over.
func TestLoadFileMerges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "honuad.yaml")
	body := "log-level: debug\nauth:\n  tokensFile: /etc/honua/tokens.yaml\nrepository:\n  url: /srv/config.git\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.NodeID = "kept"
	c.Webhooks.GitHubSecretFile = "/kept"
	if err := c.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != "debug" || c.Auth.TokensFile != "/etc/honua/tokens.yaml" || c.Repository == nil || c.Repository.URL != "/srv/config.git" {
		t.Errorf("LoadFile set log-level %q, auth.tokensFile %q, repository %+v; want debug, /etc/honua/tokens.yaml, url /srv/config.git",
			c.LogLevel, c.Auth.TokensFile, c.Repository)
	}
	if c.NodeID != "kept" || c.Webhooks.GitHubSecretFile != "/kept" || c.HTTPAddr != DefaultConfig().HTTPAddr {
		t.Errorf("LoadFile changed what the file does not name: node-id %q, webhooks.githubSecretFile %q, http-addr %q",
			c.NodeID, c.Webhooks.GitHubSecretFile, c.HTTPAddr)
	}
}

// The options' table is well formed: names and keys unique, every option
// but --config bound to its own field of Config, and a default shown for
// each (cmd/honuad's tests check that it parses back to DefaultConfig's).
func TestOptionsTable(t *testing.T) {
	names, keys, fields := map[string]bool{}, map[string]bool{}, map[any]string{}
	var c Config
	for _, o := range Options() {
		if names[o.Name] {
			t.Errorf("option %s is declared twice", o.Name)
		}
		names[o.Name] = true
		if o.Field(&c) == nil {
			if o.Name != ConfigFileOption || o.Key != "" {
				t.Errorf("option %s has no field (key %q); only --%s may", o.Name, o.Key, ConfigFileOption)
			}
			continue
		}
		if o.Key == "" || keys[o.Key] {
			t.Errorf("option %s has key %q: empty or another option's", o.Name, o.Key)
		}
		keys[o.Key] = true
		if other, dup := fields[o.Field(&c)]; dup {
			t.Errorf("options %s and %s set the same field", other, o.Name)
		}
		fields[o.Field(&c)] = o.Name
		if !strings.HasPrefix(o.Env(), "HONUA_") || strings.ContainsAny(o.Env(), "-. ") {
			t.Errorf("option %s is read from %q", o.Name, o.Env())
		}
		_ = o.Default() // panics on a field of a type it cannot show
	}
	if !names[ConfigFileOption] {
		t.Errorf("no option %s", ConfigFileOption)
	}
}
