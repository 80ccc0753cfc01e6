package certs

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitTimeout bounds every wait for a reload: generous, for a loaded
// machine; a passing test does not wait for it.
const waitTimeout = 30 * time.Second

// recorder is a slog.Handler that sends each record, as one line, to a
// channel: a test waits on what the Store logs instead of sleeping.
type recorder struct {
	t  *testing.T
	ch chan string
}

func newRecorder(t *testing.T) *recorder { return &recorder{t: t, ch: make(chan string, 1000)} }

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	select {
	case r.ch <- b.String():
	default:
		panic("recorder: the test reads no log records")
	}
	return nil
}

// wait returns the first record that holds each of wants, failing the test
// when none comes within waitTimeout.
func (r *recorder) wait(wants ...string) string {
	r.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case line := <-r.ch:
			r.t.Log("log: " + line)
			ok := true
			for _, w := range wants {
				ok = ok && strings.Contains(line, w)
			}
			if ok {
				return line
			}
		case <-deadline:
			r.t.Fatalf("no log record saying %q within %v", wants, waitTimeout)
		}
	}
}

// watch loads cfg and runs Watch until the test ends, once it watches.
func watch(t *testing.T, cfg Config) (*Store, *recorder) {
	t.Helper()
	rec := newRecorder(t)
	s, err := Load(cfg, slog.New(rec))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	rec.wait("watching tls files")
	return s, rec
}

// serverConfig writes a new server certificate of ca named name and
// returns the Config of a node using it.
func serverConfig(t *testing.T, ca *testCA, name string) Config {
	t.Helper()
	certPEM, keyPEM := ca.server(t, name)
	return nodeConfig(t, ca, certPEM, keyPEM)
}

// newPeer returns the PeerClient config of a new node of ca.
func newPeer(t *testing.T, ca *testCA) *tls.Config {
	t.Helper()
	return load(t, serverConfig(t, ca, "peer")).PeerClient()
}

// served returns the common name of the certificate a node's PeerServer
// presents to a new connection from client.
func served(t *testing.T, s *Store, client *tls.Config) string {
	t.Helper()
	o := connect(t, s.PeerServer(), client)
	if !o.ok() {
		t.Fatalf("connection refused: %v", o)
	}
	return o.serverCert.Subject.CommonName
}

// TestWatchRename: new files renamed over the old ones are served to the
// next connection, without a restart.
func TestWatchRename(t *testing.T) {
	ca := newCA(t, "Test CA")
	certPEM, keyPEM := ca.issue(t, CertOptions{Name: "v1", Server: true, Validity: time.Hour})
	cfg := nodeConfig(t, ca, certPEM, keyPEM)
	s, rec := watch(t, cfg)
	peer := newPeer(t, ca)
	if got := served(t, s, peer); got != "v1" {
		t.Fatalf("served %s; want v1", got)
	}
	certPEM, keyPEM = ca.issue(t, CertOptions{Name: "v2", Server: true, Validity: 2 * time.Hour})
	replaceFile(t, cfg.KeyFile, keyPEM)
	replaceFile(t, cfg.CertFile, certPEM)
	rec.wait("tls certificates reloaded", "certificate=v2")
	if got := served(t, s, peer); got != "v2" {
		t.Errorf("after the files were replaced, served %s; want v2", got)
	}
	if want := mustParse(t, certPEM).NotAfter; !s.NotAfter().Equal(want) {
		t.Errorf("NotAfter() = %v; want the new certificate's %v", s.NotAfter(), want)
	}
}

