package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/certs"
)

// honuad runs honuad's command line in-process and returns its exit code
// and error.
func honuad(t *testing.T, args ...string) (int, error) {
	t.Helper()
	app := newApp()
	app.Writer = io.Discard
	err := app.Run(append([]string{"honuad"}, args...))
	return exitCode(err), err
}

// mustRun runs honuad and fails the test unless it succeeds.
func mustRun(t *testing.T, args ...string) {
	t.Helper()
	if code, err := honuad(t, args...); code != 0 {
		t.Fatalf("honuad %s: exit %d: %v", strings.Join(args, " "), code, err)
	}
}

// wantMode fails unless path exists with permissions mode.
func wantMode(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != mode {
		t.Errorf("%s has mode %v; want %v", filepath.Base(path), fi.Mode().Perm(), mode)
	}
}

// TestTLSCommands: a CA, two nodes' certificates and a client's made by
// honuad tls, used in real handshakes.
func TestTLSCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls") // created by the command
	mustRun(t, "tls", "ca", "create", "--dir", dir)
	ca := filepath.Join(dir, "honua-ca.pem")
	wantMode(t, ca, 0o644)
	wantMode(t, filepath.Join(dir, "honua-ca-key.pem"), 0o600)
	mustRun(t, "tls", "cert", "create", "--server", "--node", "node1", "--dir", dir,
		"--dns", "node1.example.com", "--ip", "10.0.0.11", "--ip", "fd00::11")
	mustRun(t, "tls", "cert", "create", "--server", "--node", "node2", "--dir", dir, "--days", "30")
	mustRun(t, "tls", "cert", "create", "--client", "--name", "alice", "--dir", dir)
	for _, f := range []string{"server-node1", "server-node2", "client-alice"} {
		wantMode(t, filepath.Join(dir, f+".pem"), 0o644)
		wantMode(t, filepath.Join(dir, f+"-key.pem"), 0o600)
	}

	node1 := readCert(t, filepath.Join(dir, "server-node1.pem"))
	for _, n := range []string{certs.ServerName, "localhost", "node1.example.com"} {
		if !slices.Contains(node1.DNSNames, n) {
			t.Errorf("server-node1.pem carries DNS names %v; want %s among them", node1.DNSNames, n)
		}
	}
	for _, ip := range []string{"127.0.0.1", "10.0.0.11", "fd00::11"} {
		if node1.VerifyHostname(ip) != nil {
			t.Errorf("server-node1.pem carries IPs %v; want %s among them", node1.IPAddresses, ip)
		}
	}
	if d := time.Until(node1.NotAfter); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Errorf("server-node1.pem is valid for %v more; want the default 365 days", d)
	}
	if d := time.Until(readCert(t, filepath.Join(dir, "server-node2.pem")).NotAfter); d > 31*24*time.Hour {
		t.Errorf("server-node2.pem (--days 30) is valid for %v more", d)
	}
	if d := time.Until(readCert(t, ca).NotAfter); d < 1824*24*time.Hour || d > 1826*24*time.Hour {
		t.Errorf("honua-ca.pem is valid for %v more; want the default 1825 days", d)
	}

	store := func(node string) *certs.Store {
		s, err := certs.Load(certs.Config{CAFile: ca, CertFile: filepath.Join(dir, "server-"+node+".pem"),
			KeyFile: filepath.Join(dir, "server-"+node+"-key.pem"), VerifyServerHostname: true, ClientAuth: certs.ClientAuthRequire}, nil)
		if err != nil {
			t.Fatalf("Load %s: %v", node, err)
		}
		return s
	}
	s1, s2 := store("node1"), store("node2")
	if err := handshake(t, s1.PeerServer(), s2.PeerClient()); err != nil {
		t.Errorf("node2 dialling node1's raft: %v", err)
	}
	alice, err := certs.Client(certs.ClientOptions{CAFile: ca, CertFile: filepath.Join(dir, "client-alice.pem"),
		KeyFile: filepath.Join(dir, "client-alice-key.pem")})
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, s1.APIServer(), alice); err != nil {
		t.Errorf("alice dialling node1's API: %v", err)
	}
	if err := handshake(t, s1.PeerServer(), alice); err == nil {
		t.Error("alice's client certificate was accepted by node1's raft")
	}
}

