package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/honua-io/honua-gitops/internal/certs"
)

// testPKI is a CA made for one test, writing node certificates to files.
type testPKI struct {
	t                testing.TB
	dir              string
	caCert, caKey    []byte
	caFile           string
	handshakeTimeout time.Duration
}

func newPKI(t testing.TB, name string) *testPKI {
	t.Helper()
	caCert, caKey, err := certs.CreateCA(name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{t: t, dir: t.TempDir(), caCert: caCert, caKey: caKey}
	p.caFile = p.write("ca.pem", caCert)
	return p
}

func (p *testPKI) write(name string, data []byte) string {
	p.t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		p.t.Fatal(err)
	}
	return path
}

// raftTLS returns the raft TLS of a node of p named name, loaded as
// honuad loads it.
func (p *testPKI) raftTLS(name string) *RaftTLS {
	p.t.Helper()
	certPEM, keyPEM, err := certs.CreateCert(p.caCert, p.caKey, certs.CertOptions{Name: name, Server: true, Validity: 30 * time.Minute})
	if err != nil {
		p.t.Fatal(err)
	}
	s, err := certs.Load(certs.Config{CAFile: p.caFile, CertFile: p.write(name+".pem", certPEM),
		KeyFile: p.write(name+"-key.pem", keyPEM), VerifyServerHostname: true}, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	return &RaftTLS{Server: s.PeerServer(), Client: s.PeerClient(), HandshakeTimeout: p.handshakeTimeout}
}

// clientTLS returns raft TLS configs that present a client certificate of
// p named name (honuad would refuse to start with it) and trust any
// server: a stranger holding an API client's certificate.
func (p *testPKI) clientTLS(name string) *RaftTLS {
	p.t.Helper()
	certPEM, keyPEM, err := certs.CreateCert(p.caCert, p.caKey, certs.CertOptions{Name: name, Client: true, Validity: 30 * time.Minute})
	if err != nil {
		p.t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		p.t.Fatal(err)
	}
	return &RaftTLS{
		Server: &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAnyClientCert},
		Client: &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true},
	}
}

// withTLS gives every node of a test cluster a server certificate of p.
func withTLS(p *testPKI) func(*Config) {
	return func(c *Config) { c.RaftTLS = p.raftTLS(c.NodeID) }
}

// plainTransport is a raft transport over plain TCP, speaking raft's wire
// protocol as a stranger on the network would.
func plainTransport(t *testing.T) *raft.NetworkTransport {
	t.Helper()
	tr, err := raft.NewTCPTransport("127.0.0.1:0", nil, 1, 5*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// tlsTransport is a raft transport over the TLS stream of rt.
func tlsTransport(t *testing.T, rt *RaftTLS) *raft.NetworkTransport {
	t.Helper()
	s, err := newTLSStream("127.0.0.1:0", nil, *rt, testLogger("stranger"))
	if err != nil {
		t.Fatal(err)
	}
	tr := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: s, MaxPool: 1, Timeout: 5 * time.Second})
	t.Cleanup(func() { tr.Close() })
	return tr
}

// TestRaftTLSCluster: three nodes with mutual TLS elect a leader and
// replicate, and their raft connections are TLS.
func TestRaftTLSCluster(t *testing.T) {
	pki := newPKI(t, "Cluster CA")
	tc := newTestCluster(t, 3, withTLS(pki))
	_, index := tc.apply(observe("production", "c1"))
	tc.waitForApplied(index)
	for _, tn := range tc.running() {
		if tn.node.stream == nil {
			t.Fatalf("%s runs raft without its TLS stream", tn.id())
		}
	}
	// A plain TCP client gets no raft answer from any node.
	for _, tn := range tc.running() {
		c, err := net.DialTimeout("tcp", tn.node.RaftAddr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(testTimeout))
		// raft's AppendEntries type byte, then a msgpack map.
		if _, err := c.Write(append([]byte{0, 0x8f}, make([]byte, 30)...)); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		n, err := c.Read(b)
		if err == nil || n > 0 {
			t.Errorf("%s answered a plain raft request (%d bytes, %v); want the connection closed", tn.id(), n, err)
		}
		c.Close()
	}
}

// TestRaftTLSRefusesStrangers: raft requests that could depose the leader
// or rewrite a follower's log, sent by a transport over plain TCP, with a
// certificate of another CA, or with a client certificate of the cluster's
// CA, are all refused, and the cluster's term and log stay as they were.
func TestRaftTLSRefusesStrangers(t *testing.T) {
	pki := newPKI(t, "Cluster CA")
	tc := newTestCluster(t, 3, withTLS(pki))
	_, index := tc.apply(observe("production", "c1"))
	tc.waitForApplied(index)
	leader := tc.waitForLeader()
	follower := tc.followers()[0]
	term, last := follower.node.raft.CurrentTerm(), follower.node.raft.LastIndex()

	other := newPKI(t, "Other CA")
	strangers := []struct {
		name string
		tr   *raft.NetworkTransport
	}{
		{"plain tcp", plainTransport(t)},
		{"a node certificate of another CA", tlsTransport(t, other.raftTLS("node9"))},
		{"a client certificate of the cluster's CA", tlsTransport(t, pki.clientTLS("mallory"))},
	}
	for _, s := range strangers {
		target := raft.ServerAddress(follower.node.RaftAddr())
		var vote raft.RequestVoteResponse
		err := s.tr.RequestVote(raft.ServerID(follower.id()), target, &raft.RequestVoteRequest{
			RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("node9"), Addr: []byte(s.tr.LocalAddr())},
			Term:      term + 100, LastLogIndex: last + 100, LastLogTerm: term + 100,
		}, &vote)
		if err == nil {
			t.Errorf("%s: RequestVote was answered (granted %v)", s.name, vote.Granted)
		}
		var app raft.AppendEntriesResponse
		err = s.tr.AppendEntries(raft.ServerID(follower.id()), target, &raft.AppendEntriesRequest{
			RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(leader.id()), Addr: []byte(s.tr.LocalAddr())},
			Term:      term + 100, PrevLogEntry: last, PrevLogTerm: term,
			Entries:           []*raft.Log{{Index: last + 1, Term: term + 100, Type: raft.LogCommand, Data: []byte{1, 2, 3}}},
			LeaderCommitIndex: last + 1,
		}, &app)
		if err == nil {
			t.Errorf("%s: AppendEntries was answered (success %v)", s.name, app.Success)
		}
	}
	if got := follower.node.raft.CurrentTerm(); got != term {
		t.Errorf("the follower's term moved from %d to %d", term, got)
	}
	if got := follower.node.raft.LastIndex(); got != last {
		t.Errorf("the follower's last index moved from %d to %d", last, got)
	}
	if l := tc.waitForLeader(); l != leader {
		t.Errorf("leadership moved from %s to %s", leader.id(), l.id())
	}
}

