package kubernetes

import (
	"bytes"
	"crypto/x509"
	"encoding"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/honua-io/honua-gitops/internal/rpc"
	"github.com/honua-io/honua-gitops/internal/targetagent"
)

// The tests of this file check honua-server/: a Honua server with honuad
// target-agent as a sidecar, and honuad.yaml's http targets pointing at it.

const agentPort = 7501

var serverKustomized struct {
	once sync.Once
	b    *built
	err  error
}

// buildServer returns the decoded output of kubectl kustomize honua-server.
func buildServer(t *testing.T) *built {
	t.Helper()
	requireKubectl(t)
	serverKustomized.once.Do(func() {
		var stderr bytes.Buffer
		cmd := exec.Command("kubectl", "kustomize", "honua-server")
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			serverKustomized.err = fmt.Errorf("kubectl kustomize honua-server: %w\n%s", err, stderr.Bytes())
			return
		}
		serverKustomized.b, serverKustomized.err = decode(out)
	})
	if serverKustomized.err != nil {
		t.Fatal(serverKustomized.err)
	}
	return serverKustomized.b
}

// containerNamed returns the pod template's container name.
func containerNamed(t *testing.T, sts *appsv1.StatefulSet, name string) *corev1.Container {
	t.Helper()
	for i := range sts.Spec.Template.Spec.Containers {
		if c := &sts.Spec.Template.Spec.Containers[i]; c.Name == name {
			return c
		}
	}
	t.Fatalf("StatefulSet %s has no container %s", sts.Name, name)
	return nil
}

// mountOf returns where c mounts volume, "" if it does not.
func mountOf(c *corev1.Container, volume string) (string, bool) {
	for _, m := range c.VolumeMounts {
		if m.Name == volume {
			return m.MountPath, m.ReadOnly
		}
	}
	return "", false
}

