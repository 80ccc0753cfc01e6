package rpc

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/certs"
)

// rpcPKI is a CA made for one test.
type rpcPKI struct {
	t             *testing.T
	dir           string
	caCert, caKey []byte
}

func newRPCPKI(t *testing.T, name string) *rpcPKI {
	t.Helper()
	caCert, caKey, err := certs.CreateCA(name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &rpcPKI{t: t, dir: t.TempDir(), caCert: caCert, caKey: caKey}
}

func (p *rpcPKI) write(name string, data []byte) string {
	p.t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		p.t.Fatal(err)
	}
	return path
}

// node returns the certs.Store of a node of p named name.
func (p *rpcPKI) node(name string) *certs.Store {
	p.t.Helper()
	certPEM, keyPEM, err := certs.CreateCert(p.caCert, p.caKey, certs.CertOptions{Name: name, Server: true, Validity: 30 * time.Minute})
	if err != nil {
		p.t.Fatal(err)
	}
	s, err := certs.Load(certs.Config{CAFile: p.write("ca.pem", p.caCert), CertFile: p.write(name+".pem", certPEM),
		KeyFile: p.write(name+"-key.pem", keyPEM), VerifyServerHostname: true}, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// keyPair returns a certificate of p that is not a node's: a client's.
func (p *rpcPKI) clientKeyPair(name string) tls.Certificate {
	p.t.Helper()
	certPEM, keyPEM, err := certs.CreateCert(p.caCert, p.caKey, certs.CertOptions{Name: name, Client: true, Validity: 30 * time.Minute})
	if err != nil {
		p.t.Fatal(err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		p.t.Fatal(err)
	}
	return c
}

// recordingServer counts the requests it gets and the tokens among them.
type recordingServer struct {
	mu       sync.Mutex
	requests int
	tokens   []string
}

func (s *recordingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	if a := r.Header.Get("Authorization"); a != "" {
		s.tokens = append(s.tokens, a)
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// serve serves h on a loopback port until the test ends, over TLS with cfg
// unless it is nil, and returns the address.
func serve(t *testing.T, h http.Handler, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestForwardOnlyToAVerifiedLeader: with TLS, a follower forwards a write,
// and the client's token with it, to a leader whose certificate is a node's
// of the cluster's CA; an address gossip advertises for the leader that
// answers plain http, or TLS with a certificate of another CA, or with a
// client certificate of the cluster's CA, gets nothing: the follower
// answers 503 no_leader and the token stays with it.
func TestForwardOnlyToAVerifiedLeader(t *testing.T) {
	pki := newRPCPKI(t, "Cluster CA")
	leader := newAPIFixture(t)
	leaderTLS := pki.node("node1")
	leaderAddr := serve(t, leader.s, leaderTLS.APIServer())
	followerTLS := pki.node("node2")
	approve := func(leaderAddr string) *httptest.ResponseRecorder {
		follower := NewServer(Config{Cluster: &fakeCluster{id: "node2", leader: "node1", leaderAddr: leaderAddr},
			Store: leader.c.tf.f, PeerTLS: followerTLS.PeerClient(), LeaderWait: time.Second})
		return do(t, follower, "POST", "/v1/deployments/"+leader.waiting+"/approve", `{}`,
			map[string]string{"Authorization": "Bearer " + leader.tokens["alice"], "Content-Type": "application/json"})
	}
	if rec := approve(leaderAddr); rec.Code != http.StatusOK {
		t.Fatalf("approve through the follower to the verified leader = %d %s; want 200", rec.Code, rec.Body)
	}

	other := newRPCPKI(t, "Other CA").node("mallory")
	for _, h := range []struct {
		name string
		tls  *tls.Config
	}{
		{"plain http", nil},
		{"a node certificate of another CA", other.APIServer()},
		{"a client certificate of the cluster's CA", &tls.Config{Certificates: []tls.Certificate{pki.clientKeyPair("mallory")}}},
	} {
		rs := &recordingServer{}
		addr := serve(t, rs, h.tls)
		rec := approve(addr)
		if rec.Code != http.StatusServiceUnavailable || errorCode(t, rec) != "no_leader" {
			t.Errorf("approve forwarded to a leader address serving %s = %d %s; want 503 no_leader", h.name, rec.Code, rec.Body)
		}
		rs.mu.Lock()
		if rs.requests > 0 || len(rs.tokens) > 0 {
			t.Errorf("the address serving %s got %d requests and %d tokens; want none", h.name, rs.requests, len(rs.tokens))
		}
		rs.mu.Unlock()
	}
}
