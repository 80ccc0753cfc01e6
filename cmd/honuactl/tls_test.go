package main

import (
	"crypto/tls"
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

// tlsFake serves the fake API over TLS with a node certificate of a new CA
// that requires client certificates when require, and returns the address
// and the directory of the CA's files: ca.pem, and client.pem and
// client-key.pem for a client.
func tlsFake(t *testing.T, f *fakeAPI, require bool) (addr, dir string) {
	t.Helper()
	dir = t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caCert, caKey, err := certs.CreateCA("Test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ca := write("ca.pem", caCert)
	issue := func(o certs.CertOptions, name string) (string, string) {
		o.Validity = 30 * time.Minute
		c, k, err := certs.CreateCert(caCert, caKey, o)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".pem", c), write(name+"-key.pem", k)
	}
	cert, key := issue(certs.CertOptions{Name: "n1", Server: true}, "server")
	issue(certs.CertOptions{Name: "alice", Client: true}, "client")
	cfg := certs.Config{CAFile: ca, CertFile: cert, KeyFile: key, VerifyServerHostname: true}
	if require {
		cfg.ClientAuth = certs.ClientAuthRequire
	}
	store, err := certs.Load(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f.srv.Config.Handler, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(tls.NewListener(ln, store.APIServer()))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), dir
}

// TestTLSFlags: https:// addresses with the CA from --ca-file or
// HONUA_CACERT, a client certificate from flags or the environment, and
// failover between https:// addresses.
func TestTLSFlags(t *testing.T) {
	f := newFakeAPI(t)
	addr, dir := tlsFake(t, f, false)
	ca := filepath.Join(dir, "ca.pem")
	r := invocation{}.run(t, "--addr", "https://"+addr, "--ca-file", ca, "status")
	wantCode(t, r, 0)
	r = invocation{env: map[string]string{"HONUA_CACERT": ca, "HONUA_ADDR": "https://" + deadAddr(t) + ",https://" + addr}}.run(t, "status")
	wantCode(t, r, 0)

	mtls, mdir := tlsFake(t, f, true)
	cert, key := filepath.Join(mdir, "client.pem"), filepath.Join(mdir, "client-key.pem")
	r = invocation{}.run(t, "--addr", "https://"+mtls, "--ca-file", filepath.Join(mdir, "ca.pem"), "status")
	if r.code == 0 || !strings.Contains(r.stderr, "--client-cert") {
		t.Errorf("status without a client certificate from a node requiring one: %s; want a failure naming --client-cert", r)
	}
	r = invocation{}.run(t, "--addr", "https://"+mtls, "--ca-file", filepath.Join(mdir, "ca.pem"),
		"--client-cert", cert, "--client-key", key, "status")
	wantCode(t, r, 0)
	r = invocation{env: map[string]string{"HONUA_CACERT": filepath.Join(mdir, "ca.pem"), "HONUA_CLIENT_CERT": cert,
		"HONUA_CLIENT_KEY": key}}.run(t, "--addr", "https://"+mtls, "status")
	wantCode(t, r, 0)
}

// TestTLSMistakes: plain http to a TLS node fails saying to use https://;
// unusable TLS files are a bad command line (exit 2).
func TestTLSMistakes(t *testing.T) {
	f := newFakeAPI(t)
	addr, dir := tlsFake(t, f, false)
	r := invocation{}.run(t, "--addr", addr, "status")
	if r.code != exitRefused || !strings.Contains(r.stderr, "the server at "+addr+" speaks TLS: use https://"+addr) {
		t.Errorf("status over plain http to a TLS node: %s; want exit 1 saying to use https://", r)
	}
	r = invocation{}.run(t, "--addr", "https://"+f.addr(), "--ca-file", filepath.Join(dir, "ca.pem"), "status")
	if r.code == 0 || !strings.Contains(r.stderr, "does not speak TLS") {
		t.Errorf("status over https to a plain node: %s; want a failure saying it does not speak TLS", r)
	}
	for _, args := range [][]string{
		{"--ca-file", filepath.Join(dir, "nope.pem")},
		{"--ca-file", filepath.Join(dir, "ca.pem"), "--client-cert", filepath.Join(dir, "client.pem")},
		{"--client-key", filepath.Join(dir, "client-key.pem")},
	} {
		r := invocation{}.run(t, append(append([]string{"--addr", "https://" + addr}, args...), "status")...)
		if r.code != exitUsage {
			t.Errorf("honuactl %s status: %s; want exit 2", strings.Join(args, " "), r)
		}
	}
}
