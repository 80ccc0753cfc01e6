package certs

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// peers is a CA, nodes of it and the impostors a node must refuse.
type peers struct {
	ca, other *testCA
	// nodeA's certificate carries ServerName but no IP: dialling it at
	// 127.0.0.1 shows that the name, not the address, is checked.
	nodeA, nodeAOff *Store // nodeAOff: the same files, hostname verification off
	nodeB, nodeBOff *Store
	foreign         tls.Certificate // a node certificate of another CA
	alice           tls.Certificate // a client certificate of the CA
	rogue           tls.Certificate // signed by the CA, may serve and dial, lacks ServerName
}

func newPeers(t *testing.T) *peers {
	t.Helper()
	p := &peers{ca: newCA(t, "Test CA"), other: newCA(t, "Other CA")}
	now := time.Now()
	certA, keyA := p.ca.sign(t, leafTemplate("nodeA", now.Add(-time.Hour), now.Add(time.Hour)))
	cfgA := nodeConfig(t, p.ca, certA, keyA)
	p.nodeA = load(t, cfgA)
	cfgA.VerifyServerHostname = false
	p.nodeAOff = load(t, cfgA)
	certB, keyB := p.ca.server(t, "nodeB")
	cfgB := nodeConfig(t, p.ca, certB, keyB)
	p.nodeB = load(t, cfgB)
	cfgB.VerifyServerHostname = false
	p.nodeBOff = load(t, cfgB)

	p.foreign = keyPairOf(t)(p.other.server(t, "foreign"))
	p.alice = keyPairOf(t)(p.ca.client(t, "alice"))
	rogue := leafTemplate("rogue", now.Add(-time.Hour), now.Add(time.Hour))
	rogue.DNSNames = []string{"rogue.example.com"}
	p.rogue = keyPairOf(t)(p.ca.sign(t, rogue))
	return p
}

// keyPairOf returns a function that makes a tls.Certificate of a PEM
// certificate and key (so that it takes what issue returns).
func keyPairOf(t *testing.T) func(certPEM, keyPEM []byte) tls.Certificate {
	return func(certPEM, keyPEM []byte) tls.Certificate {
		t.Helper()
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

// presenting returns a client config that presents cert and checks
// nothing: the server alone decides.
func presenting(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, Certificates: certs}
}

// serving returns a server config that presents cert and asks for a
// client certificate it does not check: the client alone decides.
func serving(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert}
}

func TestPeerTLS(t *testing.T) {
	p := newPeers(t)
	withServerName := p.nodeB.PeerClient()
	withServerName.ServerName = "10.9.9.9" // as http.Transport sets it from the URL's host
	for _, tt := range []struct {
		name     string
		srv, cli *tls.Config
		ok       bool
		want     string // in the refusing side's error
		sawCN    string // the client certificate the server saw, when ok
	}{
		{"a node dials a node by IP", p.nodeA.PeerServer(), p.nodeB.PeerClient(), true, "", "nodeB"},
		{"a node dials a node, ServerName set to the address", p.nodeA.PeerServer(), withServerName, true, "", "nodeB"},
		{"a client certificate of the CA dials a node", p.nodeA.PeerServer(), presenting(p.alice), false,
			"does not carry the DNS name server.honua", ""},
		{"... with hostname verification off", p.nodeAOff.PeerServer(), presenting(p.alice), true, "", "alice"},
		{"a certificate of another CA dials a node", p.nodeA.PeerServer(), presenting(p.foreign), false, "unknown authority", ""},
		{"... with hostname verification off", p.nodeAOff.PeerServer(), presenting(p.foreign), false, "unknown authority", ""},
		{"a dialler without a certificate", p.nodeA.PeerServer(), presenting(), false, "", ""},
		{"a node dials a server of another CA", serving(p.foreign), p.nodeB.PeerClient(), false, "unknown authority", ""},
		{"... with hostname verification off", serving(p.foreign), p.nodeBOff.PeerClient(), false, "unknown authority", ""},
		{"a node dials a server lacking server.honua", serving(p.rogue), p.nodeB.PeerClient(), false,
			"does not carry the DNS name server.honua", ""},
		{"... with hostname verification off", serving(p.rogue), p.nodeBOff.PeerClient(), true, "", "nodeB"},
		{"a node dials a server with a client certificate", serving(p.alice), p.nodeB.PeerClient(), false, "incompatible key usage", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := connect(t, tt.srv, tt.cli)
			if o.ok() != tt.ok {
				t.Fatalf("connection ok = %v; want %v (%v)", o.ok(), tt.ok, o)
			}
			if !tt.ok {
				if !strings.Contains(o.String(), tt.want) {
					t.Errorf("refused with %v; want an error saying %q", o, tt.want)
				}
				if o.payload != "" {
					t.Errorf("the refused client read %q", o.payload)
				}
				return
			}
			if o.payload != "hello" {
				t.Errorf("client read %q; want hello", o.payload)
			}
			if o.clientCert == nil || o.clientCert.Subject.CommonName != tt.sawCN {
				t.Errorf("server saw client certificate %v; want %s", o.clientCert, tt.sawCN)
			}
		})
	}
}

