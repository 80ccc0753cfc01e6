package certs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// opensslDir returns a function running openssl in a new directory, or
// skips the test, loudly, when openssl is not installed.
func opensslDir(t *testing.T) (string, func(args ...string) string) {
	t.Helper()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skipf("SKIPPED: no openssl binary on PATH (%v): certificates made by openssl are not tested", err)
	}
	dir := t.TempDir()
	return dir, func(args ...string) string {
		t.Helper()
		cmd := exec.Command(openssl, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
}

// TestOpenSSLCertificates: a CA and certificates made by openssl, with keys
// in each PEM form openssl writes (PKCS #8 RSA, SEC 1 EC with its
// parameters, PKCS #1 RSA), pass Check and make connections with each
// other and with a certificate CreateCert made from the same CA.
func TestOpenSSLCertificates(t *testing.T) {
	dir, openssl := opensslDir(t)
	openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "30", "-subj", "/CN=OpenSSL CA",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	writeFile(t, dir, "server.cnf", []byte("subjectAltName=DNS:server.honua,DNS:localhost,IP:127.0.0.1\n"+
		"extendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n"))
	writeFile(t, dir, "client.cnf", []byte("extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n"))
	sign := func(name, ext string) {
		openssl("x509", "-req", "-in", name+".csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
			"-out", name+".pem", "-days", "7", "-extfile", ext)
	}
	// node1: RSA, PKCS #8 key.
	openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "node1-key.pem", "-out", "node1.csr", "-subj", "/CN=node1")
	sign("node1", "server.cnf")
	// node2: EC, SEC 1 key with an EC PARAMETERS block before it.
	openssl("ecparam", "-name", "prime256v1", "-genkey", "-out", "node2-key.pem")
	openssl("req", "-new", "-key", "node2-key.pem", "-out", "node2.csr", "-subj", "/CN=node2")
	sign("node2", "server.cnf")
	// alice: a client, PKCS #1 RSA key.
	openssl("genrsa", "-traditional", "-out", "alice-key.pem", "2048")
	openssl("req", "-new", "-key", "alice-key.pem", "-out", "alice.csr", "-subj", "/CN=alice")
	sign("alice", "client.cnf")
	for _, want := range []struct{ file, header string }{
		{"node1-key.pem", "BEGIN PRIVATE KEY"}, {"node2-key.pem", "BEGIN EC PARAMETERS"}, {"alice-key.pem", "BEGIN RSA PRIVATE KEY"},
	} {
		if b, _ := os.ReadFile(filepath.Join(dir, want.file)); !strings.Contains(string(b), want.header) {
			t.Fatalf("openssl wrote %s without %q; the test does not cover what it says", want.file, want.header)
		}
	}

	// node3: made by CreateCert, signed by openssl's CA.
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := os.ReadFile(filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := CreateCert(caPEM, caKey, CertOptions{Name: "node3", Server: true, Validity: 24 * time.Hour})
	if err != nil {
		t.Fatalf("CreateCert with openssl's CA: %v", err)
	}
	writeFile(t, dir, "node3.pem", certPEM)
	writeFile(t, dir, "node3-key.pem", keyPEM)

	stores := map[string]*Store{}
	for _, n := range []string{"node1", "node2", "node3"} {
		cfg := Config{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, n+".pem"),
			KeyFile: filepath.Join(dir, n+"-key.pem"), VerifyServerHostname: true, ClientAuth: ClientAuthRequire}
		if err := cfg.Check(); err != nil {
			t.Fatalf("Check of openssl's %s: %v", n, err)
		}
		stores[n] = load(t, cfg)
	}
	for _, pair := range [][2]string{{"node1", "node2"}, {"node2", "node3"}, {"node3", "node1"}} {
		if o := connect(t, stores[pair[0]].PeerServer(), stores[pair[1]].PeerClient()); !o.ok() {
			t.Errorf("%s dialling %s: %v", pair[1], pair[0], o)
		}
	}
	alice, err := Client(ClientOptions{CAFile: filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, "alice.pem"), KeyFile: filepath.Join(dir, "alice-key.pem")})
	if err != nil {
		t.Fatalf("Client with openssl's files: %v", err)
	}
	if got := get(t, alice, serveAPI(t, stores["node1"])); got != "alice" {
		t.Errorf("openssl's client alice to an API requiring client certificates: got %q; want alice", got)
	}
	if o := connect(t, stores["node1"].PeerServer(), alice); o.ok() {
		t.Error("openssl's client certificate alice joined raft")
	}

	// And openssl accepts what CreateCert makes, for the purposes it has.
	openssl("verify", "-CAfile", "ca.pem", "-purpose", "sslserver", "node3.pem")
	openssl("verify", "-CAfile", "ca.pem", "-purpose", "sslclient", "node3.pem")
}

// TestOpenSSLVerifiesCreatedCertificates: openssl accepts a CA made by
// CreateCA and the server and client certificates CreateCert signs with
// it, each for its purpose only.
func TestOpenSSLVerifiesCreatedCertificates(t *testing.T) {
	dir, openssl := opensslDir(t)
	ca := newCA(t, "Honua GitOps CA")
	writeFile(t, dir, "ca.pem", ca.certPEM)
	srv, _ := ca.server(t, "node1")
	writeFile(t, dir, "server.pem", srv)
	cli, _ := ca.client(t, "alice")
	writeFile(t, dir, "client.pem", cli)
	openssl("verify", "-CAfile", "ca.pem", "-purpose", "sslserver", "server.pem")
	openssl("verify", "-CAfile", "ca.pem", "-purpose", "sslclient", "server.pem")
	openssl("verify", "-CAfile", "ca.pem", "-purpose", "sslclient", "client.pem")
	if out := openssl("x509", "-in", "server.pem", "-noout", "-ext", "subjectAltName"); !strings.Contains(out, "DNS:server.honua") ||
		!strings.Contains(out, "IP Address:127.0.0.1") {
		t.Errorf("openssl reads the server certificate's names as %q; want server.honua and 127.0.0.1", out)
	}
}
