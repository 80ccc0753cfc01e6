package kubernetes

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/honua-io/honua-gitops/internal/agent"
	"github.com/honua-io/honua-gitops/test/harness"
)

// configFile returns the ConfigMap's honuad.yaml, which HONUA_CONFIG names.
func configFile(t *testing.T, b *built) string {
	t.Helper()
	cm := one(t, "ConfigMap", b.configMaps)
	doc, ok := cm.Data["honuad.yaml"]
	if !ok {
		t.Fatalf("ConfigMap %s has no honuad.yaml", cm.Name)
	}
	return doc
}

// loadConfig loads doc as honuad does: its defaults, then the file.
func loadConfig(t *testing.T, doc string) agent.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "honuad.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := agent.DefaultConfig()
	if err := cfg.LoadFile(p); err != nil {
		t.Fatalf("honuad refuses the ConfigMap's honuad.yaml: %v", err)
	}
	return cfg
}

// secretFiles lists the files the configuration reads its secrets from,
// by the field that names each.
func secretFiles(cfg *agent.Config) map[string]*string {
	files := map[string]*string{
		"auth.tokensFile":            &cfg.Auth.TokensFile,
		"webhooks.githubSecretFile":  &cfg.Webhooks.GitHubSecretFile,
		"webhooks.gitlabTokenFile":   &cfg.Webhooks.GitLabTokenFile,
		"webhooks.genericSecretFile": &cfg.Webhooks.GenericSecretFile,
	}
	if r := cfg.Repository; r != nil {
		files["repository.auth.tokenFile"] = &r.Auth.TokenFile
		files["repository.auth.passwordFile"] = &r.Auth.PasswordFile
		files["repository.auth.sshKeyFile"] = &r.Auth.SSHKeyFile
		files["repository.auth.sshKeyPassphraseFile"] = &r.Auth.SSHKeyPassphraseFile
		files["repository.auth.knownHostsFile"] = &r.Auth.KnownHostsFile
	}
	for field, p := range tlsFields(cfg) {
		files[field] = p
	}
	for name, env := range cfg.Environments {
		for i := range env.Targets {
			tg := &env.Targets[i]
			field := fmt.Sprintf("environments.%s.targets[%d].", name, i)
			files[field+"tokenFile"] = &tg.TokenFile
			files[field+"caFile"] = &tg.CAFile
			files[field+"certFile"] = &tg.CertFile
			files[field+"keyFile"] = &tg.KeyFile
		}
	}
	for field, p := range files {
		if *p == "" {
			delete(files, field)
		}
	}
	return files
}

