package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/agent"
	"github.com/honua-io/honua-gitops/internal/certs"
)

// TestTLSOptions: the TLS options come from flags, the environment and the
// file as every other option, with hostname verification on by default.
func TestTLSOptions(t *testing.T) {
	def, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if !def.TLSVerifyServerHostname || def.TLSClientAuth != agent.ClientAuth(certs.ClientAuthNone) || def.TLSCAFile != "" {
		t.Errorf("defaults: verify %v, client auth %v, ca %q; want true, none and no TLS",
			def.TLSVerifyServerHostname, def.TLSClientAuth, def.TLSCAFile)
	}
	file := filepath.Join(t.TempDir(), "honuad.yaml")
	if err := os.WriteFile(file, []byte("tls-ca-file: /file/ca.pem\ntls-cert-file: /file/cert.pem\n"+
		"tls-key-file: /file/key.pem\ntls-verify-server-hostname: false\ntls-client-auth: require\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := parse(t, "--config", file)
	if err != nil {
		t.Fatal(err)
	}
	if got.TLSCAFile != "/file/ca.pem" || got.TLSCertFile != "/file/cert.pem" || got.TLSKeyFile != "/file/key.pem" ||
		got.TLSVerifyServerHostname || got.TLSClientAuth != agent.ClientAuth(certs.ClientAuthRequire) {
		t.Errorf("from the file: %+v", got)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("node-id: n1\ntls-client-auth: always\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := parse(t, "--config", bad); err == nil || !strings.Contains(err.Error(), `line 2: "always" is not none, request or require`) {
		t.Errorf("tls-client-auth: always in the file = %v; want an error naming line 2", err)
	}
	t.Setenv("HONUA_TLS_CERT_FILE", "/env/cert.pem")
	t.Setenv("HONUA_TLS_CLIENT_AUTH", "request")
	got, err = parse(t, "--config", file, "--tls-key-file", "/flag/key.pem", "--tls-verify-server-hostname=true")
	if err != nil {
		t.Fatal(err)
	}
	if got.TLSCAFile != "/file/ca.pem" || got.TLSCertFile != "/env/cert.pem" || got.TLSKeyFile != "/flag/key.pem" ||
		!got.TLSVerifyServerHostname || got.TLSClientAuth != agent.ClientAuth(certs.ClientAuthRequest) {
		t.Errorf("file, environment and flags: %+v", got)
	}
}

// TestTLSHalfConfiguredExits2: a node given TLS half configured, files it
// cannot use, or a certificate that expired refuses to start with status
// 2, saying which flag and file and why.
func TestTLSHalfConfiguredExits2(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "tls", "ca", "create", "--dir", dir)
	mustRun(t, "tls", "cert", "create", "--server", "--node", "n1", "--dir", dir)
	mustRun(t, "tls", "cert", "create", "--client", "--name", "alice", "--dir", dir)
	ca, cert, key := filepath.Join(dir, "honua-ca.pem"), filepath.Join(dir, "server-n1.pem"), filepath.Join(dir, "server-n1-key.pem")
	caCert, _ := os.ReadFile(ca)
	caKey, _ := os.ReadFile(filepath.Join(dir, "honua-ca-key.pem"))
	shortPEM, shortKey, err := certs.CreateCert(caCert, caKey, certs.CertOptions{Name: "n1", Server: true, Validity: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	// Backdated by CreateCert, it expired before it was written.
	expired := filepath.Join(dir, "expired.pem")
	expiredKey := filepath.Join(dir, "expired-key.pem")
	if err := os.WriteFile(expired, shortPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(expiredKey, shortKey, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want []string
	}{
		{"a certificate without its key", []string{"--tls-ca-file", ca, "--tls-cert-file", cert},
			[]string{"--tls-ca-file and --tls-cert-file are set but --tls-key-file is not"}},
		{"a key alone", []string{"--tls-key-file", key}, []string{"--tls-key-file is set but --tls-ca-file and --tls-cert-file are not"}},
		{"an unreadable CA file", []string{"--tls-ca-file", filepath.Join(dir, "nope.pem"), "--tls-cert-file", cert, "--tls-key-file", key},
			[]string{"--tls-ca-file", "nope.pem", "no such file"}},
		{"an expired certificate", []string{"--tls-ca-file", ca, "--tls-cert-file", expired, "--tls-key-file", expiredKey},
			[]string{"--tls-cert-file", expired, "expired at"}},
		{"a client certificate", []string{"--tls-ca-file", ca, "--tls-cert-file", filepath.Join(dir, "client-alice.pem"),
			"--tls-key-file", filepath.Join(dir, "client-alice-key.pem")}, []string{"--tls-cert-file", "client-alice.pem"}},
		{"another node's key", []string{"--tls-ca-file", ca, "--tls-cert-file", cert, "--tls-key-file", filepath.Join(dir, "client-alice-key.pem")},
			[]string{"--tls-key-file", "is not the key of the certificate"}},
		{"client auth without TLS", []string{"--tls-client-auth", "require"}, []string{"--tls-client-auth is require but TLS is off"}},
		{"an unknown client auth mode", []string{"--tls-client-auth", "always"}, []string{"tls-client-auth", `"always" is not none, request or require`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"agent", "--node-id", "n1", "--data-dir", filepath.Join(t.TempDir(), "data"),
				"--http-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0"}, tt.args...)
			code, err := honuad(t, args...)
			if code != 2 || err == nil {
				t.Fatalf("honuad %s = exit %d, %v; want exit 2", strings.Join(args, " "), code, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("honuad %s: %v; want it to say %q", strings.Join(tt.args, " "), err, w)
				}
			}
		})
	}
}
