package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"
)

// backdate is how far before its creation a certificate becomes valid, so
// that a machine whose clock is a little behind accepts it at once.
const backdate = 5 * time.Minute

// ErrOutlivesCA is CreateCert's refusal of a validity that ends after its
// CA's: ask for a shorter one.
var ErrOutlivesCA = errors.New("a certificate cannot outlive its ca; ask for a shorter validity")

// CertOptions says what CreateCert makes.
type CertOptions struct {
	// Name is the certificate's common name: the node's id for a server
	// certificate, the client's name for a client certificate.
	Name string
	// Server makes a node's certificate: it carries the DNS names
	// ServerName and localhost and the IP 127.0.0.1, and may be used both
	// to serve and to dial (nodes dial each other with mutual TLS).
	Server bool
	// Client makes a client certificate (for honuactl or another API
	// client): it may only dial, and carries no name a peer checks. A
	// certificate is either Server or Client.
	Client bool
	// DNS and IPs are more names the certificate carries: the names and
	// addresses clients other than honuad dial the node by.
	DNS []string
	IPs []net.IP
	// Validity is how long the certificate is valid; it must end before
	// its CA's own validity does.
	Validity time.Duration
}

// CreateCA makes a new certificate authority: an ECDSA P-256 key and a
// self-signed CA certificate named name, valid for validity. Both are
// returned PEM-encoded, the key as PKCS #8 ("PRIVATE KEY").
func CreateCA(name string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if name == "" {
		return nil, nil, errors.New("create ca: the name is empty")
	}
	if validity <= 0 {
		return nil, nil, fmt.Errorf("create ca: validity %v is not positive", validity)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true, // it signs node and client certificates, no intermediate CA
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("create ca: %w", err)
	}
	return sign(tmpl, nil, key, key)
}

// CreateCert makes a certificate signed by the CA given as PEM (the CA's
// certificate and its key, as CreateCA returns them or as openssl writes
// them), with a new ECDSA P-256 key. Both are returned PEM-encoded.
func CreateCert(caCertPEM, caKeyPEM []byte, opts CertOptions) (certPEM, keyPEM []byte, err error) {
	if opts.Name == "" {
		return nil, nil, errors.New("create certificate: the name is empty")
	}
	if opts.Server == opts.Client {
		return nil, nil, errors.New("create certificate: choose a server or a client certificate")
	}
	if opts.Validity <= 0 {
		return nil, nil, fmt.Errorf("create certificate: validity %v is not positive", opts.Validity)
	}
	ca, err := parseCA(caCertPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate: %w", err)
	}
	caKey, err := parsePrivateKey(caKeyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate: ca key: %w", err)
	}
	if !publicKeysEqual(caKey.Public(), ca.PublicKey) {
		return nil, nil, errors.New("create certificate: the ca key does not belong to the ca certificate")
	}
	now := time.Now()
	if now.After(ca.NotAfter) {
		return nil, nil, fmt.Errorf("create certificate: the ca %q expired at %s", ca.Subject.CommonName, stamp(ca.NotAfter))
	}
	notAfter := now.Add(opts.Validity)
	if notAfter.After(ca.NotAfter) {
		return nil, nil, fmt.Errorf("create certificate: it would be valid until %s, after its ca %q expires (%s): %w",
			stamp(notAfter), ca.Subject.CommonName, stamp(ca.NotAfter), ErrOutlivesCA)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: opts.Name},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		DNSNames:              slices.Clone(opts.DNS),
		IPAddresses:           slices.Clone(opts.IPs),
	}
	if tmpl.NotBefore.Before(ca.NotBefore) {
		tmpl.NotBefore = ca.NotBefore
	}
	if opts.Server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.DNSNames = appendNew(tmpl.DNSNames, ServerName, "localhost")
		if !slices.ContainsFunc(tmpl.IPAddresses, net.IPv4(127, 0, 0, 1).Equal) {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.IPv4(127, 0, 0, 1))
		}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate: %w", err)
	}
	return sign(tmpl, ca, key, caKey)
}

// sign gives tmpl a random serial number, signs it with signer as parent
// (itself when parent is nil) and returns it and key as PEM.
func sign(tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, signer crypto.Signer) (certPEM, keyPEM []byte, err error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("serial number: %w", err)
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, nil, fmt.Errorf("sign %q: %w", tmpl.Subject.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// parseCA returns the first CA certificate of a PEM file.
func parseCA(data []byte) (*x509.Certificate, error) {
	list, err := parseCertificates(data)
	if err != nil {
		return nil, err
	}
	for _, c := range list {
		if c.IsCA {
			return c, nil
		}
	}
	return nil, errors.New("the ca file holds no ca certificate")
}

func appendNew(list []string, names ...string) []string {
	for _, n := range names {
		if !slices.Contains(list, n) {
			list = append(list, n)
		}
	}
	return list
}

// stamp formats a time for messages: RFC 3339, in UTC.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
