package kubernetes

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/deploy/internal/walkthrough"
	"github.com/honua-io/honua-gitops/internal/agent"
	"github.com/honua-io/honua-gitops/internal/certs"
	"github.com/honua-io/honua-gitops/internal/gossipkey"
)

// tlsFields are the ConfigMap's settings that make a pod run secured, by
// the name honuad.yaml gives each.
func tlsFields(cfg *agent.Config) map[string]*string {
	return map[string]*string{
		"tls-ca-file":     &cfg.TLSCAFile,
		"tls-cert-file":   &cfg.TLSCertFile,
		"tls-key-file":    &cfg.TLSKeyFile,
		"gossip-key-file": &cfg.GossipKeyFile,
	}
}

// requireSecured fails the test unless the configuration turns TLS and
// gossip encryption on.
func requireSecured(t *testing.T, cfg *agent.Config) {
	t.Helper()
	for field, p := range tlsFields(cfg) {
		if *p == "" {
			t.Errorf("the ConfigMap's honuad.yaml sets no %s: the pods would run %s", field,
				map[bool]string{true: "gossip in the clear", false: "the API and raft in plaintext"}[field == "gossip-key-file"])
		}
	}
	if !cfg.TLSVerifyServerHostname {
		t.Error("tls-verify-server-hostname is off: a client certificate of the CA could pose as a node")
	}
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

// serviceMonitorServerName returns the name the ServiceMonitor checks the
// pods' certificate for.
func serviceMonitorServerName(t *testing.T, sm *monitoringv1.ServiceMonitor) string {
	t.Helper()
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("ServiceMonitor has %d endpoints; want 1", len(sm.Spec.Endpoints))
	}
	tc := sm.Spec.Endpoints[0].TLSConfig
	if tc == nil || tc.ServerName == nil || *tc.ServerName == "" {
		t.Fatal("the ServiceMonitor names no tlsConfig.serverName: Prometheus dials pod IPs, which the certificate cannot carry")
	}
	return *tc.ServerName
}

// TestNodeCertificateNames makes the node certificate as deploy/README.md
// says, and checks that it is what the ConfigMap and the StatefulSet give
// every pod, that it is signed by the CA they give, and that it carries
// every name a pod is reached by: its stable name under the headless
// Service (raft and gossip join by it), the client Service's names, the
// ServiceMonitor's serverName, and server.honua, which nodes check each
// other for.
func TestNodeCertificateNames(t *testing.T) {
	b := build(t)
	sts := one(t, "StatefulSet", b.statefulSets)
	ns := b.namespaces["StatefulSet/"+sts.Name]
	cfg := loadConfig(t, configFile(t, b))
	requireSecured(t, &cfg)
	files := podFiles(sts, runWalkthrough(t, ns))
	local := map[string]string{}
	for field, p := range tlsFields(&cfg) {
		f, ok := files[*p]
		if !ok {
			t.Fatalf("%s %s is not a key of a Secret that deploy/README.md's walkthrough creates and the pods mount (they get %v)", field, *p, files)
		}
		local[field] = f
	}

	cert := readCert(t, local["tls-cert-file"])
	roots := x509.NewCertPool()
	caPEM, err := os.ReadFile(local["tls-ca-file"])
	if err != nil {
		t.Fatal(err)
	}
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("tls-ca-file (%s) holds no certificate", cfg.TLSCAFile)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("the node certificate does not verify against the CA for %v (nodes serve and dial with it): %v", usage, err)
		}
	}

	names := []string{certs.ServerName, serviceMonitorServerName(t, one(t, "ServiceMonitor", b.serviceMonitor))}
	for i := range int(*sts.Spec.Replicas) {
		names = append(names, fmt.Sprintf("%s-%d.%s.%s.svc.cluster.local", sts.Name, i, sts.Spec.ServiceName, ns))
	}
	for name, svc := range b.services {
		if svc.Spec.ClusterIP != "None" {
			names = append(names, name, name+"."+ns, name+"."+ns+".svc", name+"."+ns+".svc.cluster.local")
		}
	}
	// kubectl port-forward, as the walkthrough reaches the API.
	names = append(names, "127.0.0.1")
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		if err := cert.VerifyHostname(name); err != nil {
			t.Errorf("the node certificate (DNS %q, IP %v) does not carry %s: %v", cert.DNSNames, cert.IPAddresses, name, err)
		}
	}
}

// checkSecured checks that the live node serves its API only over TLS,
// with a certificate Prometheus (the CA, serverName) and an operator
// through kubectl port-forward (the CA, 127.0.0.1) accept, and that it
// encrypts gossip with the walkthrough's key.
func checkSecured(t *testing.T, ln *liveNode, serverName string) {
	t.Helper()
	addr := ln.node.APIAddr()
	get := func(tc *tls.Config, url string) (int, error) {
		c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
		resp, err := c.Get(url)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}

	// Go's TLS listener answers plain HTTP with 400.
	if code, err := get(nil, "http://"+addr+"/healthz"); err == nil && code != http.StatusBadRequest {
		t.Errorf("GET http://%s/healthz = %d; want the API to refuse plain HTTP (400)", addr, code)
	}
	// A client that does not trust the CA (the system's roots) fails the
	// handshake.
	if code, err := get(&tls.Config{}, "https://"+addr+"/healthz"); err == nil {
		t.Errorf("GET https://%s/healthz trusting the system's roots = %d; want a failed handshake", addr, code)
	}
	caPEM, err := os.ReadFile(ln.caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	for _, name := range []string{serverName, "127.0.0.1"} {
		code, err := get(&tls.Config{RootCAs: roots, ServerName: name}, "https://"+addr+"/metrics")
		if err != nil || code != http.StatusOK {
			t.Errorf("GET https://%s/metrics trusting the CA, checking the name %s = %d, %v; want 200", addr, name, code, err)
		}
	}

	client, err := api.NewClient(api.Config{Addrs: []string{"https://" + addr}, Token: ln.token, TLS: ln.tls})
	if err != nil {
		t.Fatal(err)
	}
	kr, err := client.Keyring(context.Background())
	if err != nil {
		t.Fatalf("keyring: %v", err)
	}
	keyText, err := os.ReadFile(ln.gossipKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := gossipkey.Parse(keyText)
	if err != nil {
		t.Fatalf("the walkthrough's gossip key: %v", err)
	}
	if !kr.Encrypted || kr.Primary != gossipkey.Fingerprint(key) {
		t.Errorf("keyring: encrypted %v, primary %q; want gossip encrypted with the walkthrough's key %q", kr.Encrypted, kr.Primary, gossipkey.Fingerprint(key))
	}

	if _, body := ln.get(t, "/metrics"); !strings.Contains(string(body), "\nhonua_tls_certificate_expiry_timestamp_seconds") {
		t.Error("/metrics has no honua_tls_certificate_expiry_timestamp_seconds: nothing to alert on before the certificate expires")
	}
}