// TestPeerServerPlainClient: a client speaking plain TCP (HTTP, raft's own
// protocol) to a TLS port gets nothing but a failed handshake.
func TestPeerServerPlainClient(t *testing.T) {
	p := newPeers(t)
	for name, srv := range map[string]*tls.Config{"PeerServer": p.nodeA.PeerServer(), "APIServer": p.nodeA.APIServer()} {
		t.Run(name, func(t *testing.T) {
			addr, done := serveOnce(t, srv)
			c, err := net.DialTimeout("tcp", addr, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Minute))
			if _, err := io.WriteString(c, "GET /v1/status HTTP/1.0\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(c)
			s := <-done
			if s.serverErr == nil {
				t.Error("the server completed a handshake with a plain TCP client")
			}
			if strings.Contains(string(got), "hello") || strings.Contains(string(got), "HTTP") {
				t.Errorf("a plain TCP client read %q", got)
			}
		})
	}
}

func TestAPIServerClientAuth(t *testing.T) {
	ca, other := newCA(t, "Test CA"), newCA(t, "Other CA")
	certPEM, keyPEM := ca.server(t, "node1")
	cfg := nodeConfig(t, ca, certPEM, keyPEM)
	dir := t.TempDir()
	aliceCert, aliceKey := ca.client(t, "alice")
	eveCert, eveKey := other.client(t, "eve")
	clients := map[string]ClientOptions{
		"no certificate":                  {CAFile: cfg.CAFile},
		"a client certificate":            {CAFile: cfg.CAFile, CertFile: writeFile(t, dir, "alice.pem", aliceCert), KeyFile: writeFile(t, dir, "alice-key.pem", aliceKey)},
		"another CA's client certificate": {CAFile: cfg.CAFile, CertFile: writeFile(t, dir, "eve.pem", eveCert), KeyFile: writeFile(t, dir, "eve-key.pem", eveKey)},
	}
	for _, tt := range []struct {
		mode ClientAuth
		want map[string]string // client → the identity the handler saw, or "refused"
	}{
		{ClientAuthNone, map[string]string{"no certificate": "none", "a client certificate": "none", "another CA's client certificate": "none"}},
		{ClientAuthRequest, map[string]string{"no certificate": "none", "a client certificate": "alice", "another CA's client certificate": "refused"}},
		{ClientAuthRequire, map[string]string{"no certificate": "refused", "a client certificate": "alice", "another CA's client certificate": "refused"}},
	} {
		t.Run(tt.mode.String(), func(t *testing.T) {
			c := cfg
			c.ClientAuth = tt.mode
			url := serveAPI(t, load(t, c))
			for client, want := range tt.want {
				tlsCfg, err := Client(clients[client])
				if err != nil {
					t.Fatal(err)
				}
				got := get(t, tlsCfg, url)
				if got != want {
					t.Errorf("--tls-client-auth %s, %s: the API answered %q; want %q", tt.mode, client, got, want)
				}
			}
		})
	}
}

// serveAPI serves an HTTP API with s.APIServer() that answers with the
// common name of the client's certificate, or "none".
func serveAPI(t *testing.T, s *Store) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		TLSConfig:         s.APIServer(),
		ReadHeaderTimeout: time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0), // refused handshakes are the point
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if len(r.TLS.PeerCertificates) == 0 {
				io.WriteString(w, "none")
				return
			}
			io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
		}),
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return "https://" + ln.Addr().String() + "/"
}

