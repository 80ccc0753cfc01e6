package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCreateCA(t *testing.T) {
	certPEM, keyPEM, err := CreateCA("Test CA", 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ca := mustParse(t, certPEM)
	if !ca.IsCA || !ca.BasicConstraintsValid || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CreateCA made IsCA %v, basic constraints %v, key usage %b; want a CA that signs certificates",
			ca.IsCA, ca.BasicConstraintsValid, ca.KeyUsage)
	}
	if ca.Subject.CommonName != "Test CA" {
		t.Errorf("CA common name = %q; want %q", ca.Subject.CommonName, "Test CA")
	}
	if d := ca.NotAfter.Sub(ca.NotBefore); d < 48*time.Hour || d > 48*time.Hour+backdate+time.Minute {
		t.Errorf("CA valid for %v; want 48h (and %v backdated)", d, backdate)
	}
	if !strings.HasPrefix(string(keyPEM), "-----BEGIN PRIVATE KEY-----") {
		t.Errorf("CA key is not PKCS #8 PEM: %.40q", keyPEM)
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		t.Errorf("CA key is %T; want ECDSA P-256", key)
	}
	if _, err := ca.Verify(x509.VerifyOptions{Roots: poolOf(ca)}); err != nil {
		t.Errorf("the CA does not verify against itself: %v", err)
	}
	for _, tt := range []struct {
		name     string
		validity time.Duration
	}{{"", time.Hour}, {"x", 0}, {"x", -time.Hour}} {
		if _, _, err := CreateCA(tt.name, tt.validity); err == nil {
			t.Errorf("CreateCA(%q, %v) made a CA; want an error", tt.name, tt.validity)
		}
	}
}

func TestCreateCert(t *testing.T) {
	ca := newCA(t, "Test CA")
	certPEM, _ := ca.issue(t, CertOptions{Name: "node1", Server: true, Validity: time.Hour,
		DNS: []string{"node1.example.com"}, IPs: []net.IP{net.ParseIP("10.0.0.11")}})
	srv := mustParse(t, certPEM)
	if srv.Subject.CommonName != "node1" {
		t.Errorf("server certificate common name = %q; want node1", srv.Subject.CommonName)
	}
	for _, n := range []string{ServerName, "localhost", "node1.example.com"} {
		if !slices.Contains(srv.DNSNames, n) {
			t.Errorf("server certificate DNS names %v lack %s", srv.DNSNames, n)
		}
	}
	for _, ip := range []string{"127.0.0.1", "10.0.0.11"} {
		if err := srv.VerifyHostname(ip); err != nil {
			t.Errorf("server certificate (IPs %v) does not carry %s: %v", srv.IPAddresses, ip, err)
		}
	}
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := srv.Verify(x509.VerifyOptions{Roots: poolOf(ca.cert), KeyUsages: []x509.ExtKeyUsage{u}, DNSName: ServerName}); err != nil {
			t.Errorf("server certificate does not verify for usage %v: %v", u, err)
		}
	}
	if srv.IsCA {
		t.Error("server certificate is a CA")
	}

	certPEM, _ = ca.client(t, "alice")
	cli := mustParse(t, certPEM)
	if _, err := cli.Verify(x509.VerifyOptions{Roots: poolOf(ca.cert), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify for client auth: %v", err)
	}
	if _, err := cli.Verify(x509.VerifyOptions{Roots: poolOf(ca.cert), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("client certificate verifies for server auth; it must not be able to serve")
	}
	if cli.VerifyHostname(ServerName) == nil {
		t.Errorf("client certificate carries %s (DNS names %v)", ServerName, cli.DNSNames)
	}

	other := newCA(t, "Other CA")
	for _, tt := range []struct {
		name   string
		caKey  []byte
		opts   CertOptions
		reason string
		kind   error
	}{
		{"no name", ca.keyPEM, CertOptions{Server: true, Validity: time.Hour}, "name is empty", nil},
		{"neither server nor client", ca.keyPEM, CertOptions{Name: "x", Validity: time.Hour}, "choose a server or a client", nil},
		{"both server and client", ca.keyPEM, CertOptions{Name: "x", Server: true, Client: true, Validity: time.Hour}, "choose a server or a client", nil},
		{"no validity", ca.keyPEM, CertOptions{Name: "x", Server: true}, "not positive", nil},
		{"outliving its CA", ca.keyPEM, CertOptions{Name: "x", Server: true, Validity: 1000 * time.Hour}, "after its ca", ErrOutlivesCA},
		{"another CA's key", other.keyPEM, CertOptions{Name: "x", Server: true, Validity: time.Hour}, "does not belong to the ca", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := CreateCert(ca.certPEM, tt.caKey, tt.opts)
			wantErr(t, "CreateCert", err, tt.kind, tt.reason)
		})
	}
	if _, _, err := CreateCert(certPEM, ca.keyPEM, CertOptions{Name: "x", Server: true, Validity: time.Hour}); err == nil ||
		!strings.Contains(err.Error(), "no ca certificate") {
		t.Errorf("CreateCert with a leaf as the CA = %v; want an error saying it holds no ca certificate", err)
	}
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