// TestWatchSymlinkSwap: Kubernetes updates a mounted Secret by pointing
// the ..data symlink at a new directory; the files are symlinks through
// ..data.
func TestWatchSymlinkSwap(t *testing.T) {
	ca := newCA(t, "Test CA")
	dir := t.TempDir()
	version := func(name string, certPEM, keyPEM []byte) {
		d := filepath.Join(dir, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, d, "ca.crt", ca.certPEM)
		writeFile(t, d, "tls.crt", certPEM)
		writeFile(t, d, "tls.key", keyPEM)
	}
	symlink := func(target, name string) {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	certPEM, keyPEM := ca.issue(t, CertOptions{Name: "v1", Server: true, Validity: time.Hour})
	version("..2026_01_01_v1", certPEM, keyPEM)
	symlink("..2026_01_01_v1", "..data")
	for _, f := range []string{"ca.crt", "tls.crt", "tls.key"} {
		symlink(filepath.Join("..data", f), f)
	}
	cfg := Config{CAFile: filepath.Join(dir, "ca.crt"), CertFile: filepath.Join(dir, "tls.crt"),
		KeyFile: filepath.Join(dir, "tls.key"), VerifyServerHostname: true}
	s, rec := watch(t, cfg)
	peer := newPeer(t, ca)
	if got := served(t, s, peer); got != "v1" {
		t.Fatalf("served %s; want v1", got)
	}

	certPEM, keyPEM = ca.issue(t, CertOptions{Name: "v2", Server: true, Validity: time.Hour})
	version("..2026_01_02_v2", certPEM, keyPEM)
	symlink("..2026_01_02_v2", "..data_tmp")
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	rec.wait("tls certificates reloaded", "certificate=v2")
	if got := served(t, s, peer); got != "v2" {
		t.Errorf("after ..data was swapped, served %s; want v2", got)
	}

	// Kubernetes then removes the old directory; the next update is
	// seen as well.
	if err := os.RemoveAll(filepath.Join(dir, "..2026_01_01_v1")); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM = ca.issue(t, CertOptions{Name: "v3", Server: true, Validity: time.Hour})
	version("..2026_01_03_v3", certPEM, keyPEM)
	symlink("..2026_01_03_v3", "..data_tmp")
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	rec.wait("tls certificates reloaded", "certificate=v3")
	if got := served(t, s, peer); got != "v3" {
		t.Errorf("after ..data was swapped again, served %s; want v3", got)
	}
}

// TestReloadKeepsWorkingMaterial: a broken or expired file on disk is
// refused, saying why, and the node keeps serving what it had.
func TestReloadKeepsWorkingMaterial(t *testing.T) {
	ca := newCA(t, "Test CA")
	certV1, keyV1 := ca.issue(t, CertOptions{Name: "v1", Server: true, Validity: time.Hour})
	cfg := nodeConfig(t, ca, certV1, keyV1)
	s, rec := watch(t, cfg)
	peer := newPeer(t, ca)

	replaceFile(t, cfg.CertFile, []byte("-----BEGIN CERTIFICATE-----\ntruncated"))
	rec.wait("ERROR", "keeping the current ones", "--tls-cert-file "+cfg.CertFile, "the file is not PEM")
	if got := served(t, s, peer); got != "v1" {
		t.Errorf("with a broken certificate file on disk, served %s; want v1", got)
	}
	wantErr(t, "Reload with a broken certificate file", s.Reload(), ErrMalformed, "keeping the current ones", "the file is not PEM")

	expired, expiredKey := ca.sign(t, leafTemplate("expired", time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)))
	replaceFile(t, cfg.KeyFile, expiredKey)
	replaceFile(t, cfg.CertFile, expired)
	wantErr(t, "Reload with an expired certificate", s.Reload(), ErrExpired, "expired at")
	if got := served(t, s, peer); got != "v1" {
		t.Errorf("with an expired certificate on disk, served %s; want v1", got)
	}

	// The files put back as they were: reloading them changes nothing
	// and says nothing.
	replaceFile(t, cfg.KeyFile, keyV1)
	replaceFile(t, cfg.CertFile, certV1)
	if err := s.Reload(); err != nil {
		t.Fatalf("Reload of the original files: %v", err)
	}
	for {
		select {
		case line := <-rec.ch:
			if strings.Contains(line, "reloaded") {
				t.Errorf("reloading unchanged material logged %q", line)
			}
			continue
		default:
		}
		break
	}
	if got := served(t, s, peer); got != "v1" {
		t.Errorf("served %s; want v1", got)
	}
}

// TestCARotation: a CA file holding the old and the new CA accepts peers
// of both, after a Reload and without a restart.
func TestCARotation(t *testing.T) {
	oldCA, newCA := newCA(t, "Old CA"), newCA(t, "New CA")
	bundle := append(append([]byte{}, oldCA.certPEM...), newCA.certPEM...)
	cfgA := serverConfig(t, oldCA, "nodeA")
	a := load(t, cfgA)
	cfgB := serverConfig(t, newCA, "nodeB")
	replaceFile(t, cfgB.CAFile, bundle)
	b := load(t, cfgB)
	c := load(t, serverConfig(t, oldCA, "nodeC"))

	if o := connect(t, a.PeerServer(), b.PeerClient()); o.ok() {
		t.Fatal("a node trusting only the old CA accepted a peer of the new CA")
	}
	replaceFile(t, cfgA.CAFile, bundle)
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		srv, cli *Store
	}{{"new CA's node dials", a, b}, {"old CA's node dials", a, c}, {"dialling the new CA's node", b, a}} {
		if o := connect(t, tt.srv.PeerServer(), tt.cli.PeerClient()); !o.ok() {
			t.Errorf("with the CA bundle, %s: %v", tt.name, o)
		}
	}
}

// TestWatchSymlinkedFile: a file that is a symlink into another directory
// (/etc/honua/node.pem -> /opt/pki/node.pem) is watched where it resolves
// to, so replacing the target is seen.
func TestWatchSymlinkedFile(t *testing.T) {
	ca := newCA(t, "Test CA")
	certPEM, keyPEM := ca.issue(t, CertOptions{Name: "v1", Server: true, Validity: time.Hour})
	orig := nodeConfig(t, ca, certPEM, keyPEM)
	links := t.TempDir()
	cfg := Config{VerifyServerHostname: true}
	for _, f := range []struct {
		dst    *string
		target string
	}{{&cfg.CAFile, orig.CAFile}, {&cfg.CertFile, orig.CertFile}, {&cfg.KeyFile, orig.KeyFile}} {
		*f.dst = filepath.Join(links, filepath.Base(f.target))
		if err := os.Symlink(f.target, *f.dst); err != nil {
			t.Fatal(err)
		}
	}
	s, rec := watch(t, cfg)
	peer := newPeer(t, ca)
	certPEM, keyPEM = ca.issue(t, CertOptions{Name: "v2", Server: true, Validity: time.Hour})
	replaceFile(t, orig.KeyFile, keyPEM)
	replaceFile(t, orig.CertFile, certPEM)
	rec.wait("tls certificates reloaded", "certificate=v2")
	if got := served(t, s, peer); got != "v2" {
		t.Errorf("after the symlinks' targets were replaced, served %s; want v2", got)
	}
}
