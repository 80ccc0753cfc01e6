package docker

import (
	"crypto/x509"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/honua-io/honua-gitops/deploy/internal/walkthrough"
	"github.com/honua-io/honua-gitops/internal/agent"
	"github.com/honua-io/honua-gitops/internal/rpc"
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

// servicesRunning returns the names of the services whose command is
// command (["agent"]: the honuad nodes; ["target-agent"]: the target
// agents), sorted.
func servicesRunning(cf composeFile, command ...string) []string {
	var names []string
	for name, s := range cf.Services {
		if slices.Equal(s.Command, command) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func TestComposeThreeNodes(t *testing.T) {
	cf := readCompose(t)
	names := servicesRunning(cf, "agent")
	if want := []string{"honuad-1", "honuad-2", "honuad-3"}; !slices.Equal(names, want) {
		t.Fatalf("compose.yaml services running honuad agent = %v; want %v", names, want)
	}
	if agents := servicesRunning(cf, "target-agent"); len(names)+len(agents) != len(cf.Services) {
		t.Errorf("compose.yaml has services %v; want only honuad nodes and target agents", slices.Sorted(maps.Keys(cf.Services)))
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

// nodeFiles are the files a node's configuration names, by its field:
// the required ones, and those its targets name.
func nodeFiles(cfg *agent.Config) (required, targets map[string]*string) {
	required = map[string]*string{
		"auth.tokensFile": &cfg.Auth.TokensFile,
		"tls-ca-file":     &cfg.TLSCAFile,
		"tls-cert-file":   &cfg.TLSCertFile,
		"tls-key-file":    &cfg.TLSKeyFile,
		"gossip-key-file": &cfg.GossipKeyFile,
	}
	targets = map[string]*string{}
	for name, env := range cfg.Environments {
		for i := range env.Targets {
			tg := &env.Targets[i]
			field := fmt.Sprintf("environments.%s.targets[%d].", name, i)
			for key, p := range map[string]*string{"tokenFile": &tg.TokenFile, "caFile": &tg.CAFile, "certFile": &tg.CertFile, "keyFile": &tg.KeyFile} {
				if *p != "" {
					targets[field+key] = p
				}
			}
		}
	}
	return required, targets
}

// loadNodeConfig loads the honuad.yaml that service mounts at
// HONUA_CONFIG, with honuad's loader.
func loadNodeConfig(t *testing.T, cf composeFile, service string) agent.Config {
	t.Helper()
	s := cf.Services[service]
	var cfgFile string
	for _, c := range s.Configs {
		if c.Target == s.Environment["HONUA_CONFIG"] {
			cfgFile = cf.Configs[c.Source].File
		}
	}
	if cfgFile == "" {
		t.Fatalf("%s mounts no config at HONUA_CONFIG %q", service, s.Environment["HONUA_CONFIG"])
	}
	cfg := agent.DefaultConfig()
	if err := cfg.LoadFile(cfgFile); err != nil {
		t.Fatalf("honuad refuses %s: %v", cfgFile, err)
	}
	return cfg
}

// secretSource returns the compose file (relative to deploy/docker) of the
// secret service mounts at target, or "".
func secretSource(cf composeFile, service, target string) string {
	for _, sec := range cf.Services[service].Secrets {
		if sec.Target == target {
			return cf.Secrets[sec.Source].File
		}
	}
	return ""
}

// TestComposeConfigLoads loads the compose nodes' honuad.yaml with honuad's
// loader and validates it with each node's environment and the files its
// secrets mount, in the layout deploy/README.md's walkthrough makes (run
// here with the local honuad; the tokens file, which the operator writes,
// made by the test). honuad reads the certificates and the gossip key
// there, and refuses a certificate without server.honua, not signed by the
// CA, or not matching its key. Each node's certificate must also carry
// its fixed IP and hostname, which the others and clients reach it by.
func TestComposeConfigLoads(t *testing.T) {
	cf := readCompose(t)
	l := runWalkthrough(t)
	_, entry, err := rpc.NewToken("admin", rpc.RoleAdmin, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range servicesRunning(cf, "agent") {
		t.Run(name, func(t *testing.T) {
			s := cf.Services[name]
			cfg := loadNodeConfig(t, cf, name)
			files, targetFiles := nodeFiles(&cfg)
			maps.Copy(files, targetFiles)
			for _, field := range slices.Sorted(maps.Keys(files)) {
				p := files[field]
				if *p == "" {
					t.Errorf("honuad.yaml sets no %s: the nodes would run without it (plaintext, or refused beyond loopback)", field)
					continue
				}
				src := secretSource(cf, name, *p)
				if src == "" {
					t.Errorf("%s %s is not a secret %s mounts", field, *p, name)
					continue
				}
				local := l.composePath(src)
				if field == "auth.tokensFile" && !fileExists(local) {
					if err := os.WriteFile(local, []byte("tokens:\n"+entry), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				if strings.HasSuffix(field, ".tokenFile") && !fileExists(local) {
					// The operator writes the agents' token, as the tokens file.
					if err := os.WriteFile(local, []byte("honua_agent_token\n"), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				if !fileExists(local) {
					t.Errorf("%s %s is the secret file %s, which deploy/README.md's walkthrough does not make", field, *p, src)
				}
				*p = local
			}
			if t.Failed() {
				return
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
			if !cfg.TLSVerifyServerHostname {
				t.Error("tls-verify-server-hostname is off: a client certificate of the CA could pose as a node")
			}
			if err := cfg.Validate(); err != nil {
				t.Errorf("honuad refuses %s's configuration: %v", name, err)
			}
			cert := readCert(t, cfg.TLSCertFile)
			for _, host := range []string{s.Networks["honua"].IPv4Address, s.Hostname} {
				if err := cert.VerifyHostname(host); err != nil {
					t.Errorf("%s's certificate (DNS %q, IP %v) does not carry %s: %v", name, cert.DNSNames, cert.IPAddresses, host, err)
				}
			}
		})
	}
}

// TestComposeKeepsTheCAKeyOff checks that no node mounts the CA's key,
// which honuad tls ca create writes beside the CA certificate: it signs
// certificates and is needed on no node.
func TestComposeKeepsTheCAKeyOff(t *testing.T) {
	cf := readCompose(t)
	l := runWalkthrough(t)
	cfg := loadNodeConfig(t, cf, "honuad-1")
	ca := secretSource(cf, "honuad-1", cfg.TLSCAFile)
	if ca == "" {
		t.Fatalf("honuad-1 mounts no secret at tls-ca-file %q", cfg.TLSCAFile)
	}
	caKey, err := os.ReadFile(filepath.Join(filepath.Dir(l.composePath(ca)), "honua-ca-key.pem"))
	if err != nil {
		t.Fatalf("the CA key is not beside the CA the walkthrough makes: %v", err)
	}
	for name, sec := range cf.Secrets {
		if b, err := os.ReadFile(l.composePath(sec.File)); err == nil && string(b) == string(caKey) {
			t.Errorf("secret %s (%s) is the CA's key", name, sec.File)
		}
	}
}

// TestComposeWalkthroughClient checks the walkthrough's honuactl: https
// addresses of the published API ports, trusting the CA the nodes have,
// and the image the walkthrough runs is the one compose builds.
func TestComposeWalkthroughClient(t *testing.T) {
	cf := readCompose(t)
	l := runWalkthrough(t)
	var want []string
	for _, name := range slices.Sorted(maps.Keys(cf.Services)) {
		for _, p := range cf.Services[name].Ports {
			want = append(want, "https://"+strings.TrimSuffix(p, ":7201"))
		}
		if img := cf.Services[name].Image; l.image != img {
			t.Errorf("the walkthrough's honuad function runs image %q; %s is %q", l.image, name, img)
		}
	}
	if got := strings.Split(l.env["HONUA_ADDR"], ","); !slices.Equal(got, want) {
		t.Errorf("the walkthrough's HONUA_ADDR = %q; want the published API ports over https %q", got, want)
	}
	cfg := loadNodeConfig(t, cf, "honuad-1")
	ca := l.composePath(secretSource(cf, "honuad-1", cfg.TLSCAFile))
	if got := l.env["HONUA_CACERT"]; got == "" || l.path(got) != ca {
		t.Errorf("the walkthrough's HONUA_CACERT = %q; want the CA the nodes mount (%s)", got, ca)
	}
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// readCert reads the first certificate of a PEM file.
func readCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	c, err := walkthrough.ReadCertificate(file)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestComposeEnvVarsAreHonuadFlags checks each HONUA_* variable of the
// services against honuad agent --help: honuad ignores one it does not know.
func TestComposeEnvVarsAreHonuadFlags(t *testing.T) {
	cf := readCompose(t)
	known := harness.AgentEnvVars(t)
	for name, s := range cf.Services {
		if slices.Equal(s.Command, []string{"target-agent"}) {
			continue // TestComposeAgents
		}
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
