package targetagent

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/agent"
	"github.com/honua-io/honua-gitops/internal/certs"
	"github.com/honua-io/honua-gitops/internal/target"
)

// TestServeTLS runs the agent's own listener with TLS and client
// certificates required: honuad's http target with the CA and a client
// certificate deploys; without the certificate, or trusting another CA,
// it cannot. A real listener, with the agent's timeouts.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	caPEM, caKey, err := certs.CreateCA("test CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(o certs.CertOptions) (string, string) {
		o.Validity = time.Hour
		c, k, err := certs.CreateCert(caPEM, caKey, o)
		if err != nil {
			t.Fatal(err)
		}
		cf, kf := filepath.Join(dir, o.Name+".pem"), filepath.Join(dir, o.Name+"-key.pem")
		writeFile(t, cf, string(c))
		writeFile(t, kf, string(k))
		return cf, kf
	}
	caFile := filepath.Join(dir, "ca.pem")
	writeFile(t, caFile, string(caPEM))
	srvCert, srvKey := issue(certs.CertOptions{Name: "agent", Server: true})
	cliCert, cliKey := issue(certs.CertOptions{Name: "honuad", Client: true})

	a := newAgent(t, func(c *Config) {
		c.TLSCAFile, c.TLSCertFile, c.TLSKeyFile = caFile, srvCert, srvKey
		c.TLSClientAuth = agent.ClientAuth(certs.ClientAuthRequire)
	})
	a.srv.Close() // serve with Serve instead
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, a.cfg, ln, testLogger(t), nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	url := "https://" + ln.Addr().String() + BundlePath
	apply := func(cfg target.Config, within time.Duration) error {
		cfg.Type, cfg.URL, cfg.TokenFile, cfg.Timeout = "http", url, a.tokenFile, 5*time.Second
		tg, err := target.New(cfg)
		if err != nil {
			return err
		}
		actx, acancel := context.WithTimeout(context.Background(), within)
		defer acancel()
		return tg.Apply(actx, bundle("d1", 1, map[string]string{"metadata.json": "one"}))
	}
	if err := apply(target.Config{CAFile: caFile}, 2*time.Second); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Apply without a client certificate: %v; want a refused handshake", err)
	}
	otherCA, _, err := certs.CreateCA("other CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherFile := filepath.Join(dir, "other.pem")
	writeFile(t, otherFile, string(otherCA))
	err = apply(target.Config{CAFile: otherFile, CertFile: cliCert, KeyFile: cliKey}, 20*time.Second)
	var te *target.Error
	if err == nil || !errors.As(err, &te) || te.Retryable {
		t.Errorf("Apply trusting another CA: %v; want a certificate error, not retried", err)
	}
	if err := apply(target.Config{CAFile: caFile, CertFile: cliCert, KeyFile: cliKey}, 20*time.Second); err != nil {
		t.Fatalf("Apply with the CA and a client certificate: %v", err)
	}
	if got := a.served("metadata.json"); got != "one" {
		t.Errorf("the folder serves %q", got)
	}
}
