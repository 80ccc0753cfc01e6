package certs

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// parseCertificates returns the certificates of a PEM file, in order. A
// file with none, or with a CERTIFICATE block that does not parse, is an
// error saying which; blocks of other types are skipped.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	var others []string
	rest := data
	for n := 1; ; n++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			others = append(others, b.Type)
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d, a CERTIFICATE, does not parse: %w", n, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no CERTIFICATE block (%s)", found(data, others))
	}
	return out, nil
}

// parsePrivateKey returns the private key of a PEM file: PKCS #8
// ("PRIVATE KEY"), PKCS #1 ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE
// KEY", as openssl ecparam writes it beside an "EC PARAMETERS" block).
// Encrypted keys are refused: honuad has no passphrase to open them with.
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	var others []string
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if !strings.HasSuffix(b.Type, "PRIVATE KEY") {
			others = append(others, b.Type)
			continue
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] != "" {
			return nil, errors.New("the key is encrypted; give it unencrypted (openssl pkey -in key.pem -out plain.pem)")
		}
		var key any
		var err error
		switch b.Type {
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		}
		if err != nil {
			return nil, fmt.Errorf("%s block does not parse: %w", b.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s block holds a %T, which cannot sign", b.Type, key)
		}
		return signer, nil
	}
	return nil, fmt.Errorf("no PRIVATE KEY block (%s)", found(data, others))
}

// found describes what a PEM file held instead of what was looked for.
func found(data []byte, types []string) string {
	switch {
	case len(types) > 0:
		return "found " + strings.Join(types, ", ")
	case len(bytes.TrimSpace(data)) == 0:
		return "the file is empty"
	default:
		return "the file is not PEM"
	}
}

// publicKeysEqual reports whether two public keys are the same key.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
