package api

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/certs"
)

// pki is a CA with files for one test.
type pki struct {
	t             *testing.T
	dir           string
	caCert, caKey []byte
	caFile        string
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	caCert, caKey, err := certs.CreateCA(name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{t: t, dir: t.TempDir(), caCert: caCert, caKey: caKey}
	p.caFile = p.write("ca.pem", caCert)
	return p
}

func (p *pki) write(name string, b []byte) string {
	p.t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		p.t.Fatal(err)
	}
	return path
}

// issue writes a certificate of p and returns its files.
func (p *pki) issue(o certs.CertOptions) (cert, key string) {
	p.t.Helper()
	o.Validity = 30 * time.Minute
	certPEM, keyPEM, err := certs.CreateCert(p.caCert, p.caKey, o)
	if err != nil {
		p.t.Fatal(err)
	}
	return p.write(o.Name+".pem", certPEM), p.write(o.Name+"-key.pem", keyPEM)
}

// node returns the API server config of a node of p.
func (p *pki) node(name string, auth certs.ClientAuth) *tls.Config {
	p.t.Helper()
	cert, key := p.issue(certs.CertOptions{Name: name, Server: true})
	s, err := certs.Load(certs.Config{CAFile: p.caFile, CertFile: cert, KeyFile: key, VerifyServerHostname: true, ClientAuth: auth}, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	return s.APIServer()
}

// client returns a client's TLS config trusting p, with a client
// certificate when withCert.
func (p *pki) client(withCert bool) *tls.Config {
	p.t.Helper()
	o := certs.ClientOptions{CAFile: p.caFile}
	if withCert {
		o.CertFile, o.KeyFile = p.issue(certs.CertOptions{Name: "alice", Client: true})
	}
	c, err := certs.Client(o)
	if err != nil {
		p.t.Fatal(err)
	}
	return c
}

// statusServer serves a status on a loopback port, over TLS with cfg
// unless it is nil, until the test ends, and returns its address.
func statusServer(t *testing.T, node string, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	srv := &http.Server{ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Honua-Node", node)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"nodeId":"`+node+`"}`)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func status(t *testing.T, cfg Config) (*Status, error) {
	t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.Status(ctx)
}

// TestHTTPSAddresses: https:// addresses are dialled with the TLS config,
// which checks the node's certificate for the CA and server.honua, and
// presents a client certificate to a node that requires one; the client
// still moves on from a node it cannot reach.
func TestHTTPSAddresses(t *testing.T) {
	p := newPKI(t, "Cluster CA")
	n1 := statusServer(t, "n1", p.node("n1", certs.ClientAuthNone))
	st, err := status(t, Config{Addrs: []string{"https://" + n1}, TLS: p.client(false)})
	if err != nil || st.NodeID != "n1" {
		t.Fatalf("status over https = %+v, %v; want n1's", st, err)
	}

	closed := freeAddr(t)
	st, err = status(t, Config{Addrs: []string{"https://" + closed, "https://" + n1}, TLS: p.client(false)})
	if err != nil || st.NodeID != "n1" {
		t.Fatalf("status over https with the first node down = %+v, %v; want n1's", st, err)
	}

	n2 := statusServer(t, "n2", p.node("n2", certs.ClientAuthRequire))
	if _, err := status(t, Config{Addrs: []string{"https://" + n2}, TLS: p.client(false)}); err == nil ||
		!strings.Contains(err.Error(), "client certificate") {
		t.Errorf("status without a client certificate from a node requiring one = %v; want an error saying a client certificate is needed", err)
	}
	st, err = status(t, Config{Addrs: []string{"https://" + n2}, TLS: p.client(true)})
	if err != nil || st.NodeID != "n2" {
		t.Errorf("status with a client certificate = %+v, %v; want n2's", st, err)
	}
}

// TestTLSMismatchIsClear: plain http to a node that speaks TLS, https to
// one that does not, and a node whose certificate is not of the CA given
// each fail with a message that says what to change.
func TestTLSMismatchIsClear(t *testing.T) {
	p := newPKI(t, "Cluster CA")
	tlsNode := statusServer(t, "n1", p.node("n1", certs.ClientAuthNone))
	plainNode := statusServer(t, "n2", nil)
	strange := statusServer(t, "n3", newPKI(t, "Other CA").node("n3", certs.ClientAuthNone))
	for _, tt := range []struct {
		name  string
		addr  string
		tls   *tls.Config
		wants []string
	}{
		{"http to a TLS node", tlsNode, nil, []string{"the server at " + tlsNode + " speaks TLS: use https://" + tlsNode}},
		{"http:// to a TLS node", "http://" + tlsNode, nil, []string{"speaks TLS: use https://" + tlsNode}},
		{"https to a plain node", "https://" + plainNode, p.client(false), []string{"the server at " + plainNode + " does not speak TLS", "http://" + plainNode}},
		{"a node of another CA", "https://" + strange, p.client(false), []string{strange, "certificate", "--ca-file"}},
		{"https to a plain node, no TLS config", "https://" + plainNode, nil, []string{"the server at " + plainNode + " does not speak TLS"}},
		{"a node of a CA the system does not trust", "https://" + strange, nil, []string{strange, "not signed by a CA this client trusts", "--ca-file"}},
	} {
		_, err := status(t, Config{Addrs: []string{tt.addr}, TLS: tt.tls})
		if err == nil {
			t.Errorf("%s: status succeeded", tt.name)
			continue
		}
		for _, w := range tt.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v; want it to say %q", tt.name, err, w)
			}
		}
		var ae *Error
		if errors.As(err, &ae) {
			t.Errorf("%s: %v is an API error; the server never answered as honuad", tt.name, err)
		}
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