// TestRaftTLSNewMemberMustProveCertificate: a node that joins gossip with a
// certificate of another CA, or with none that names it a node, is never
// added to the raft configuration; a node of the cluster's CA is.
func TestRaftTLSNewMemberMustProveCertificate(t *testing.T) {
	pki := newPKI(t, "Cluster CA")
	tc := newTestCluster(t, 3, withTLS(pki))
	leader := tc.waitForLeader()
	for _, s := range []struct {
		id  string
		tls *RaftTLS
	}{
		{"node4", newPKI(t, "Other CA").raftTLS("node4")},
		{"node5", pki.clientTLS("node5")},
	} {
		cfg := testConfig(t, s.id, 0)
		cfg.RaftTLS = s.tls
		cfg.Join = []string{leader.node.GossipAddr()}
		// Not one of tc's nodes, which must all agree on the leader.
		tn := tc.open(cfg)
		t.Cleanup(func() { _ = tn.node.Shutdown(false) })
		tn.node.Start()
	}
	// The leader decides on each once it has seen it in gossip: it
	// refuses it after dialling it, or (wrongly) adds it.
	waitFor(t, "the leader to decide on node4 and node5", func() error {
		l := tc.waitForLeader()
		v, err := voters(l.node)
		if err != nil {
			return err
		}
		l.node.probes.mu.Lock()
		defer l.node.probes.mu.Unlock()
		for _, id := range []raft.ServerID{"node4", "node5"} {
			if _, refused := l.node.probes.failed[id]; !refused && v[string(id)] == "" {
				return fmt.Errorf("%s neither refused nor added yet", id)
			}
		}
		return nil
	})
	v, err := voters(tc.waitForLeader().node)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 3 || v["node4"] != "" || v["node5"] != "" {
		t.Fatalf("voters %v; want node1 to node3 only", v)
	}

	// A node of the cluster's CA joins.
	cfg := testConfig(t, "node6", 0)
	cfg.RaftTLS = pki.raftTLS("node6")
	cfg.Join = []string{leader.node.GossipAddr()}
	tn := tc.open(cfg)
	tc.mu.Lock()
	tc.nodes = append(tc.nodes, tn)
	tc.mu.Unlock()
	tn.node.Start()
	waitFor(t, "node6 to become a voter", func() error {
		v, err := voters(tc.waitForLeader().node)
		if err == nil && v["node6"] == "" {
			err = fmt.Errorf("voters %v", v)
		}
		return err
	})
}

// TestRaftTLSHandshakeBounded: connections that never complete a handshake
// are closed at the handshake timeout, those beyond maxHandshakes at once,
// and none keeps a goroutine after.
func TestRaftTLSHandshakeBounded(t *testing.T) {
	pki := newPKI(t, "Cluster CA")
	pki.handshakeTimeout = 300 * time.Millisecond
	rt := pki.raftTLS("node1")
	before := runtime.NumGoroutine()
	s, err := newTLSStream("127.0.0.1:0", nil, *rt, testLogger("node1"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	var idle []net.Conn
	for range maxHandshakes + 8 {
		c, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	start := time.Now()
	for i, c := range idle {
		_ = c.SetReadDeadline(time.Now().Add(testTimeout))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("idle connection %d got data", i)
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("idle connection %d still open after %v", i, testTimeout)
		}
	}
	t.Logf("%d idle connections closed within %v", len(idle), time.Since(start))

	// A peer still gets in.
	peer, err := newTLSStream("127.0.0.1:0", nil, *pki.raftTLS("node2"), testLogger("node2"))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	done := make(chan error, 1)
	go func() {
		c, err := s.Accept()
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	conn, err := peer.Dial(raft.ServerAddress(s.Addr().String()), 5*time.Second)
	if err != nil {
		t.Fatalf("a peer of the CA could not connect after the idle ones: %v", err)
	}
	conn.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(s.refusals); got < float64(len(idle)) {
		t.Errorf("refusals counted %v; want at least %d", got, len(idle))
	}
	s.Close()
	peer.Close()
	waitFor(t, "the handshake goroutines to end", func() error {
		if n := runtime.NumGoroutine(); n > before+10 {
			return fmt.Errorf("%d goroutines, %d before", n, before)
		}
		return nil
	})
}