// TestHonuaServerSidecar checks the pod: the agent runs honuad
// target-agent with variables it reads, its folder is on an emptyDir the
// Honua server mounts at the same path, its Secrets are the ones
// deploy/README.md creates, and the configuration the pod gives it
// validates with what the walkthrough makes (its certificate included).
func TestHonuaServerSidecar(t *testing.T) {
	b := buildServer(t)
	sts := one(t, "StatefulSet", b.statefulSets)
	ns := b.namespaces["StatefulSet/"+sts.Name]
	agentC := containerNamed(t, sts, "target-agent")
	serverC := containerNamed(t, sts, "honua-server")
	if strings.Join(agentC.Args, " ") != "target-agent" {
		t.Errorf("the agent container's args are %q; want [target-agent]", agentC.Args)
	}

	cfg := targetagent.DefaultConfig()
	opts := map[string]targetagent.Option{}
	for _, o := range targetagent.Options() {
		opts[o.Env()] = o
	}
	env := map[string]string{}
	for _, e := range agentC.Env {
		o, ok := opts[e.Name]
		if !ok || o.Field(&cfg) == nil {
			t.Errorf("the agent container sets %s, which honuad target-agent does not read", e.Name)
			continue
		}
		env[e.Name] = e.Value
		setOption(t, o, &cfg, e.Value)
	}

	// The folder: on an emptyDir that both containers mount at one path.
	var shared string
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.EmptyDir == nil {
			continue
		}
		a, aRO := mountOf(agentC, v.Name)
		s, _ := mountOf(serverC, v.Name)
		if a != "" && a == s && !aRO && strings.HasPrefix(cfg.Dir, a+"/") && path.Dir(cfg.Dir) == a {
			shared = v.Name
		}
	}
	if shared == "" {
		t.Errorf("--dir %s is not directly under an emptyDir that the agent may write and the Honua server mounts at the same path", cfg.Dir)
	}

	// The Secrets and files, as deploy/README.md makes them.
	secrets := runSections(t, walkthroughSection{"Kubernetes", "honua"}, walkthroughSection{"Honua servers on Kubernetes", ns})
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			if _, ok := secrets[v.Secret.SecretName]; !ok {
				t.Errorf("the StatefulSet mounts Secret %s, which deploy/README.md does not create", v.Secret.SecretName)
			}
		}
	}
	made := podFiles(sts, secrets)
	dir := t.TempDir()
	for _, p := range []*string{&cfg.TLSCAFile, &cfg.TLSCertFile, &cfg.TLSKeyFile} {
		local, ok := made[*p]
		if !ok {
			t.Errorf("%s is not a key of a Secret that deploy/README.md creates", *p)
			continue
		}
		*p = local
	}
	if cfg.TokensFile == "" {
		t.Error("the agent has no tokens file: it would accept no bundle")
	} else {
		_, entry, err := rpc.NewToken("honuad", rpc.RoleAdmin, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg.TokensFile = filepath.Join(dir, "tokens.yaml")
		if err := os.WriteFile(cfg.TokensFile, []byte("tokens:\n"+entry), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Dir = filepath.Join(dir, "srv", "metadata")
	if err := os.MkdirAll(filepath.Dir(cfg.Dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("honuad target-agent refuses the pod's configuration: %v", err)
	}

	// Every production target of honuad.yaml is one pod's agent, and the
	// agents' certificate carries its host.
	targets := loadConfig(t, configFile(t, build(t))).Environments[strings.TrimPrefix(ns, "honua-")].Targets
	if sts.Spec.Replicas == nil || len(targets) != int(*sts.Spec.Replicas) {
		t.Errorf("honuad.yaml lists %d targets for %s; the StatefulSet has %s pods", len(targets), ns, val(sts.Spec.Replicas))
	}
	var cert *x509.Certificate
	if f, ok := made["/etc/honua/agent-tls/tls.crt"]; ok {
		cert = readCert(t, f)
	}
	seen := map[string]bool{}
	for i, tg := range targets {
		u, err := url.Parse(tg.URL)
		if err != nil || tg.Type != "http" || u.Scheme != "https" || u.Path != "/v1/bundle" || u.Port() != strconv.Itoa(agentPort) {
			t.Errorf("target %d: %s %q; want an https http target at port %d, /v1/bundle", i, tg.Type, tg.URL, agentPort)
			continue
		}
		var n int
		if _, err := fmt.Sscanf(u.Hostname(), sts.Name+"-%d."+sts.Spec.ServiceName+"."+ns+".svc.cluster.local", &n); err != nil ||
			u.Hostname() != fmt.Sprintf("%s-%d.%s.%s.svc.cluster.local", sts.Name, n, sts.Spec.ServiceName, ns) || n >= len(targets) || seen[u.Hostname()] {
			t.Errorf("target %d: host %s is not a distinct pod of StatefulSet %s under Service %s in %s", i, u.Hostname(), sts.Name, sts.Spec.ServiceName, ns)
		}
		seen[u.Hostname()] = true
		if cert != nil {
			if err := cert.VerifyHostname(u.Hostname()); err != nil {
				t.Errorf("target %d: the agents' certificate from deploy/README.md: %v", i, err)
			}
		}
		if tg.TokenFile == "" || tg.CAFile == "" {
			t.Errorf("target %d: tokenFile %q, caFile %q; want both", i, tg.TokenFile, tg.CAFile)
		}
	}
}

// TestHonuaServerService: the headless Service names each pod, publishes
// pods not yet Ready (a server is not Ready before its first bundle) and
// carries the agent's port; the NetworkPolicy opens it only to honuad.
func TestHonuaServerService(t *testing.T) {
	b := buildServer(t)
	sts := one(t, "StatefulSet", b.statefulSets)
	svc, ok := b.services[sts.Spec.ServiceName]
	if !ok {
		t.Fatalf("no Service %s, the StatefulSet's serviceName", sts.Spec.ServiceName)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: clusterIP %q, publishNotReadyAddresses %v; want headless, publishing pods not Ready", svc.Name, svc.Spec.ClusterIP, svc.Spec.PublishNotReadyAddresses)
	}
	if !selects(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, sts.Spec.Template.Labels) {
		t.Errorf("Service %s selects %v, not the pods %v", svc.Name, svc.Spec.Selector, sts.Spec.Template.Labels)
	}
	found := false
	for _, p := range svc.Spec.Ports {
		found = found || (p.Port == agentPort && p.TargetPort.String() == "agent")
	}
	if !found {
		t.Errorf("Service %s does not carry the agent's port %d", svc.Name, agentPort)
	}
	np := one(t, "NetworkPolicy", b.networkPolicy)
	if !selects(t, &np.Spec.PodSelector, sts.Spec.Template.Labels) {
		t.Fatalf("NetworkPolicy selects %v, not the pods", np.Spec.PodSelector)
	}
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port.IntValue() != agentPort {
				continue
			}
			if len(rule.From) == 0 {
				t.Errorf("the agent's port is open to anyone")
			}
			for _, f := range rule.From {
				if f.NamespaceSelector == nil || f.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != "honua" ||
					f.PodSelector == nil || f.PodSelector.MatchLabels["app.kubernetes.io/name"] != "honuad" {
					t.Errorf("the agent's port is open to %+v; want honuad's pods in namespace honua only", f)
				}
			}
		}
	}
}

// setOption sets o's field of cfg from an environment variable's value.
func setOption(t *testing.T, o targetagent.Option, cfg *targetagent.Config, v string) {
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
		t.Fatalf("%s: a field of type %T this test does not set", o.Env(), p)
	}
	if err != nil {
		t.Errorf("%s=%q: %v", o.Env(), v, err)
	}
}