func TestConfigMapLoadsWithHonuadsLoader(t *testing.T) {
	b := build(t)
	sts := one(t, "StatefulSet", b.statefulSets)
	c := container(t, sts)
	cfg := loadConfig(t, configFile(t, b))

	if cfg.Repository == nil {
		t.Fatal("honuad.yaml has no repository section")
	}
	if u := cfg.Repository.URL; !slices.ContainsFunc([]string{"git://", "http://", "https://", "ssh://"}, func(s string) bool { return strings.HasPrefix(u, s) }) {
		t.Errorf("repository.url %q: the image has no git binary; want git://, http(s):// or ssh://", u)
	}
	if len(cfg.Environments) == 0 {
		t.Error("honuad.yaml has no environments")
	}
	for _, s := range []string{"node-id", "data-dir", "http-addr", "advertise-addr", "join"} {
		if strings.Contains(configFile(t, b), "\n"+s+":") {
			t.Errorf("honuad.yaml sets %s, which differs per pod and belongs in the StatefulSet's environment", s)
		}
	}

	// Every secret the file names is a key of a Secret mounted read-only.
	secretDirs := map[string]string{}
	for _, m := range c.VolumeMounts {
		for _, v := range sts.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil && m.ReadOnly {
				secretDirs[m.MountPath] = v.Secret.SecretName
			}
		}
	}
	files := secretFiles(&cfg)
	if files["auth.tokensFile"] == nil {
		t.Error("honuad.yaml sets no auth.tokensFile: honuad refuses to serve beyond loopback without tokens")
	}
	requireSecured(t, &cfg)
	for field, p := range files {
		if _, ok := secretDirs[path.Dir(*p)]; !ok {
			t.Errorf("%s %s is not in a mounted Secret (Secrets mounted: %v)", field, *p, secretDirs)
		}
	}

	// Validate as honuad would in the pod: the file's secrets in place (in
	// a temporary directory: the certificates and the gossip key made by
	// the README's walkthrough, the operator's own secrets made up) and
	// the pod's environment applied. honuad reads the TLS files and the
	// gossip key here, and refuses ones that do not fit together.
	dir := t.TempDir()
	made := podFiles(sts, runWalkthrough(t, b.namespaces["StatefulSet/"+sts.Name]))
	for field, p := range files {
		if local, ok := made[*p]; ok {
			*p = local
			continue
		}
		if _, ok := tlsFields(&cfg)[field]; ok {
			t.Errorf("%s %s is not a key of a Secret that deploy/README.md's walkthrough creates", field, *p)
		}
		local := filepath.Join(dir, strings.ReplaceAll(strings.TrimPrefix(*p, "/"), "/", "_"))
		if err := os.WriteFile(local, []byte("secret of "+field+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		*p = local
	}
	applyPodEnv(t, &cfg, podEnv(t, c, "honuad-0", "10.1.2.3", "honua"))
	if err := cfg.Validate(); err != nil {
		t.Errorf("honuad refuses the pod's configuration: %v", err)
	}
	if cfg.BootstrapExpect != 3 || len(cfg.Join) != 3 || cfg.AdvertiseAddr != "10.1.2.3" || cfg.NodeID != "honuad-0" {
		t.Errorf("pod configuration: bootstrap-expect %d, join %q, advertise %q, node id %q", cfg.BootstrapExpect, cfg.Join, cfg.AdvertiseAddr, cfg.NodeID)
	}
}

// podEnv returns the container's environment as the kubelet would give it
// to the pod with the given name, IP and namespace.
func podEnv(t *testing.T, c *corev1.Container, pod, ip, namespace string) map[string]string {
	t.Helper()
	fields := map[string]string{"metadata.name": pod, "status.podIP": ip, "metadata.namespace": namespace}
	env := map[string]string{}
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			// $(VAR) expands a variable defined before this one.
			env[e.Name] = ref.ReplaceAllStringFunc(e.Value, func(m string) string {
				if v, ok := env[m[2:len(m)-1]]; ok {
					return v
				}
				return m
			})
		case e.ValueFrom.FieldRef != nil:
			v, ok := fields[e.ValueFrom.FieldRef.FieldPath]
			if !ok {
				t.Fatalf("%s comes from field %s, which this test does not know", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			env[e.Name] = v
		default:
			t.Fatalf("%s comes from %+v, which this test does not know", e.Name, e.ValueFrom)
		}
	}
	return env
}

// applyPodEnv sets the configuration from the HONUA_* variables, as honuad's
// environment layer does (cmd/honuad: each flag's HONUA_<FLAG>).
func applyPodEnv(t *testing.T, cfg *agent.Config, env map[string]string) {
	t.Helper()
	for name, v := range env {
		var err error
		switch name {
		case "HONUA_CONFIG":
			// Read above, from the ConfigMap.
		case "HONUA_NODE_ID":
			cfg.NodeID = v
		case "HONUA_DATA_DIR":
			cfg.DataDir = filepath.Join(t.TempDir(), v)
		case "HONUA_HTTP_ADDR":
			cfg.HTTPAddr = v
		case "HONUA_RAFT_ADDR":
			cfg.RaftAddr = v
		case "HONUA_GOSSIP_ADDR":
			cfg.GossipAddr = v
		case "HONUA_ADVERTISE_ADDR":
			cfg.AdvertiseAddr = v
		case "HONUA_BOOTSTRAP_EXPECT":
			cfg.BootstrapExpect, err = strconv.Atoi(v)
		case "HONUA_JOIN":
			cfg.Join = strings.Split(v, ",")
		case "HONUA_LOG_FORMAT":
			cfg.LogFormat = v
		case "HONUA_LOG_LEVEL":
			cfg.LogLevel = v
		default:
			if strings.HasPrefix(name, "HONUA_") {
				t.Fatalf("the StatefulSet sets %s, which this test does not apply; add it here", name)
			}
		}
		if err != nil {
			t.Fatalf("%s=%q: %v", name, v, err)
		}
	}
}

// TestEnvVarsAreHonuadFlags checks every HONUA_* variable of the
// StatefulSet against the ones honuad agent --help lists: honuad ignores a
// variable it does not know.
func TestEnvVarsAreHonuadFlags(t *testing.T) {
	b := build(t)
	c := container(t, one(t, "StatefulSet", b.statefulSets))
	known := harness.AgentEnvVars(t)
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "HONUA_") && !known[e.Name] {
			t.Errorf("the StatefulSet sets %s, which honuad agent does not read", e.Name)
		}
	}
}

// TestGitAlertFollowsPollInterval keeps HonuaGitPollingFailing's threshold
// at ten poll intervals of the ConfigMap's repository.
func TestGitAlertFollowsPollInterval(t *testing.T) {
	b := build(t)
	cfg := loadConfig(t, configFile(t, b))
	if cfg.Repository == nil {
		t.Fatal("honuad.yaml has no repository section")
	}
	poll := time.Duration(cfg.Repository.PollInterval)
	if poll == 0 {
		poll = agent.DefaultPollInterval
	}
	expr := alertExpr(t, b, "HonuaGitPollingFailing")
	m := regexp.MustCompile(`\)\s*>\s*([0-9]+)\s`).FindStringSubmatch(expr)
	if m == nil {
		t.Fatalf("HonuaGitPollingFailing: no threshold in seconds found in %q", expr)
	}
	secs, _ := strconv.Atoi(m[1])
	if got, want := time.Duration(secs)*time.Second, 10*poll; got != want {
		t.Errorf("HonuaGitPollingFailing threshold %v; want 10 x pollInterval %v = %v", got, poll, want)
	}
}
