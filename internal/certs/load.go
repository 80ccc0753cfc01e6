package certs

import (
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// material is one consistent set of what the three files hold: read,
// parsed and checked together, and never changed after.
type material struct {
	cas      []*x509.Certificate // the CA certificates valid when loaded
	pool     *x509.CertPool      // cas
	cert     tls.Certificate     // this node's chain and key, Leaf set
	leaf     *x509.Certificate
	digest   [sha256.Size]byte // of the three files' bytes, to tell a change
	warnings []string          // what is odd but usable
}

// loadMaterial reads and checks the files of c (all three set) at now.
// Each file's problem is reported (joined); the checks between the files
// (key against certificate, certificate against CA) run only when the
// files themselves are sound.
func loadMaterial(c Config, now time.Time) (*material, error) {
	m := &material{}
	caPEM, caErr := readFile(flagCA, c.CAFile)
	certPEM, certErr := readFile(flagCert, c.CertFile)
	keyPEM, keyErr := readFile(flagKey, c.KeyFile)
	h := sha256.New()
	for _, b := range [][]byte{caPEM, certPEM, keyPEM} {
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	h.Sum(m.digest[:0])

	if caErr == nil {
		caErr = m.loadCAs(flagCA, c.CAFile, caPEM, now)
	}
	var chain []*x509.Certificate
	if certErr == nil {
		chain, certErr = parseChain(flagCert, c.CertFile, certPEM, now)
	}
	var key crypto.Signer
	if keyErr == nil {
		key, keyErr = parseKey(flagKey, c.KeyFile, keyPEM)
	}
	if err := errors.Join(caErr, certErr, keyErr); err != nil {
		return nil, err
	}
	cert, err := keyPair(flagCert, c.CertFile, chain, flagKey, c.KeyFile, key)
	if err != nil {
		return nil, err
	}
	m.cert, m.leaf = cert, cert.Leaf
	if err := m.checkLeaf(c, chain, now); err != nil {
		return nil, err
	}
	return m, nil
}

// parseChain parses a certificate file: the certificate, then optional
// intermediates. The certificate must be valid at now.
func parseChain(label, file string, data []byte, now time.Time) ([]*x509.Certificate, error) {
	chain, err := parseCertificates(data)
	if err != nil {
		return nil, newError(ErrMalformed, nil, "%s %s: %s", label, file, err)
	}
	return chain, checkDates(label, file, chain[0], now)
}

// parseKey parses a key file.
func parseKey(label, file string, data []byte) (crypto.Signer, error) {
	key, err := parsePrivateKey(data)
	if err != nil {
		return nil, newError(ErrMalformed, nil, "%s %s: %s", label, file, err)
	}
	return key, nil
}

// keyPair checks that key is the key of chain's certificate and returns
// them as a tls.Certificate with its Leaf set.
func keyPair(certLabel, certFile string, chain []*x509.Certificate, keyLabel, keyFile string, key crypto.Signer) (tls.Certificate, error) {
	if !publicKeysEqual(key.Public(), chain[0].PublicKey) {
		return tls.Certificate{}, newError(ErrKeyMismatch, nil, "%s %s is not the key of the certificate in %s %s (%s)",
			keyLabel, keyFile, certLabel, certFile, describe(chain[0]))
	}
	cert := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, x := range chain {
		cert.Certificate = append(cert.Certificate, x.Raw)
	}
	return cert, nil
}

// loadCAs fills cas and pool from the CA file's certificates: the CA
// certificates valid at now. Expired ones and certificates that are not a
// CA's are left out with a warning; a file left with none is an error.
func (m *material) loadCAs(label, file string, data []byte, now time.Time) error {
	list, err := parseCertificates(data)
	if err != nil {
		return newError(ErrMalformed, nil, "%s %s: %s", label, file, err)
	}
	m.pool = x509.NewCertPool()
	var dateErrs []error
	for _, ca := range list {
		if !ca.IsCA {
			m.warnings = append(m.warnings, fmt.Sprintf("%s %s holds %s, which is not a ca certificate; it is ignored", label, file, describe(ca)))
			continue
		}
		if err := checkDates(label, file, ca, now); err != nil {
			dateErrs = append(dateErrs, err)
			m.warnings = append(m.warnings, err.Error()+"; it is ignored")
			continue
		}
		m.cas = append(m.cas, ca)
		m.pool.AddCert(ca)
	}
	switch {
	case len(m.cas) > 0:
		return nil
	case len(dateErrs) > 0:
		m.warnings = nil
		return errors.Join(dateErrs...)
	default:
		return newError(ErrNoCA, nil, "%s %s holds no ca certificate (it holds %s)", label, file, describeAll(list))
	}
}

// checkLeaf checks the node's certificate against the CAs: signed by one,
// usable to serve and to dial, and carrying ServerName when c asks for it.
func (m *material) checkLeaf(c Config, chain []*x509.Certificate, now time.Time) error {
	inter := x509.NewCertPool()
	for _, x := range chain[1:] {
		inter.AddCert(x)
	}
	opts := x509.VerifyOptions{Roots: m.pool, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	if _, err := m.leaf.Verify(opts); err != nil {
		return newError(ErrUntrusted, err, "%s %s (%s) is not signed by a ca of %s %s",
			flagCert, c.CertFile, describe(m.leaf), flagCA, c.CAFile)
	}
	for _, u := range []struct {
		usage x509.ExtKeyUsage
		what  string
	}{
		{x509.ExtKeyUsageServerAuth, "serve (extended key usage server auth): the API and raft serve with it"},
		{x509.ExtKeyUsageClientAuth, "dial (extended key usage client auth): a node dials its peers with it"},
	} {
		opts.KeyUsages = []x509.ExtKeyUsage{u.usage}
		if _, err := m.leaf.Verify(opts); err != nil {
			return newError(ErrKeyUsage, nil, "%s %s (%s) may not %s", flagCert, c.CertFile, describe(m.leaf), u.what)
		}
	}
	if c.VerifyServerHostname {
		if err := m.leaf.VerifyHostname(ServerName); err != nil {
			return newError(ErrNotServer, nil, "%s %s (%s) does not carry the DNS name %s, so peers would refuse it: "+
				"make a server certificate (honuad tls cert create --server), or turn %s off",
				flagCert, c.CertFile, describe(m.leaf), ServerName, flagVerifyName)
		}
	}
	return nil
}

// readFile reads one of the files, naming its flag when it cannot.
func readFile(label, file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, newError(ErrUnreadable, err, "%s", label)
	}
	return b, nil
}

// checkDates refuses a certificate outside its validity at now, saying when
// it is valid.
func checkDates(label, file string, c *x509.Certificate, now time.Time) error {
	switch {
	case now.After(c.NotAfter):
		return newError(ErrExpired, nil, "%s %s: %s, expired at %s (it is now %s)", label, file, describe(c), stamp(c.NotAfter), stamp(now))
	case now.Before(c.NotBefore):
		return newError(ErrNotYetValid, nil, "%s %s: %s, is not valid before %s (it is now %s; is a clock wrong?)",
			label, file, describe(c), stamp(c.NotBefore), stamp(now))
	}
	return nil
}

// describe names a certificate in messages: its subject and serial number.
func describe(c *x509.Certificate) string {
	name := c.Subject.CommonName
	if name == "" {
		name = c.Subject.String()
	}
	return fmt.Sprintf("certificate %q, serial %x", name, c.SerialNumber)
}

func describeAll(list []*x509.Certificate) string {
	var s []string
	for _, c := range list {
		s = append(s, describe(c))
	}
	return strings.Join(s, ", ")
}
