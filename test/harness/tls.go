package harness

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"time"

	"github.com/honua-io/honua-gitops/internal/certs"
)

// TLSFiles are the three files a node is given with --tls-ca-file,
// --tls-cert-file and --tls-key-file.
type TLSFiles struct {
	CA, Cert, Key string
}

// args returns the flags that give a node f.
func (f TLSFiles) args() []string {
	return []string{"--tls-ca-file", f.CA, "--tls-cert-file", f.Cert, "--tls-key-file", f.Key}
}

// PKI is a certificate authority made for a test: it writes its CA
// certificate and the certificates it issues as PEM files into a directory.
type PKI struct {
	t      TB
	dir    string
	caCert []byte
	caKey  []byte
	// CAFile holds the CA certificate.
	CAFile string
}

// pkiValidity is how long a test CA and its certificates are valid.
const pkiValidity = 24 * time.Hour

// NewPKI makes a CA named name and writes its certificate to
// dir/<name>-ca.pem.
func NewPKI(t TB, dir, name string) *PKI {
	t.Helper()
	caCert, caKey, err := certs.CreateCA(name, pkiValidity)
	if err != nil {
		t.Fatalf("create CA %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create CA %s: %v", name, err)
	}
	p := &PKI{t: t, dir: dir, caCert: caCert, caKey: caKey}
	p.CAFile = p.write(name+"-ca.pem", caCert)
	return p
}

// CACert returns the CA certificate, PEM-encoded.
func (p *PKI) CACert() []byte { return p.caCert }

// Issue makes a certificate of the CA (valid for a day unless o says) and
// returns it and its key, PEM-encoded, without writing them.
func (p *PKI) Issue(o certs.CertOptions) (certPEM, keyPEM []byte) {
	p.t.Helper()
	if o.Validity == 0 {
		o.Validity = pkiValidity - time.Hour
	}
	certPEM, keyPEM, err := certs.CreateCert(p.caCert, p.caKey, o)
	if err != nil {
		p.t.Fatalf("issue a certificate for %s: %v", o.Name, err)
	}
	return certPEM, keyPEM
}

// Server issues a node certificate for id, writes it, and returns the
// node's three files: its CA file is a copy of the CA certificate of its
// own, so that a test can rotate one node's CA file alone.
func (p *PKI) Server(id string) TLSFiles {
	p.t.Helper()
	certPEM, keyPEM := p.Issue(certs.CertOptions{Name: id, Server: true})
	return TLSFiles{
		CA:   p.write("ca-of-"+id+".pem", p.caCert),
		Cert: p.write("server-"+id+".pem", certPEM),
		Key:  p.write("server-"+id+"-key.pem", keyPEM),
	}
}

// Client issues a client certificate named name, writes it, and returns
// its files.
func (p *PKI) Client(name string) (cert, key string) {
	p.t.Helper()
	certPEM, keyPEM := p.Issue(certs.CertOptions{Name: name, Client: true})
	return p.write("client-"+name+".pem", certPEM), p.write("client-"+name+"-key.pem", keyPEM)
}

// ClientTLS returns the TLS config of an API client that trusts the CA.
func (p *PKI) ClientTLS() *tls.Config {
	p.t.Helper()
	return clientTLS(p.t, p.CAFile)
}

func clientTLS(t TB, caFile string) *tls.Config {
	t.Helper()
	cfg, err := certs.Client(certs.ClientOptions{CAFile: caFile})
	if err != nil {
		t.Fatalf("client tls config of %s: %v", caFile, err)
	}
	return cfg
}

func (p *PKI) write(name string, data []byte) string {
	p.t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		p.t.Fatalf("write %s: %v", path, err)
	}
	return path
}
