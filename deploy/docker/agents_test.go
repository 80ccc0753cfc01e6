package docker

import (
	"encoding"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/internal/rpc"
	"github.com/honua-io/honua-gitops/internal/targetagent"
)

// TestComposeAgents checks the target agents of compose.yaml: they run
// honuad target-agent with variables it reads; their folder is on a volume
// of their own, at the path the image makes writable (the nodes' data
// dir); their configuration validates with the files deploy/README.md's
// walkthrough makes (each certificate carrying the agent's IP); and
// honuad.yaml's production targets are exactly the agents, over https.
func TestComposeAgents(t *testing.T) {
	cf := readCompose(t)
	agents := servicesRunning(cf, "target-agent")
	if len(agents) != 2 {
		t.Fatalf("compose.yaml runs target agents %v; want two, where production's two Honua servers would be", agents)
	}
	l := runWalkthrough(t)
	opts := map[string]targetagent.Option{}
	for _, o := range targetagent.Options() {
		opts[o.Env()] = o
	}
	dataDir := cf.Services["honuad-1"].Environment["HONUA_DATA_DIR"]
	var urls []string
	for _, name := range agents {
		t.Run(name, func(t *testing.T) {
			s := cf.Services[name]
			cfg := targetagent.DefaultConfig()
			for k, v := range s.Environment {
				o, ok := opts[k]
				if !ok || o.Field(&cfg) == nil {
					t.Errorf("%s sets %s, which honuad target-agent does not read", name, k)
					continue
				}
				setAgentOption(t, o, &cfg, v)
			}
			ip := s.Networks["honua"].IPv4Address
			_, port, err := net.SplitHostPort(cfg.Listen)
			if err != nil || net.ParseIP(ip) == nil {
				t.Fatalf("%s: listen %q, ip %q", name, cfg.Listen, ip)
			}
			urls = append(urls, "https://"+net.JoinHostPort(ip, port)+"/v1/bundle")

			var volume string
			for _, v := range s.Volumes {
				if src, dst, _ := cutVolume(v); dst == path.Dir(cfg.Dir) && hasKey(cf.Volumes, src) {
					volume = dst
				}
			}
			if volume == "" || volume != dataDir {
				t.Errorf("%s: --dir %s is not on a named volume mounted at %s, the directory the image makes writable", name, cfg.Dir, dataDir)
			}

			for _, p := range []*string{&cfg.TLSCAFile, &cfg.TLSCertFile, &cfg.TLSKeyFile, &cfg.TokensFile} {
				src := secretSource(cf, name, *p)
				if src == "" {
					t.Errorf("%s: %s is not a secret it mounts", name, *p)
					continue
				}
				local := l.composePath(src)
				if p == &cfg.TokensFile && !fileExists(local) {
					_, entry, err := rpc.NewToken("honuad", rpc.RoleAdmin, nil)
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(local, []byte("tokens:\n"+entry), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				if !fileExists(local) {
					t.Errorf("%s: %s is the secret file %s, which deploy/README.md's walkthrough does not make", name, *p, src)
				}
				*p = local
			}
			if t.Failed() {
				return
			}
			cfg.Dir = filepath.Join(t.TempDir(), "metadata")
			if err := cfg.Validate(); err != nil {
				t.Errorf("honuad target-agent refuses %s's configuration: %v", name, err)
			}
			cert := readCert(t, cfg.TLSCertFile)
			if err := cert.VerifyHostname(ip); err != nil {
				t.Errorf("%s's certificate does not carry its IP %s, which the nodes dial: %v", name, ip, err)
			}
		})
	}
	cfg := loadNodeConfig(t, cf, "honuad-1")
	var targets []string
	for _, tg := range cfg.Environments["production"].Targets {
		targets = append(targets, tg.URL)
		if tg.Type != "http" || tg.TokenFile == "" || tg.CAFile != cfg.TLSCAFile {
			t.Errorf("production target %s: type %s, tokenFile %q, caFile %q; want http with a token and the nodes' CA", tg.URL, tg.Type, tg.TokenFile, tg.CAFile)
		}
	}
	slices.Sort(targets)
	slices.Sort(urls)
	if !slices.Equal(targets, urls) {
		t.Errorf("honuad.yaml's production targets are %v; want the agents %v", targets, urls)
	}
}

// cutVolume splits a compose volume "SOURCE:TARGET[:MODE]".
func cutVolume(v string) (src, dst string, ok bool) {
	src, rest, ok := strings.Cut(v, ":")
	dst, _, _ = strings.Cut(rest, ":")
	return src, dst, ok
}

// setAgentOption sets o's field of cfg from an environment variable's value.
func setAgentOption(t *testing.T, o targetagent.Option, cfg *targetagent.Config, v string) {
	t.Helper()
	var err error
	switch p := o.Field(cfg).(type) {
	case *string:
		*p = v
	case *int:
		*p, err = strconv.Atoi(v)
	case *bool:
		*p, err = strconv.ParseBool(v)
	case encoding.TextUnmarshaler:
		err = p.UnmarshalText([]byte(v))
	default:
		err = fmt.Errorf("a field of type %T this test does not set", p)
	}
	if err != nil {
		t.Errorf("%s=%q: %v", o.Env(), v, err)
	}
}