// TestTLSCommandsRefuseToOverwrite: existing files are kept unless --force,
// and nothing is half written.
func TestTLSCommandsRefuseToOverwrite(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "tls", "ca", "create", "--dir", dir)
	caKey := filepath.Join(dir, "honua-ca-key.pem")
	before, err := os.ReadFile(caKey)
	if err != nil {
		t.Fatal(err)
	}
	code, err := honuad(t, "tls", "ca", "create", "--dir", dir)
	if code != 1 || err == nil || !strings.Contains(err.Error(), "exists") || !strings.Contains(err.Error(), "--force") {
		t.Errorf("a second tls ca create = exit %d, %v; want exit 1 saying the file exists and --force", code, err)
	}
	if after, _ := os.ReadFile(caKey); !bytes.Equal(before, after) {
		t.Error("a refused tls ca create changed the CA key")
	}

	// Only the key exists: the certificate is not written either.
	mustRun(t, "tls", "cert", "create", "--client", "--name", "bob", "--dir", dir)
	if err := os.Remove(filepath.Join(dir, "client-bob.pem")); err != nil {
		t.Fatal(err)
	}
	if code, err := honuad(t, "tls", "cert", "create", "--client", "--name", "bob", "--dir", dir); code != 1 {
		t.Errorf("tls cert create over an existing key = exit %d, %v; want 1", code, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "client-bob.pem")); !os.IsNotExist(err) {
		t.Errorf("a refused tls cert create wrote the certificate (stat: %v)", err)
	}

	mustRun(t, "tls", "ca", "create", "--dir", dir, "--force")
	if after, _ := os.ReadFile(caKey); bytes.Equal(before, after) {
		t.Error("tls ca create --force kept the old CA key")
	}
	wantMode(t, caKey, 0o600)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), "tmp") {
			t.Errorf("a temporary file is left behind: %s", e.Name())
		}
	}
}

func TestTLSCommandsExitCodes(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "tls", "ca", "create", "--dir", dir)
	cert := []string{"tls", "cert", "create", "--dir", dir}
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"ca create with an argument", []string{"tls", "ca", "create", "extra"}, 2, "no arguments"},
		{"ca create for no days", []string{"tls", "ca", "create", "--dir", dir, "--days", "0"}, 2, "--days"},
		{"ca create without a name", []string{"tls", "ca", "create", "--dir", dir, "--name", ""}, 2, "--name"},
		{"cert create, neither server nor client", cert, 2, "--server or --client"},
		{"cert create, both server and client", append(cert, "--server", "--client", "--node", "n1"), 2, "--server or --client"},
		{"server without a node", append(cert, "--server"), 2, "--node"},
		{"client without a name", append(cert, "--client"), 2, "--name"},
		{"server named with --name", append(cert, "--server", "--node", "n1", "--name", "x"), 2, "--name"},
		{"client with --node", append(cert, "--client", "--name", "a", "--node", "n1"), 2, "--node"},
		{"a node name that is a path", append(cert, "--server", "--node", "../n1"), 2, "--node"},
		{"a bad IP", append(cert, "--server", "--node", "n1", "--ip", "10.0.0.300"), 2, `--ip "10.0.0.300"`},
		{"a bad DNS name", append(cert, "--server", "--node", "n1", "--dns", "a b"), 2, `--dns "a b"`},
		{"no days", append(cert, "--server", "--node", "n1", "--days", "-1"), 2, "--days"},
		{"unknown flag", append(cert, "--bogus"), 2, "bogus"},
		{"no CA", append(cert, "--server", "--node", "n1", "--ca", filepath.Join(dir, "nope.pem")), 1, "nope.pem"},
		{"outliving the CA", append(cert, "--server", "--node", "n1", "--days", "4000"), 2, "--days 4000"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, err := honuad(t, tt.args...)
			if code != tt.code || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("honuad %s = exit %d, %v; want exit %d saying %q", strings.Join(tt.args, " "), code, err, tt.code, tt.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("the refused commands left files behind: %v", entries)
	}
}

// readCert parses the certificate of a PEM file.
func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s does not start with a PEM CERTIFICATE", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// handshake makes one TLS connection over loopback, dialling 127.0.0.1,
// and returns the first error of either side (a refused client
// certificate shows when the client reads).
func handshake(t *testing.T, srv, cli *tls.Config) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute))
		if err := c.(*tls.Conn).Handshake(); err != nil {
			done <- err
			return
		}
		_, err = c.Write([]byte("ok"))
		done <- err
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tc := tls.Client(c, cli)
	tc.SetDeadline(time.Now().Add(time.Minute))
	_, cerr := io.ReadFull(tc, make([]byte, 2))
	if serr := <-done; serr != nil {
		return serr
	}
	return cerr
}
