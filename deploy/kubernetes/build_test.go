package kubernetes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// built is what kubectl kustomize makes of this directory, each object
// decoded into its API type.
type built struct {
	configMaps     []*corev1.ConfigMap
	services       map[string]*corev1.Service
	statefulSets   []*appsv1.StatefulSet
	pdbs           []*policyv1.PodDisruptionBudget
	networkPolicy  []*networkingv1.NetworkPolicy
	serviceMonitor []*monitoringv1.ServiceMonitor
	rules          []*monitoringv1.PrometheusRule
	namespaces     map[string]string // "Kind/name" → metadata.namespace
}

var kustomized struct {
	once sync.Once
	out  []byte
	err  error
}

// requireKubectl skips the test, loudly, when kubectl is not on PATH.
func requireKubectl(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("kubectl"); err != nil {
		msg := "kubectl is not on PATH: the Kubernetes manifests are NOT checked " +
			"(Debian package \"kubernetes-client\": apt-get install kubernetes-client)"
		fmt.Fprintln(os.Stderr, "SKIP:", msg)
		t.Skip(msg)
	}
}

// kustomize runs kubectl kustomize on this directory, once per process.
func kustomize(t *testing.T) []byte {
	t.Helper()
	requireKubectl(t)
	kustomized.once.Do(func() {
		var stderr bytes.Buffer
		cmd := exec.Command("kubectl", "kustomize", ".")
		cmd.Stderr = &stderr
		kustomized.out, kustomized.err = cmd.Output()
		if kustomized.err != nil {
			kustomized.err = fmt.Errorf("kubectl kustomize .: %w\n%s", kustomized.err, stderr.Bytes())
		}
	})
	if kustomized.err != nil {
		t.Fatal(kustomized.err)
	}
	return kustomized.out
}

// documents splits a YAML stream into its documents.
func documents(stream []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) > 0 {
			docs = append(docs, doc)
		}
	}
}

// typeMeta is the part of every object that says what it is.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// decode decodes every document of the stream into the API type of its
// apiVersion and kind, refusing unknown and duplicate fields.
func decode(stream []byte) (*built, error) {
	docs, err := documents(stream)
	if err != nil {
		return nil, err
	}
	b := &built{services: map[string]*corev1.Service{}, namespaces: map[string]string{}}
	var errs []error
	for i, doc := range docs {
		var tm typeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", i, err))
			continue
		}
		what := fmt.Sprintf("%s %s/%s", tm.APIVersion, tm.Kind, tm.Metadata.Name)
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "v1 ConfigMap":
			o := &corev1.ConfigMap{}
			b.configMaps, obj = append(b.configMaps, o), o
		case "v1 Service":
			o := &corev1.Service{}
			b.services[tm.Metadata.Name], obj = o, o
		case "apps/v1 StatefulSet":
			o := &appsv1.StatefulSet{}
			b.statefulSets, obj = append(b.statefulSets, o), o
		case "policy/v1 PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			b.pdbs, obj = append(b.pdbs, o), o
		case "networking.k8s.io/v1 NetworkPolicy":
			o := &networkingv1.NetworkPolicy{}
			b.networkPolicy, obj = append(b.networkPolicy, o), o
		case "monitoring.coreos.com/v1 ServiceMonitor":
			o := &monitoringv1.ServiceMonitor{}
			b.serviceMonitor, obj = append(b.serviceMonitor, o), o
		case "monitoring.coreos.com/v1 PrometheusRule":
			o := &monitoringv1.PrometheusRule{}
			b.rules, obj = append(b.rules, o), o
		default:
			errs = append(errs, fmt.Errorf("%s: a kind these tests do not know; add its API type to decode", what))
			continue
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
		b.namespaces[tm.Kind+"/"+tm.Metadata.Name] = tm.Metadata.Namespace
	}
	return b, errors.Join(errs...)
}

// build returns the decoded output of kubectl kustomize, failing the test
// on any object that does not decode strictly.
func build(t *testing.T) *built {
	t.Helper()
	b, err := decode(kustomize(t))
	if err != nil {
		t.Fatalf("kubectl kustomize output does not decode strictly into the API types:\n%v", err)
	}
	return b
}

// one returns the only element of objs, failing the test otherwise.
func one[T any](t *testing.T, kind string, objs []T) T {
	t.Helper()
	if len(objs) != 1 {
		t.Fatalf("kubectl kustomize made %d %s objects; want 1", len(objs), kind)
	}
	return objs[0]
}

func TestKustomizeBuildsStrictlyDecodedObjects(t *testing.T) {
	b := build(t)
	counts := map[string]int{
		"ConfigMap": len(b.configMaps), "Service": len(b.services), "StatefulSet": len(b.statefulSets),
		"PodDisruptionBudget": len(b.pdbs), "NetworkPolicy": len(b.networkPolicy),
		"ServiceMonitor": len(b.serviceMonitor), "PrometheusRule": len(b.rules),
	}
	want := map[string]int{
		"ConfigMap": 1, "Service": 2, "StatefulSet": 1, "PodDisruptionBudget": 1, "NetworkPolicy": 1,
		"ServiceMonitor": 1, "PrometheusRule": 1,
	}
	for kind, n := range want {
		if counts[kind] != n {
			t.Errorf("kubectl kustomize made %d %s objects; want %d", counts[kind], kind, n)
		}
	}
	for obj, ns := range b.namespaces {
		if ns != "honua" {
			t.Errorf("%s is in namespace %q; want honua (the kustomization's)", obj, ns)
		}
	}
}

// TestDecodeRefusesUnknownFields makes sure the strict decoding above would
// catch a misspelt field, so that its passing means something.
func TestDecodeRefusesUnknownFields(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec: {replica: 3}\n",
		"apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: x}\nspec: {groups: [{name: g, rules: [{alert: A, expr: up, fro: 5m}]}]}\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {clusterIP: None, clusterIP: None}\n",
	} {
		if _, err := decode([]byte(doc)); err == nil {
			t.Errorf("decode(%q) = nil error; want an unknown or duplicate field refused", doc)
		}
	}
}
