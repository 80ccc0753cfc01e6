package kubernetes

import (
	"fmt"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// honuad's ports, as the README's flags table and the manifests name them.
const (
	apiPort    = 7201
	raftPort   = 7301
	gossipPort = 7401
)

// container returns the StatefulSet's honuad container.
func container(t *testing.T, sts *appsv1.StatefulSet) *corev1.Container {
	t.Helper()
	for i := range sts.Spec.Template.Spec.Containers {
		if c := &sts.Spec.Template.Spec.Containers[i]; c.Name == "honuad" {
			return c
		}
	}
	t.Fatalf("StatefulSet %s has no container named honuad", sts.Name)
	return nil
}

// envVar returns the container's variable name, failing the test if it is
// missing.
func envVar(t *testing.T, c *corev1.Container, name string) corev1.EnvVar {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("container %s sets no %s", c.Name, name)
	return corev1.EnvVar{}
}

// val formats what p points to, for failure messages.
func val[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

// selects reports whether sel matches the pod template's labels.
func selects(t *testing.T, sel *metav1.LabelSelector, podLabels map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("label selector %v: %v", sel, err)
	}
	return !s.Empty() && s.Matches(labels.Set(podLabels))
}

func TestStatefulSet(t *testing.T) {
	b := build(t)
	sts := one(t, "StatefulSet", b.statefulSets)
	spec := sts.Spec
	pod := spec.Template.Spec
	c := container(t, sts)

	if spec.Replicas == nil || *spec.Replicas != 3 {
		t.Errorf("replicas = %s; want 3", val(spec.Replicas))
	}
	if spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy = %q; want Parallel (a pod is Ready only once a quorum runs)", spec.PodManagementPolicy)
	}
	if !selects(t, spec.Selector, spec.Template.Labels) {
		t.Errorf("selector %v does not match the pod template's labels %v", spec.Selector, spec.Template.Labels)
	}
	peers, ok := b.services[spec.ServiceName]
	switch {
	case !ok:
		t.Errorf("serviceName %q names no Service of the build", spec.ServiceName)
	case peers.Spec.ClusterIP != corev1.ClusterIPNone:
		t.Errorf("Service %s (the StatefulSet's serviceName) has clusterIP %q; want None (headless)", peers.Name, peers.Spec.ClusterIP)
	case !peers.Spec.PublishNotReadyAddresses:
		t.Errorf("Service %s does not publish not-ready addresses: pods that wait for a leader could never find each other", peers.Name)
	}
	if c.Image == "" || c.Image == "honuad" {
		t.Errorf("image = %q; want the kustomization's images: entry applied", c.Image)
	}
	if len(c.Command) != 0 || !slices.Equal(c.Args, []string{"agent"}) {
		t.Errorf("command %q args %q; want the image's entrypoint (honuad) with args [agent]", c.Command, c.Args)
	}

	t.Run("probes", func(t *testing.T) {
		ports := map[string]int32{}
		for _, p := range c.Ports {
			if p.Protocol == corev1.ProtocolTCP || p.Protocol == "" {
				ports[p.Name] = p.ContainerPort
			}
		}
		for _, pr := range []struct {
			name  string
			probe *corev1.Probe
			path  string
		}{
			{"readinessProbe", c.ReadinessProbe, "/readyz"},
			{"livenessProbe", c.LivenessProbe, "/healthz"},
			{"startupProbe", c.StartupProbe, "/healthz"},
		} {
			if pr.probe == nil || pr.probe.HTTPGet == nil {
				t.Errorf("%s is not an HTTP GET", pr.name)
				continue
			}
			g := pr.probe.HTTPGet
			port := g.Port.IntVal
			if g.Port.StrVal != "" {
				port = ports[g.Port.StrVal]
			}
			if g.Path != pr.path || port != apiPort {
				t.Errorf("%s = GET %s on port %s (%d); want GET %s on the API port %d", pr.name, g.Path, g.Port.String(), port, pr.path, apiPort)
			}
			// The API speaks only TLS: an HTTP probe would fail forever.
			if g.Scheme != corev1.URISchemeHTTPS {
				t.Errorf("%s scheme = %q; want HTTPS", pr.name, g.Scheme)
			}
		}
	})

	t.Run("ports", func(t *testing.T) {
		want := []string{"TCP/7201", "TCP/7301", "TCP/7401", "UDP/7401"}
		var got []string
		for _, p := range c.Ports {
			got = append(got, fmt.Sprintf("%s/%d", p.Protocol, p.ContainerPort))
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("container ports = %v; want %v (API, raft, gossip over TCP and UDP)", got, want)
		}
	})

	t.Run("securityContext", func(t *testing.T) {
		psc, sc := pod.SecurityContext, c.SecurityContext
		if psc == nil || sc == nil {
			t.Fatalf("pod securityContext %+v, container securityContext %+v; want both", psc, sc)
		}
		if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("runAsNonRoot: pod %s, container %s; want true", val(psc.RunAsNonRoot), val(sc.RunAsNonRoot))
		}
		if sc.RunAsUser == nil || *sc.RunAsUser == 0 {
			t.Errorf("container runAsUser = %s; want a non-root uid", val(sc.RunAsUser))
		}
		if psc.FSGroup == nil {
			t.Errorf("pod fsGroup unset: the non-root user may not write its volume")
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("readOnlyRootFilesystem = %s; want true", val(sc.ReadOnlyRootFilesystem))
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("allowPrivilegeEscalation = %s; want false", val(sc.AllowPrivilegeEscalation))
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("capabilities = %+v; want drop [ALL] and nothing added", sc.Capabilities)
		}
		if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("seccompProfile = %+v; want RuntimeDefault", sc.SeccompProfile)
		}
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
			t.Errorf("automountServiceAccountToken = %s; want false: honuad does not talk to the Kubernetes API", val(pod.AutomountServiceAccountToken))
		}
	})

	t.Run("resources", func(t *testing.T) {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, okr := c.Resources.Requests[name]
			lim, okl := c.Resources.Limits[name]
			if !okr || !okl {
				t.Errorf("%s: request %v, limit %v; want both", name, req.String(), lim.String())
				continue
			}
			if req.Cmp(lim) > 0 {
				t.Errorf("%s: request %s above limit %s", name, req.String(), lim.String())
			}
		}
		// GOMEMLIMIT must sit under the memory limit to be of use.
		soft := envVar(t, c, "GOMEMLIMIT").Value
		q, err := resource.ParseQuantity(strings.TrimSuffix(soft, "B"))
		if err != nil {
			t.Fatalf("GOMEMLIMIT %q: %v", soft, err)
		}
		if lim := c.Resources.Limits[corev1.ResourceMemory]; q.Cmp(lim) >= 0 {
			t.Errorf("GOMEMLIMIT %s is not under the memory limit %s", soft, lim.String())
		}
	})

	t.Run("antiAffinity", func(t *testing.T) {
		if pod.Affinity == nil || pod.Affinity.PodAntiAffinity == nil {
			t.Fatal("no podAntiAffinity")
		}
		var hostname bool
		for _, term := range pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			if term.TopologyKey == corev1.LabelHostname && selects(t, term.LabelSelector, spec.Template.Labels) {
				hostname = true
			}
		}
		if !hostname {
			t.Errorf("no required podAntiAffinity term on %s selecting honuad's own pods", corev1.LabelHostname)
		}
	})

	t.Run("volumes", func(t *testing.T) {
		volumes := map[string]corev1.Volume{}
		for _, v := range pod.Volumes {
			volumes[v.Name] = v
		}
		claims := map[string]bool{}
		for _, vc := range spec.VolumeClaimTemplates {
			claims[vc.Name] = true
			if _, ok := vc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
				t.Errorf("volumeClaimTemplate %s requests no storage", vc.Name)
			}
		}
		mounts := map[string]corev1.VolumeMount{}
		for _, m := range c.VolumeMounts {
			mounts[m.MountPath] = m
			v, isVolume := volumes[m.Name]
			switch {
			case claims[m.Name]:
			case !isVolume:
				t.Errorf("volumeMount %s names no volume or claim template %q", m.MountPath, m.Name)
			case (v.Secret != nil || v.ConfigMap != nil) && !m.ReadOnly:
				t.Errorf("volumeMount %s of a Secret or ConfigMap is not readOnly", m.MountPath)
			}
		}
		dataDir := envVar(t, c, "HONUA_DATA_DIR").Value
		if m, ok := mounts[dataDir]; !ok || !claims[m.Name] || m.ReadOnly {
			t.Errorf("the data dir %s is not a writable mount of a volumeClaimTemplate (mounts %v, claims %v)", dataDir, mounts, claims)
		}
		if m, ok := mounts["/tmp"]; !ok || m.ReadOnly || volumes[m.Name].EmptyDir == nil {
			t.Errorf("/tmp is not a writable emptyDir: the root filesystem is read-only")
		}
		cfgPath := envVar(t, c, "HONUA_CONFIG").Value
		m, ok := mounts[cfgPath[:strings.LastIndex(cfgPath, "/")]]
		if !ok || volumes[m.Name].ConfigMap == nil {
			t.Fatalf("HONUA_CONFIG %s is not in a mounted ConfigMap", cfgPath)
		}
		cm := one(t, "ConfigMap", b.configMaps)
		if volumes[m.Name].ConfigMap.Name != cm.Name {
			t.Errorf("the config volume names ConfigMap %q; the build made %q", volumes[m.Name].ConfigMap.Name, cm.Name)
		}
		if _, ok := cm.Data[cfgPath[strings.LastIndex(cfgPath, "/")+1:]]; !ok {
			t.Errorf("ConfigMap %s has no key for %s", cm.Name, cfgPath)
		}
	})

	t.Run("env", func(t *testing.T) {
		for name, field := range map[string]string{
			"HONUA_NODE_ID": "metadata.name", "HONUA_ADVERTISE_ADDR": "status.podIP", "POD_NAMESPACE": "metadata.namespace",
		} {
			e := envVar(t, c, name)
			if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != field {
				t.Errorf("%s = %+v; want it from the pod's %s", name, e, field)
			}
		}
		if got := envVar(t, c, "HONUA_BOOTSTRAP_EXPECT").Value; got != strconv.Itoa(int(*spec.Replicas)) {
			t.Errorf("HONUA_BOOTSTRAP_EXPECT = %q; want the replicas, %d", got, *spec.Replicas)
		}
		for name, port := range map[string]int{"HONUA_HTTP_ADDR": apiPort, "HONUA_RAFT_ADDR": raftPort, "HONUA_GOSSIP_ADDR": gossipPort} {
			if got, want := envVar(t, c, name).Value, net.JoinHostPort("0.0.0.0", strconv.Itoa(port)); got != want {
				t.Errorf("%s = %q; want %q", name, got, want)
			}
		}
		// The join list: each pod's stable name under the headless
		// Service, with the namespace the pod runs in.
		var want []string
		for i := range int(*spec.Replicas) {
			want = append(want, fmt.Sprintf("%s-%d.%s.$(POD_NAMESPACE).svc.cluster.local:%d", sts.Name, i, spec.ServiceName, gossipPort))
		}
		if got := strings.Split(envVar(t, c, "HONUA_JOIN").Value, ","); !slices.Equal(got, want) {
			t.Errorf("HONUA_JOIN = %q; want %q", got, want)
		}
		// Kubernetes expands $(POD_NAMESPACE) only if it is defined first.
		if slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "POD_NAMESPACE" }) >
			slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "HONUA_JOIN" }) {
			t.Error("POD_NAMESPACE is defined after HONUA_JOIN, which refers to it")
		}
	})
}

