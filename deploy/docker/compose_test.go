package docker

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/honua-io/honua-gitops/internal/agent"
	"github.com/honua-io/honua-gitops/test/harness"
)

// composeFile is the part of compose.yaml the tests read. yaml.v3 applies
// the file's merge keys (<<: *honuad).
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Hostname    string            `yaml:"hostname"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Networks    map[string]struct {
			IPv4Address string `yaml:"ipv4_address"`
		} `yaml:"networks"`
		Ports    []string `yaml:"ports"`
		Volumes  []string `yaml:"volumes"`
		ReadOnly bool     `yaml:"read_only"`
		CapDrop  []string `yaml:"cap_drop"`
		Configs  []struct {
			Source string `yaml:"source"`
			Target string `yaml:"target"`
		} `yaml:"configs"`
		Secrets []struct {
			Source string `yaml:"source"`
			Target string `yaml:"target"`
		} `yaml:"secrets"`
	} `yaml:"services"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
	Volumes map[string]any `yaml:"volumes"`
	Configs map[string]struct {
		File string `yaml:"file"`
	} `yaml:"configs"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(b, &cf); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return cf
}

func TestComposeThreeNodes(t *testing.T) {
	cf := readCompose(t)
	names := make([]string, 0, len(cf.Services))
	for name := range cf.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	if want := []string{"honuad-1", "honuad-2", "honuad-3"}; !slices.Equal(names, want) {
		t.Fatalf("compose.yaml services = %v; want %v", names, want)
	}
	if len(cf.Networks) != 1 || len(cf.Networks["honua"].IPAM.Config) != 1 {
		t.Fatalf("compose.yaml networks = %+v; want one, honua, with a subnet", cf.Networks)
	}
	_, subnet, err := net.ParseCIDR(cf.Networks["honua"].IPAM.Config[0].Subnet)
	if err != nil {
		t.Fatalf("network honua: %v", err)
	}

	var gossip, hostPorts, volumes, configs []string
	for _, name := range names {
		s := cf.Services[name]
		env := s.Environment
		ip := s.Networks["honua"].IPv4Address
		if net.ParseIP(ip) == nil || !subnet.Contains(net.ParseIP(ip)) {
			t.Errorf("%s: ipv4_address %q is not in the network's subnet %s", name, ip, subnet)
		}
		if env["HONUA_NODE_ID"] != name || s.Hostname != name {
			t.Errorf("%s: HONUA_NODE_ID %q, hostname %q; want both the service's name", name, env["HONUA_NODE_ID"], s.Hostname)
		}
		if env["HONUA_ADVERTISE_ADDR"] != ip {
			t.Errorf("%s: HONUA_ADVERTISE_ADDR %q; want its fixed IP %s (raft and gossip dial IPs)", name, env["HONUA_ADVERTISE_ADDR"], ip)
		}
		if env["HONUA_BOOTSTRAP_EXPECT"] != "3" {
			t.Errorf("%s: HONUA_BOOTSTRAP_EXPECT %q; want 3", name, env["HONUA_BOOTSTRAP_EXPECT"])
		}
		gossip = append(gossip, net.JoinHostPort(ip, "7401"))
		if !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) {
			t.Errorf("%s: read_only %v, cap_drop %v; want a read-only root and every capability dropped", name, s.ReadOnly, s.CapDrop)
		}
		if len(s.Ports) != 1 || !strings.HasSuffix(s.Ports[0], ":7201") {
			t.Errorf("%s: ports %v; want the API, 7201, published once", name, s.Ports)
		} else {
			hostPorts = append(hostPorts, strings.TrimSuffix(s.Ports[0], ":7201"))
		}
		dataDir := env["HONUA_DATA_DIR"]
		var data []string
		for _, v := range s.Volumes {
			if src, dst, _ := strings.Cut(v, ":"); dst == dataDir {
				data = append(data, src)
			}
		}
		if len(data) != 1 || cf.Volumes != nil && !hasKey(cf.Volumes, data[0]) {
			t.Errorf("%s: the data dir %s is on %v; want one named volume of its own", name, dataDir, data)
		} else {
			volumes = append(volumes, data[0])
		}
		for _, c := range s.Configs {
			if c.Target == env["HONUA_CONFIG"] {
				configs = append(configs, c.Source)
			}
		}
	}
	for name, list := range map[string][]string{"host ports": hostPorts, "data volumes": volumes} {
		if len(slices.Compact(slices.Sorted(slices.Values(list)))) != 3 {
			t.Errorf("%s %v: want three distinct", name, list)
		}
	}
	if len(configs) != 3 || configs[1] != configs[0] || configs[2] != configs[0] {
		t.Errorf("config files mounted at HONUA_CONFIG: %v; want the same one in all three", configs)
	}
	for _, name := range names {
		join := strings.Split(cf.Services[name].Environment["HONUA_JOIN"], ",")
		if !slices.Equal(slices.Sorted(slices.Values(join)), gossip) {
			t.Errorf("%s: HONUA_JOIN %v; want the three gossip addresses %v", name, join, gossip)
		}
	}
}

func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}

// TestComposeConfigLoads loads the compose nodes' honuad.yaml with honuad's
// loader and validates it with honuad-1's environment, the secrets put in
// place in a temporary directory.
func TestComposeConfigLoads(t *testing.T) {
	cf := readCompose(t)
	s := cf.Services["honuad-1"]
	var cfgFile string
	for _, c := range s.Configs {
		if c.Target == s.Environment["HONUA_CONFIG"] {
			cfgFile = cf.Configs[c.Source].File
		}
	}
	if cfgFile == "" {
		t.Fatalf("honuad-1 mounts no config at HONUA_CONFIG %q", s.Environment["HONUA_CONFIG"])
	}
	cfg := agent.DefaultConfig()
	if err := cfg.LoadFile(cfgFile); err != nil {
		t.Fatalf("honuad refuses %s: %v", cfgFile, err)
	}
	// The tokens file is a secret of the services, mounted where the
	// config says.
	var tokens bool
	for _, sec := range s.Secrets {
		tokens = tokens || sec.Target == cfg.Auth.TokensFile
	}
	if cfg.Auth.TokensFile == "" || !tokens {
		t.Errorf("auth.tokensFile %q is not a secret of the services: honuad refuses 0.0.0.0 without tokens", cfg.Auth.TokensFile)
	}
	env := s.Environment
	cfg.NodeID = env["HONUA_NODE_ID"]
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.HTTPAddr, cfg.RaftAddr, cfg.GossipAddr = env["HONUA_HTTP_ADDR"], env["HONUA_RAFT_ADDR"], env["HONUA_GOSSIP_ADDR"]
	cfg.AdvertiseAddr = env["HONUA_ADVERTISE_ADDR"]
	cfg.Join = strings.Split(env["HONUA_JOIN"], ",")
	var err error
	if cfg.BootstrapExpect, err = strconv.Atoi(env["HONUA_BOOTSTRAP_EXPECT"]); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("honuad refuses honuad-1's configuration: %v", err)
	}
}

// TestComposeEnvVarsAreHonuadFlags checks each HONUA_* variable of the
// services against honuad agent --help: honuad ignores one it does not know.
func TestComposeEnvVarsAreHonuadFlags(t *testing.T) {
	cf := readCompose(t)
	known := harness.AgentEnvVars(t)
	for name, s := range cf.Services {
		for k := range s.Environment {
			if strings.HasPrefix(k, "HONUA_") && !known[k] {
				t.Errorf("%s sets %s, which honuad agent does not read", name, k)
			}
		}
		if s.Command != nil && !slices.Equal(s.Command, []string{"agent"}) {
			t.Errorf("%s: command %q; want [agent]", name, s.Command)
		}
	}
}
