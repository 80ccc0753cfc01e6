package certs

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ServerName is the DNS name every honuad node's certificate carries, and
// the name a node checks on a peer's certificate when VerifyServerHostname
// is on, whatever address it dialled.
const ServerName = "server.honua"

// The flags of honuad agent that set a Config, as error messages name them.
const (
	flagCA         = "--tls-ca-file"
	flagCert       = "--tls-cert-file"
	flagKey        = "--tls-key-file"
	flagClientAuth = "--tls-client-auth"
	flagVerifyName = "--tls-verify-server-hostname"
)

// Config is a node's TLS configuration: three files, and how peers and API
// clients are checked. The zero Config has TLS off.
type Config struct {
	// CAFile holds the CA certificates (PEM) a peer's or an API client's
	// certificate must be signed by; more than one while a CA is rotated.
	CAFile string
	// CertFile holds this node's certificate (PEM), optionally followed by
	// intermediate CA certificates; KeyFile holds its private key.
	CertFile string
	KeyFile  string
	// VerifyServerHostname makes raft connections, in both directions, and
	// forwarding accept only a peer whose certificate carries ServerName,
	// so a client certificate of the same CA cannot pose as a node.
	// honuad agent turns it on by default; the zero Config has it off.
	VerifyServerHostname bool
	// ClientAuth says whether the API asks its clients for certificates.
	ClientAuth ClientAuth
}

// Enabled reports whether any of the three files is set: TLS is then on,
// and Check insists on all three.
func (c Config) Enabled() bool {
	return c.CAFile != "" || c.CertFile != "" || c.KeyFile != ""
}

// Check refuses a configuration a node cannot start with: TLS half
// configured (naming the flags set and missing), a client auth mode
// without TLS, and every problem Load finds in the files (see the package
// comment). TLS off is not an error. Errors match the Err values of this
// package with errors.Is; several problems are joined.
func (c Config) Check() error {
	if err := c.checkFlags(); err != nil || !c.Enabled() {
		return err
	}
	_, err := loadMaterial(c, time.Now())
	return err
}

// checkFlags checks which fields are set, without reading the files.
func (c Config) checkFlags() error {
	if c.ClientAuth < ClientAuthNone || c.ClientAuth > ClientAuthRequire {
		return newError(ErrIncomplete, nil, "%s: unknown mode %d", flagClientAuth, int(c.ClientAuth))
	}
	if !c.Enabled() {
		if c.ClientAuth != ClientAuthNone {
			return newError(ErrIncomplete, nil, "%s is %s but TLS is off: set %s, %s and %s",
				flagClientAuth, c.ClientAuth, flagCA, flagCert, flagKey)
		}
		return nil
	}
	var set, missing []string
	for _, f := range []struct{ flag, value string }{{flagCA, c.CAFile}, {flagCert, c.CertFile}, {flagKey, c.KeyFile}} {
		if f.value == "" {
			missing = append(missing, f.flag)
		} else {
			set = append(set, f.flag)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	is, are := "is", "is"
	if len(set) > 1 {
		is = "are"
	}
	if len(missing) > 1 {
		are = "are"
	}
	return newError(ErrIncomplete, nil, "%s %s set but %s %s not: TLS needs all three",
		strings.Join(set, " and "), is, strings.Join(missing, " and "), are)
}

// ClientAuth says whether the API asks a client for a certificate.
type ClientAuth int

const (
	// ClientAuthNone asks for no client certificate: clients authenticate
	// with their bearer token only.
	ClientAuthNone ClientAuth = iota
	// ClientAuthRequest asks for one: a client that sends one must send a
	// certificate signed by the CA; a client may send none.
	ClientAuthRequest
	// ClientAuthRequire insists on a certificate signed by the CA (mutual
	// TLS for API clients too); the bearer token is still checked.
	ClientAuthRequire
)

var clientAuthNames = []string{"none", "request", "require"}

// ParseClientAuth parses a --tls-client-auth value: none, request or
// require.
func ParseClientAuth(s string) (ClientAuth, error) {
	for i, n := range clientAuthNames {
		if s == n {
			return ClientAuth(i), nil
		}
	}
	return ClientAuthNone, fmt.Errorf("%q is not none, request or require", s)
}

// String returns the flag value of a: none, request or require.
func (a ClientAuth) String() string {
	if a < 0 || int(a) >= len(clientAuthNames) {
		return fmt.Sprintf("ClientAuth(%d)", int(a))
	}
	return clientAuthNames[a]
}

// MarshalText returns the flag value of a, for configuration files.
func (a ClientAuth) MarshalText() ([]byte, error) {
	if a < 0 || int(a) >= len(clientAuthNames) {
		return nil, fmt.Errorf("unknown client auth mode %d", int(a))
	}
	return []byte(a.String()), nil
}

// UnmarshalText parses a flag value, as ParseClientAuth does.
func (a *ClientAuth) UnmarshalText(b []byte) error {
	v, err := ParseClientAuth(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// The conditions Check, Load and Reload refuse, to test with errors.Is.
// The error itself says which file or flag, and why.
var (
	// ErrIncomplete: TLS is half configured (a file set without the
	// others, a client auth mode without TLS).
	ErrIncomplete = errors.New("tls half configured")
	// ErrUnreadable: a file cannot be read (missing, a directory, no
	// permission); the error also wraps the fs error.
	ErrUnreadable = errors.New("tls file unreadable")
	// ErrMalformed: a file holds no certificate or key, or one that does
	// not parse, or an encrypted key.
	ErrMalformed = errors.New("tls file malformed")
	// ErrNoCA: the CA file holds certificates but no CA certificate.
	ErrNoCA = errors.New("no ca certificate")
	// ErrKeyMismatch: the key is not the key of the certificate.
	ErrKeyMismatch = errors.New("key does not match certificate")
	// ErrExpired: the certificate, or every CA certificate, has expired.
	ErrExpired = errors.New("certificate expired")
	// ErrNotYetValid: the certificate, or every CA certificate, is not
	// valid yet.
	ErrNotYetValid = errors.New("certificate not yet valid")
	// ErrUntrusted: the certificate is not signed by a CA of the CA file.
	ErrUntrusted = errors.New("certificate not signed by the ca")
	// ErrKeyUsage: the certificate's extended key usages forbid serving or
	// dialling; a node's certificate must allow both.
	ErrKeyUsage = errors.New("certificate key usage")
	// ErrNotServer: VerifyServerHostname is on and the certificate does
	// not carry ServerName, so every peer would refuse it.
	ErrNotServer = errors.New("not a server certificate")
)

// checkError is a refusal: kind is one of the Err values above, msg the
// message, err an underlying error (or nil).
type checkError struct {
	kind error
	msg  string
	err  error
}

func newError(kind, err error, format string, args ...any) error {
	return &checkError{kind: kind, msg: fmt.Sprintf(format, args...), err: err}
}

func (e *checkError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *checkError) Unwrap() []error {
	if e.err != nil {
		return []error{e.kind, e.err}
	}
	return []error{e.kind}
}