func TestClientService(t *testing.T) {
	b := build(t)
	sts := one(t, "StatefulSet", b.statefulSets)
	svc, ok := b.services["honuad"]
	if !ok {
		t.Fatal("no Service honuad for clients")
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		t.Error("the client Service is headless; want a virtual IP")
	}
	if !selects(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, sts.Spec.Template.Labels) {
		t.Errorf("Service honuad selector %v does not match the pods %v", svc.Spec.Selector, sts.Spec.Template.Labels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != apiPort {
		t.Errorf("Service honuad ports = %+v; want only the API, %d", svc.Spec.Ports, apiPort)
	}
}

func TestPodDisruptionBudget(t *testing.T) {
	b := build(t)
	sts := one(t, "StatefulSet", b.statefulSets)
	pdb := one(t, "PodDisruptionBudget", b.pdbs)
	if mu := pdb.Spec.MaxUnavailable; mu == nil || mu.String() != "1" {
		t.Errorf("maxUnavailable = %v; want 1", mu)
	}
	if pdb.Spec.MinAvailable != nil {
		t.Errorf("minAvailable = %v; want only maxUnavailable", pdb.Spec.MinAvailable)
	}
	if !selects(t, pdb.Spec.Selector, sts.Spec.Template.Labels) {
		t.Errorf("PDB selector %v does not match the pods %v", pdb.Spec.Selector, sts.Spec.Template.Labels)
	}
}

func TestNetworkPolicy(t *testing.T) {
	b := build(t)
	sts := one(t, "StatefulSet", b.statefulSets)
	np := one(t, "NetworkPolicy", b.networkPolicy)
	if !selects(t, &np.Spec.PodSelector, sts.Spec.Template.Labels) {
		t.Fatalf("NetworkPolicy selects %v, not the pods %v", np.Spec.PodSelector, sts.Spec.Template.Labels)
	}
	// fromPeers and fromAnyone: the protocol/port pairs each rule opens.
	fromPeers, fromAnyone := map[string]bool{}, map[string]bool{}
	for _, rule := range np.Spec.Ingress {
		dst := fromAnyone
		if len(rule.From) > 0 {
			dst = map[string]bool{}
			peersOnly := true
			for _, f := range rule.From {
				peersOnly = peersOnly && f.PodSelector != nil && f.NamespaceSelector == nil && f.IPBlock == nil &&
					selects(t, f.PodSelector, sts.Spec.Template.Labels)
			}
			if peersOnly {
				dst = fromPeers
			}
		}
		for _, p := range rule.Ports {
			dst[fmt.Sprintf("%s/%s", *p.Protocol, p.Port.String())] = true
		}
	}
	for _, want := range []string{"TCP/7301", "TCP/7401", "UDP/7401"} {
		if !fromPeers[want] {
			t.Errorf("raft and gossip: %s is not open to honuad's pods", want)
		}
		if fromAnyone[want] {
			t.Errorf("%s (raft or gossip) is open beyond honuad's pods", want)
		}
	}
	if !fromAnyone["TCP/7201"] {
		t.Errorf("the API (TCP/7201) is not open to clients")
	}
}

func TestServiceMonitor(t *testing.T) {
	b := build(t)
	sm := one(t, "ServiceMonitor", b.serviceMonitor)
	var scraped []string
	for name, svc := range b.services {
		if selects(t, &sm.Spec.Selector, svc.Labels) {
			scraped = append(scraped, name)
		}
	}
	if len(scraped) != 1 {
		t.Fatalf("ServiceMonitor selects Services %v; want exactly one", scraped)
	}
	svc := b.services[scraped[0]]
	if !svc.Spec.PublishNotReadyAddresses {
		t.Errorf("ServiceMonitor scrapes Service %s, which hides pods that are not Ready: a cluster without a leader would go unseen", svc.Name)
	}
	// The alerts select job="honuad": the job is the value of the
	// Service's jobLabel label.
	if got := svc.Labels[sm.Spec.JobLabel]; sm.Spec.JobLabel == "" || got != "honuad" {
		t.Errorf("jobLabel %q gives job=%q; the alerts expect job=\"honuad\"", sm.Spec.JobLabel, got)
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("ServiceMonitor has %d endpoints; want 1", len(sm.Spec.Endpoints))
	}
	ep := sm.Spec.Endpoints[0]
	var port int32
	for _, p := range svc.Spec.Ports {
		if p.Name == ep.Port {
			port = p.Port
		}
	}
	if port != apiPort || ep.Path != "/metrics" {
		t.Errorf("ServiceMonitor scrapes port %q (%d) path %q; want the API port %d, /metrics", ep.Port, port, ep.Path, apiPort)
	}

	// Over https, trusting the CA the pods are given: the Secret and key
	// mounted where the ConfigMap's tls-ca-file points.
	if ep.Scheme == nil || !strings.EqualFold(string(*ep.Scheme), "https") {
		t.Errorf("ServiceMonitor scheme = %s; want https (the API speaks only TLS)", val(ep.Scheme))
	}
	tc := ep.TLSConfig
	if tc == nil || tc.CA.Secret == nil {
		t.Fatalf("ServiceMonitor tlsConfig %+v names no CA Secret", tc)
	}
	if tc.InsecureSkipVerify != nil && *tc.InsecureSkipVerify {
		t.Error("ServiceMonitor tlsConfig.insecureSkipVerify is on")
	}
	sts := one(t, "StatefulSet", b.statefulSets)
	cfg := loadConfig(t, configFile(t, b))
	var caSecret, caKey string
	for _, m := range container(t, sts).VolumeMounts {
		for _, v := range sts.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil && m.MountPath == path.Dir(cfg.TLSCAFile) {
				caSecret, caKey = v.Secret.SecretName, path.Base(cfg.TLSCAFile)
			}
		}
	}
	if got := tc.CA.Secret; got.Name != caSecret || got.Key != caKey {
		t.Errorf("ServiceMonitor trusts Secret %s key %s; the pods' tls-ca-file %q is Secret %q key %q",
			got.Name, got.Key, cfg.TLSCAFile, caSecret, caKey)
	}
}
