package certs

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"
)

// cipherSuites are the TLS 1.2 suites offered: ECDHE key exchange with an
// AEAD cipher. TLS 1.3 suites are all AEAD and Go does not let them be
// chosen.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

func baseConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: slices.Clone(cipherSuites)}
}

// APIServer returns the tls.Config of the HTTP API listener: this node's
// current certificate, and client certificates as Config.ClientAuth says
// (request: one given must be signed by the CA; require: one must be
// given). Use it with tls.NewListener or http.Server.TLSConfig.
func (s *Store) APIServer() *tls.Config {
	cfg := baseConfig()
	cfg.GetCertificate = s.getCertificate
	switch s.cfg.ClientAuth {
	case ClientAuthRequest:
		cfg.ClientAuth = tls.RequestClientCert
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			return s.verify(cs, x509.ExtKeyUsageClientAuth, "", "API client")
		}
	case ClientAuthRequire:
		cfg.ClientAuth = tls.RequireAnyClientCert
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			return s.verify(cs, x509.ExtKeyUsageClientAuth, "", "API client")
		}
	}
	return cfg
}

// PeerServer returns the tls.Config that accepts raft connections: it
// presents this node's current certificate and accepts only a peer whose
// certificate is signed by a current CA and, when VerifyServerHostname is
// on, carries ServerName (a client certificate of the same CA is refused).
func (s *Store) PeerServer() *tls.Config {
	cfg := baseConfig()
	cfg.GetCertificate = s.getCertificate
	cfg.ClientAuth = tls.RequireAnyClientCert
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		return s.verify(cs, x509.ExtKeyUsageClientAuth, s.peerName(), "raft peer")
	}
	return cfg
}

// PeerClient returns the tls.Config that dials a peer, for raft and for
// forwarding API requests to the leader: it presents this node's current
// certificate and accepts only a peer whose certificate is signed by a
// current CA and, when VerifyServerHostname is on, carries ServerName,
// whatever address was dialled (an IP learnt from gossip proves nothing).
func (s *Store) PeerClient() *tls.Config {
	cfg := baseConfig()
	cfg.GetClientCertificate = s.getClientCertificate
	// Go's own check would verify against a fixed pool and the address
	// dialled; VerifyConnection checks against the current CA instead,
	// and for ServerName.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		return s.verify(cs, x509.ExtKeyUsageServerAuth, s.peerName(), "peer")
	}
	return cfg
}

func (s *Store) peerName() string {
	if s.cfg.VerifyServerHostname {
		return ServerName
	}
	return ""
}

func (s *Store) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return &s.cur.Load().cert, nil
}

func (s *Store) getClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return &s.cur.Load().cert, nil
}

// verify checks the certificate a peer presented against the current CA
// pool at the current time, for usage, and for the DNS name name unless it
// is empty. It runs on resumed sessions too.
func (s *Store) verify(cs tls.ConnectionState, usage x509.ExtKeyUsage, name, who string) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("the %s presented no certificate", who)
	}
	return verifyChain(s.cur.Load().pool, cs.PeerCertificates, usage, name, who, s.now())
}

func verifyChain(pool *x509.CertPool, chain []*x509.Certificate, usage x509.ExtKeyUsage, name, who string, now time.Time) error {
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}}
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("the %s's %s is refused: %w", who, describe(leaf), err)
	}
	if name != "" {
		if err := leaf.VerifyHostname(name); err != nil {
			return fmt.Errorf("the %s's %s does not carry the DNS name %s, which every node's certificate does", who, describe(leaf), name)
		}
	}
	return nil
}

// ClientOptions are the files of an API client (honuactl, api.Client).
type ClientOptions struct {
	// CAFile holds the CA certificates the server's certificate must be
	// signed by; empty: the system's roots.
	CAFile string
	// CertFile and KeyFile are the client's certificate and key, for a
	// server that asks for one (--tls-client-auth); both or neither.
	CertFile, KeyFile string
	// ServerName is the DNS name the server's certificate must carry.
	// Empty: ServerName when CAFile is set (every node's certificate
	// carries it, whatever address the client dials), else the host
	// dialled.
	ServerName string
}

// Client returns the tls.Config of a client of honuad's API, read once
// from the files of o (a client is short-lived; it does not reload them).
// Errors match this package's Err values.
func Client(o ClientOptions) (*tls.Config, error) {
	cfg := baseConfig()
	cfg.ServerName = o.ServerName
	now := time.Now()
	var errs []error
	if o.CAFile != "" {
		m := &material{}
		data, err := readFile("ca file", o.CAFile)
		if err == nil {
			err = m.loadCAs("ca file", o.CAFile, data, now)
		}
		errs = append(errs, err)
		cfg.RootCAs = m.pool
		if cfg.ServerName == "" {
			cfg.ServerName = ServerName
		}
	}
	switch {
	case o.CertFile != "" && o.KeyFile != "":
		certPEM, certErr := readFile("client certificate file", o.CertFile)
		keyPEM, keyErr := readFile("client key file", o.KeyFile)
		var chain []*x509.Certificate
		if certErr == nil {
			chain, certErr = parseChain("client certificate file", o.CertFile, certPEM, now)
		}
		var key crypto.Signer
		if keyErr == nil {
			key, keyErr = parseKey("client key file", o.KeyFile, keyPEM)
		}
		errs = append(errs, certErr, keyErr)
		if certErr == nil && keyErr == nil {
			cert, err := keyPair("client certificate file", o.CertFile, chain, "client key file", o.KeyFile, key)
			errs = append(errs, err)
			cfg.Certificates = []tls.Certificate{cert}
		}
	case o.CertFile != "":
		errs = append(errs, newError(ErrIncomplete, nil, "a client certificate file is given (%s) but no key file", o.CertFile))
	case o.KeyFile != "":
		errs = append(errs, newError(ErrIncomplete, nil, "a client key file is given (%s) but no certificate file", o.KeyFile))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cfg, nil
}
