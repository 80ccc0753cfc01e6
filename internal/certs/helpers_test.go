package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/honua-io/honua-gitops/test/logbuf"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	certPEM, keyPEM []byte
	cert            *x509.Certificate
	key             crypto.Signer
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	certPEM, keyPEM, err := CreateCA(name, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{certPEM: certPEM, keyPEM: keyPEM}
	if ca.cert, err = parseCA(certPEM); err != nil {
		t.Fatal(err)
	}
	if ca.key, err = parsePrivateKey(keyPEM); err != nil {
		t.Fatal(err)
	}
	return ca
}

// server issues a node certificate named name, valid for an hour.
func (ca *testCA) server(t *testing.T, name string) (certPEM, keyPEM []byte) {
	t.Helper()
	return ca.issue(t, CertOptions{Name: name, Server: true, Validity: time.Hour})
}

// client issues a client certificate named name, valid for an hour.
func (ca *testCA) client(t *testing.T, name string) (certPEM, keyPEM []byte) {
	t.Helper()
	return ca.issue(t, CertOptions{Name: name, Client: true, Validity: time.Hour})
}

func (ca *testCA) issue(t *testing.T, o CertOptions) (certPEM, keyPEM []byte) {
	t.Helper()
	certPEM, keyPEM, err := CreateCert(ca.certPEM, ca.keyPEM, o)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

// sign signs any template with the CA (or self-signs it when ca is nil),
// for certificates CreateCert will not make: expired, not yet valid, odd
// key usages.
func (ca *testCA) sign(t *testing.T, tmpl *x509.Certificate) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.BasicConstraintsValid = true
	parent, signer := tmpl, crypto.Signer(key)
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// leafTemplate is a node certificate's template valid from notBefore to
// notAfter.
func leafTemplate(name string, notBefore, notAfter time.Time) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{ServerName},
	}
}

// writeFile writes data to dir/name and returns its path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// replaceFile writes data beside path and renames it over path, as an
// editor or a deployment tool does.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// nodeConfig writes ca's certificate and the given node certificate and
// key to a new directory and returns the Config naming them, hostname
// verification on.
func nodeConfig(t *testing.T, ca *testCA, certPEM, keyPEM []byte) Config {
	t.Helper()
	dir := t.TempDir()
	return Config{
		CAFile:               writeFile(t, dir, "ca.pem", ca.certPEM),
		CertFile:             writeFile(t, dir, "node.pem", certPEM),
		KeyFile:              writeFile(t, dir, "node-key.pem", keyPEM),
		VerifyServerHostname: true,
	}
}

// load loads a Store for cfg, logging into the test's log.
func load(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Load(cfg, testLogger(t, nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s
}

// testLogger logs through t.Log, and into buf when it is not nil.
func testLogger(t *testing.T, buf *syncBuffer) *slog.Logger {
	var w io.Writer = tWriter{t}
	if buf != nil {
		w = io.MultiWriter(w, buf)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// syncBuffer is a log sink the test reads while others write.
type syncBuffer = logbuf.Buffer

// outcome is what one TLS connection came to on both sides.
type outcome struct {
	clientErr, serverErr error
	serverCert           *x509.Certificate // the server's certificate, as the client saw it
	clientCert           *x509.Certificate // the client's certificate, as the server saw it (nil: none)
	payload              string            // what the client read after the handshake
}

func (o outcome) ok() bool { return o.clientErr == nil && o.serverErr == nil }

func (o outcome) String() string {
	return fmt.Sprintf("client error %v, server error %v", o.clientErr, o.serverErr)
}

// serveOnce listens on loopback with srv and answers one connection: the
// handshake, then "hello" when it succeeds. It returns the address and the
// channel the server's side arrives on.
func serveOnce(t *testing.T, srv *tls.Config) (string, <-chan outcome) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		defer func() { done <- o }()
		c, err := ln.Accept()
		if err != nil {
			o.serverErr = err
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		tc.SetDeadline(time.Now().Add(time.Minute))
		if o.serverErr = tc.Handshake(); o.serverErr != nil {
			return
		}
		if pc := tc.ConnectionState().PeerCertificates; len(pc) > 0 {
			o.clientCert = pc[0]
		}
		_, o.serverErr = tc.Write([]byte("hello"))
	}()
	return ln.Addr().String(), done
}

// connect makes one TLS connection from cli to a server with srv over
// loopback, dialling 127.0.0.1 (an address, as a raft peer's from gossip).
func connect(t *testing.T, srv, cli *tls.Config) outcome {
	t.Helper()
	addr, done := serveOnce(t, srv)
	o := dial(t, addr, cli)
	s := <-done
	o.serverErr, o.clientCert = s.serverErr, s.clientCert
	return o
}

// dial makes the client side of a connection: the handshake, then reading
// the server's "hello" (in TLS 1.3 a client learns that the server refused
// its certificate only when it reads).
func dial(t *testing.T, addr string, cli *tls.Config) outcome {
	t.Helper()
	var o outcome
	c, err := net.DialTimeout("tcp", addr, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tc := tls.Client(c, cli)
	tc.SetDeadline(time.Now().Add(time.Minute))
	if o.clientErr = tc.Handshake(); o.clientErr != nil {
		return o
	}
	o.serverCert = tc.ConnectionState().PeerCertificates[0]
	buf := make([]byte, 5)
	if _, o.clientErr = io.ReadFull(tc, buf); o.clientErr == nil {
		o.payload = string(buf)
	}
	return o
}

// mustParse returns the first certificate of a PEM.
func mustParse(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	list, err := parseCertificates(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return list[0]
}

// wantErr fails unless err matches kind and says each of wants.
func wantErr(t *testing.T, what string, err, kind error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error; want %v", what, kind)
		return
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Errorf("%s: error %q does not match %v", what, err, kind)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not say %q", what, err, w)
		}
	}
}
