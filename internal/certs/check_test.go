package certs

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

func TestParseClientAuth(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want ClientAuth
	}{{"none", ClientAuthNone}, {"request", ClientAuthRequest}, {"require", ClientAuthRequire}} {
		got, err := ParseClientAuth(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseClientAuth(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if got.String() != tt.in {
			t.Errorf("%v.String() = %q; want %q", got, got.String(), tt.in)
		}
		var u ClientAuth
		if err := u.UnmarshalText([]byte(tt.in)); err != nil || u != tt.want {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", tt.in, u, err, tt.want)
		}
		if b, err := tt.want.MarshalText(); err != nil || string(b) != tt.in {
			t.Errorf("%v.MarshalText() = %q, %v; want %q", tt.want, b, err, tt.in)
		}
	}
	if _, err := ClientAuth(7).MarshalText(); err == nil {
		t.Error("ClientAuth(7).MarshalText() succeeded; want an error")
	}
	for _, in := range []string{"", "Require", "yes", "verify"} {
		if _, err := ParseClientAuth(in); err == nil || !strings.Contains(err.Error(), "none, request or require") {
			t.Errorf("ParseClientAuth(%q) = %v; want an error listing the choices", in, err)
		}
	}
}

func TestCheckHalfConfigured(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"cert without key", Config{CAFile: "ca.pem", CertFile: "n.pem"}, "--tls-ca-file and --tls-cert-file are set but --tls-key-file is not"},
		{"key without cert", Config{CAFile: "ca.pem", KeyFile: "k.pem"}, "--tls-ca-file and --tls-key-file are set but --tls-cert-file is not"},
		{"cert and key without CA", Config{CertFile: "n.pem", KeyFile: "k.pem"}, "--tls-cert-file and --tls-key-file are set but --tls-ca-file is not"},
		{"CA alone", Config{CAFile: "ca.pem"}, "--tls-ca-file is set but --tls-cert-file and --tls-key-file are not"},
		{"cert alone", Config{CertFile: "n.pem"}, "--tls-cert-file is set but --tls-ca-file and --tls-key-file are not"},
		{"client auth without TLS", Config{ClientAuth: ClientAuthRequire}, "--tls-client-auth is require but TLS is off"},
		{"unknown client auth", Config{CAFile: "a", CertFile: "b", KeyFile: "c", ClientAuth: 7}, "--tls-client-auth: unknown mode 7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, "Check", tt.cfg.Check(), ErrIncomplete, tt.want)
			if !tt.cfg.Enabled() {
				tt.want = "tls is off"
			}
			_, err := Load(tt.cfg, nil)
			wantErr(t, "Load", err, ErrIncomplete, tt.want)
		})
	}
	if err := (Config{}).Check(); err != nil {
		t.Errorf("Check of TLS off = %v; want nil", err)
	}
	if (Config{}).Enabled() || (Config{VerifyServerHostname: true}).Enabled() || !(Config{KeyFile: "k"}).Enabled() {
		t.Error("Enabled is wrong: it must be true exactly when a file is set")
	}
}

func TestCheckRefusesBadFiles(t *testing.T) {
	ca := newCA(t, "Test CA")
	other := newCA(t, "Other CA")
	dir := t.TempDir()
	certPEM, keyPEM := ca.server(t, "node1")
	_, otherKey := ca.server(t, "node2")
	otherCert, otherCertKey := other.server(t, "node3")
	clientCert, clientKey := ca.client(t, "alice")
	serverOnlyCert, serverOnlyKey := ca.sign(t, &x509.Certificate{
		Subject: pkix.Name{CommonName: "serve-only"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, DNSNames: []string{ServerName},
	})
	badDER := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")})
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}})

	good := func() Config {
		return Config{
			CAFile:               writeFile(t, dir, "ca.pem", ca.certPEM),
			CertFile:             writeFile(t, dir, "node1.pem", certPEM),
			KeyFile:              writeFile(t, dir, "node1-key.pem", keyPEM),
			VerifyServerHostname: true,
		}
	}
	if err := good().Check(); err != nil {
		t.Fatalf("Check of a sound configuration: %v", err)
	}
	for _, tt := range []struct {
		name  string
		edit  func(c *Config)
		kind  error
		wants []string
	}{
		{"missing CA file", func(c *Config) { c.CAFile = dir + "/nope.pem" }, ErrUnreadable,
			[]string{"--tls-ca-file", dir + "/nope.pem", "no such file"}},
		{"CA file is a directory", func(c *Config) { c.CAFile = dir }, ErrUnreadable, []string{"--tls-ca-file", "is a directory"}},
		{"empty CA file", func(c *Config) { c.CAFile = writeFile(t, dir, "empty.pem", nil) }, ErrMalformed,
			[]string{"--tls-ca-file", "empty.pem", "no CERTIFICATE block (the file is empty)"}},
		{"garbage cert file", func(c *Config) { c.CertFile = writeFile(t, dir, "garbage.pem", []byte("hello\n")) }, ErrMalformed,
			[]string{"--tls-cert-file", "garbage.pem", "the file is not PEM"}},
		{"key given as the cert", func(c *Config) { c.CertFile = c.KeyFile }, ErrMalformed,
			[]string{"--tls-cert-file", "node1-key.pem", "no CERTIFICATE block (found PRIVATE KEY)"}},
		{"cert given as the key", func(c *Config) { c.KeyFile = c.CertFile }, ErrMalformed,
			[]string{"--tls-key-file", "no PRIVATE KEY block (found CERTIFICATE)"}},
		{"certificate that does not parse", func(c *Config) { c.CertFile = writeFile(t, dir, "bad.pem", badDER) }, ErrMalformed,
			[]string{"--tls-cert-file", "bad.pem", "PEM block 1, a CERTIFICATE, does not parse"}},
		{"encrypted key", func(c *Config) { c.KeyFile = writeFile(t, dir, "enc.pem", encrypted) }, ErrMalformed,
			[]string{"--tls-key-file", "enc.pem", "the key is encrypted"}},
		{"key of another certificate", func(c *Config) { c.KeyFile = writeFile(t, dir, "node2-key.pem", otherKey) }, ErrKeyMismatch,
			[]string{"--tls-key-file", "node2-key.pem", "is not the key of the certificate in --tls-cert-file", `"node1"`}},
		{"CA file holding no CA", func(c *Config) { c.CAFile = c.CertFile }, ErrNoCA,
			[]string{"--tls-ca-file", "holds no ca certificate", `"node1"`}},
		{"certificate of another CA", func(c *Config) {
			c.CertFile = writeFile(t, dir, "node3.pem", otherCert)
			c.KeyFile = writeFile(t, dir, "node3-key.pem", otherCertKey)
		}, ErrUntrusted, []string{"--tls-cert-file", "node3.pem", `"node3"`, "is not signed by a ca of --tls-ca-file"}},
		{"client certificate as a node's", func(c *Config) {
			c.CertFile = writeFile(t, dir, "alice.pem", clientCert)
			c.KeyFile = writeFile(t, dir, "alice-key.pem", clientKey)
		}, ErrKeyUsage, []string{"--tls-cert-file", "alice.pem", "may not serve"}},
		{"certificate that may not dial", func(c *Config) {
			c.CertFile = writeFile(t, dir, "serve-only.pem", serverOnlyCert)
			c.KeyFile = writeFile(t, dir, "serve-only-key.pem", serverOnlyKey)
		}, ErrKeyUsage, []string{"--tls-cert-file", "may not dial", "client auth"}},
		{"several problems at once", func(c *Config) {
			c.CAFile = dir + "/nope.pem"
			c.KeyFile = c.CertFile
		}, ErrUnreadable, []string{"nope.pem", "no PRIVATE KEY block"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good()
			tt.edit(&cfg)
			wantErr(t, "Check", cfg.Check(), tt.kind, tt.wants...)
		})
	}
}

