package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// transports holds the transport of each TLS config clients were given,
// so that clients of one config share their connections as clients
// without one share http.DefaultTransport's.
var transports sync.Map // *tls.Config → *http.Transport

// transportFor returns the transport of a client given cfg: without one,
// http.DefaultTransport; with one, a transport that dials https://
// addresses with cfg and completes the handshake before a request is
// written, shared by every client given the same cfg.
func transportFor(cfg *tls.Config) http.RoundTripper {
	if cfg == nil {
		return http.DefaultTransport
	}
	if tr, ok := transports.Load(cfg); ok {
		return tr.(*http.Transport)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialTLSContext = dialTLS(cfg)
	actual, _ := transports.LoadOrStore(cfg, tr)
	return actual.(*http.Transport)
}

// handshakeTimeout bounds a TLS handshake with a node.
const handshakeTimeout = 10 * time.Second

// dialTLS returns a dialer for https:// addresses. A handshake that fails
// is a failed dial, so the client tries the next node (nothing was sent),
// with an error that says what to change; a node that answers the
// handshake in plain HTTP is a mistake in the address, reported at once.
func dialTLS(cfg *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
		defer cancel()
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}, Config: cfg}
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			return c, nil
		}
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, err
		}
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) && bytes.HasPrefix(rh.RecordHeader[:], []byte("HTTP/")) {
			return nil, fmt.Errorf("the server at %s does not speak TLS: use http://%s, or turn TLS on there", addr, addr)
		}
		return nil, &net.OpError{Op: "dial", Net: network, Addr: hostAddr(addr), Err: handshakeError(addr, err)}
	}
}

// handshakeError explains a failed handshake with addr.
func handshakeError(addr string, err error) error {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("the certificate of %s is not signed by a CA this client trusts (%w): "+
			"give the cluster's CA (honuactl --ca-file or HONUA_CACERT)", addr, err)
	case errors.As(err, &hostname):
		return fmt.Errorf("the certificate of %s is not a node's (%w): honuad nodes carry server.honua; "+
			"give the cluster's CA (honuactl --ca-file or HONUA_CACERT) to check for it", addr, err)
	}
	return fmt.Errorf("tls handshake with %s: %w", addr, err)
}

// hostAddr names an address in a net.OpError.
type hostAddr string

func (a hostAddr) Network() string { return "tcp" }
func (a hostAddr) String() string  { return string(a) }

// plainToTLS is what Go's http.Server answers a plain HTTP request on a
// TLS port; other servers answer a TLS port's plain request otherwise,
// but none of them as honuad.
const plainToTLS = "Client sent an HTTP request to an HTTPS server"

// checkScheme turns the answer of a TLS port to a plain HTTP request into
// an error that says to use https://; any other answer is returned as it
// is.
func checkScheme(base string, resp *http.Response) (*http.Response, error) {
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Honua-Node") != "" || resp.Request.URL.Scheme != "http" {
		return resp, nil
	}
	head := make([]byte, 512)
	n, _ := io.ReadFull(resp.Body, head)
	head = head[:n]
	if strings.Contains(string(head), plainToTLS) {
		resp.Body.Close()
		return nil, fmt.Errorf("the server at %s speaks TLS: use https://%s", base, base)
	}
	resp.Body = readCloser{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	return resp, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// describeTLS adds what to do to an error TLS caused: a node that requires
// a client certificate refuses a connection without one after the
// handshake (TLS 1.3); without a TLS config, http.DefaultTransport's
// handshake errors come here too.
func describeTLS(base string, err error) error {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case errors.As(err, &unknown), errors.As(err, &hostname):
		return handshakeError(base, err)
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("the server at %s does not speak TLS: use http://%s, or turn TLS on there", base, base)
	}
	if strings.Contains(err.Error(), "certificate required") {
		return fmt.Errorf("the server at %s requires a client certificate: give honuactl --client-cert and --client-key: %w", base, err)
	}
	if strings.Contains(err.Error(), "bad certificate") || strings.Contains(err.Error(), "unknown certificate authority") {
		return fmt.Errorf("the server at %s refused this client's certificate: %w", base, err)
	}
	return err
}