// get GETs url with a client of cfg: the body, or "refused" when the TLS
// connection failed.
func get(t *testing.T, cfg *tls.Config, url string) string {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: time.Minute}
	resp, err := c.Get(url)
	if err != nil {
		t.Logf("GET %s: %v", url, err)
		return "refused"
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Logf("GET %s: %v", url, err)
		return "refused"
	}
	return string(b)
}

// TestModernTLSOnly: TLS 1.2 with an AEAD suite, or TLS 1.3; nothing older
// or weaker.
func TestModernTLSOnly(t *testing.T) {
	p := newPeers(t)
	ok := p.nodeB.PeerClient()
	tls12 := p.nodeB.PeerClient()
	tls12.MaxVersion = tls.VersionTLS12
	tls11 := p.nodeB.PeerClient()
	tls11.MinVersion, tls11.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	cbc := p.nodeB.PeerClient()
	cbc.MaxVersion = tls.VersionTLS12
	cbc.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}
	for _, srv := range []struct {
		name string
		cfg  func() *tls.Config
	}{{"PeerServer", p.nodeA.PeerServer}, {"APIServer", p.nodeA.APIServer}} {
		for _, tt := range []struct {
			name string
			cli  *tls.Config
			ok   bool
		}{{"TLS 1.3", ok, true}, {"TLS 1.2 AEAD", tls12, true}, {"TLS 1.1", tls11, false}, {"TLS 1.2 CBC", cbc, false}} {
			o := connect(t, srv.cfg(), tt.cli)
			if o.ok() != tt.ok {
				t.Errorf("%s, a client offering %s: ok = %v; want %v (%v)", srv.name, tt.name, o.ok(), tt.ok, o)
			}
		}
	}
}

func TestClient(t *testing.T) {
	p := newPeers(t)
	dir := t.TempDir()
	caFile := writeFile(t, dir, "ca.pem", p.ca.certPEM)
	cfg, err := Client(ClientOptions{CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ServerName != ServerName || cfg.RootCAs == nil || cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("Client with a CA: ServerName %q, RootCAs %v, MinVersion %x; want %s, the CA, TLS 1.2",
			cfg.ServerName, cfg.RootCAs, cfg.MinVersion, ServerName)
	}
	if o := connect(t, p.nodeAOff.APIServer(), cfg); !o.ok() {
		t.Errorf("Client dialling a node by IP: %v", o)
	}
	if o := connect(t, serving(p.rogue), cfg); o.ok() || !strings.Contains(o.String(), "server.honua") {
		t.Errorf("Client dialling a server lacking server.honua: %v; want it refused", o)
	}
	named, err := Client(ClientOptions{CAFile: caFile, ServerName: "rogue.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if o := connect(t, serving(p.rogue), named); !o.ok() {
		t.Errorf("Client with ServerName rogue.example.com dialling rogue: %v", o)
	}
	if cfg, err := Client(ClientOptions{}); err != nil || cfg.RootCAs != nil || cfg.ServerName != "" {
		t.Errorf("Client without a CA = %v, %v; want the system's roots and the host dialled", cfg, err)
	}
	for _, tt := range []struct {
		name string
		o    ClientOptions
		kind error
		want string
	}{
		{"certificate without key", ClientOptions{CAFile: caFile, CertFile: caFile}, ErrIncomplete, "no key file"},
		{"key without certificate", ClientOptions{KeyFile: caFile}, ErrIncomplete, "no certificate file"},
		{"missing CA", ClientOptions{CAFile: dir + "/nope.pem"}, ErrUnreadable, "nope.pem"},
		{"key not the certificate's", ClientOptions{CertFile: writeFile(t, dir, "a.pem", p.ca.certPEM), KeyFile: writeFile(t, dir, "b.pem", p.other.keyPEM)},
			ErrKeyMismatch, "b.pem is not the key of the certificate in client certificate file"},
	} {
		_, err := Client(tt.o)
		wantErr(t, tt.name, err, tt.kind, tt.want)
	}
}