// TestCheckServerName: with hostname verification on, a node's certificate
// must carry server.honua (its peers would refuse it); off, it need not.
func TestCheckServerName(t *testing.T) {
	ca := newCA(t, "Test CA")
	tmpl := leafTemplate("node1", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	tmpl.DNSNames = []string{"node1.example.com"}
	certPEM, keyPEM := ca.sign(t, tmpl)
	cfg := nodeConfig(t, ca, certPEM, keyPEM)
	wantErr(t, "Check", cfg.Check(), ErrNotServer, "--tls-cert-file", `"node1"`, "does not carry the DNS name server.honua",
		"--tls-verify-server-hostname")
	cfg.VerifyServerHostname = false
	if err := cfg.Check(); err != nil {
		t.Errorf("Check without hostname verification = %v; want nil", err)
	}
}

func TestCheckDates(t *testing.T) {
	ca := newCA(t, "Test CA")
	now := time.Now()
	past := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	future := now.Add(48 * time.Hour).UTC().Truncate(time.Second)
	expiredCert, expiredKey := ca.sign(t, leafTemplate("old", past.Add(-time.Hour), past))
	earlyCert, earlyKey := ca.sign(t, leafTemplate("early", future, future.Add(time.Hour)))
	expiredCA := (*testCA)(nil)
	expiredCAPEM, _ := expiredCA.sign(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Old CA"}, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: past.Add(-time.Hour), NotAfter: past})
	certPEM, keyPEM := ca.server(t, "node1")

	for _, tt := range []struct {
		name         string
		caPEM        []byte
		certPEM, key []byte
		kind         error
		wants        []string
	}{
		{"expired certificate", ca.certPEM, expiredCert, expiredKey, ErrExpired,
			[]string{"--tls-cert-file", `"old"`, "expired at 2020-01-02T03:04:05Z", "it is now"}},
		{"certificate not yet valid", ca.certPEM, earlyCert, earlyKey, ErrNotYetValid,
			[]string{"--tls-cert-file", `"early"`, "is not valid before " + stamp(future)}},
		{"expired CA", expiredCAPEM, certPEM, keyPEM, ErrExpired,
			[]string{"--tls-ca-file", `"Old CA"`, "expired at 2020-01-02T03:04:05Z"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := nodeConfig(t, ca, tt.certPEM, tt.key)
			cfg.CAFile = writeFile(t, t.TempDir(), "ca.pem", tt.caPEM)
			wantErr(t, "Check", cfg.Check(), tt.kind, tt.wants...)
		})
	}

	// A bundle that still holds an expired CA beside the current one is
	// usable: the expired one is left out, with a warning.
	cfg := nodeConfig(t, ca, certPEM, keyPEM)
	cfg.CAFile = writeFile(t, t.TempDir(), "bundle.pem", append(append([]byte{}, expiredCAPEM...), ca.certPEM...))
	var logs syncBuffer
	if _, err := Load(cfg, testLogger(t, &logs)); err != nil {
		t.Fatalf("Load with a bundle holding an expired CA and a current one: %v", err)
	}
	if !strings.Contains(logs.String(), `Old CA`) || !strings.Contains(logs.String(), "ignored") {
		t.Errorf("Load did not warn about the expired CA in the bundle; logs:\n%s", logs.String())
	}
}
