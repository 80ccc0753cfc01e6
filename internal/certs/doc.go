// Package certs owns honuad's TLS material: creating a CA and the
// certificates of nodes and clients, reading and checking the three files
// a node is given (--tls-ca-file, --tls-cert-file, --tls-key-file),
// reloading them, and the tls.Config of each kind of connection.
//
// # Files
//
// The CA file holds one or more CA certificates (PEM); a peer's or a
// client's certificate must be signed by one of them. While a CA is
// rotated it holds the old and the new one. The certificate file holds the
// node's certificate, optionally followed by intermediate CA certificates;
// the key file its private key: PKCS #8 ("PRIVATE KEY"), PKCS #1 ("RSA
// PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY"), unencrypted. Files made by
// openssl, cfssl or CreateCA and CreateCert all work.
//
// A node has one certificate for everything: it serves the API and raft
// with it and dials its peers with it, so it must allow both server and
// client authentication (or name no extended key usage). Every node's
// certificate carries the DNS name ServerName (server.honua), as Consul's
// carry server.<dc>.consul; CreateCert adds it to server certificates.
//
// # Checks
//
// Config.Check, Load and Store.Reload refuse, each with an error that names
// the flag and the file and says why, and that matches one of the Err
// values with errors.Is:
//
//   - TLS half configured: a file set without the other two, or
//     --tls-client-auth without TLS (ErrIncomplete);
//   - a file that cannot be read (ErrUnreadable), holds no certificate or
//     key, one that does not parse, or an encrypted key (ErrMalformed);
//   - a CA file with no CA certificate (ErrNoCA);
//   - a key that is not the certificate's (ErrKeyMismatch);
//   - a certificate, or a CA file's every CA certificate, expired
//     (ErrExpired) or not yet valid (ErrNotYetValid), with the date;
//   - a certificate not signed by a CA of the CA file (ErrUntrusted);
//   - a certificate whose extended key usages forbid serving or dialling
//     (ErrKeyUsage);
//   - with VerifyServerHostname, a certificate lacking ServerName
//     (ErrNotServer): every peer would refuse it.
//
// The problems of each file are all reported (errors.Join). An expired CA
// certificate beside a current one in the CA file is left out with a
// warning, so a rotation bundle keeps working after the old CA expires.
//
// # Connections
//
// A Store holds the current material and hands out a tls.Config per kind of
// connection. Each takes the material at every handshake
// (GetCertificate, GetClientCertificate, VerifyConnection), so a Reload
// applies to the next connection without a restart; connections already
// open are left alone. All allow TLS 1.2 with ECDHE and AEAD suites only,
// and TLS 1.3.
//
//   - APIServer: the API listener. ClientAuth none asks for no client
//     certificate; request verifies one if given; require insists on one.
//   - PeerServer: accepts raft connections only from a certificate of a
//     current CA that may dial and, with VerifyServerHostname, carries
//     ServerName, so a client certificate of the same CA cannot join.
//   - PeerClient: dials raft peers and forwards API requests to the
//     leader. It presents the node's certificate and accepts only a peer
//     certificate of a current CA that may serve and, with
//     VerifyServerHostname, carries ServerName, whatever address was
//     dialled: an address learnt from gossip is never trusted alone.
//   - Client (a function): for honuactl and other API clients, read once;
//     it checks the server for ServerName when given a CA file.
//
// Peer certificates are verified by this package (VerifyConnection), not
// by crypto/tls, so tls.ConnectionState.VerifiedChains stays empty;
// PeerCertificates[0] is the verified certificate. VerifyConnection runs
// on resumed sessions too, so a CA removed by a Reload is refused there
// as well.
//
// # Reloading
//
// Store.Reload reads the three files again and swaps the new material in
// atomically when it passes every check; on any error the current material
// stays and the error says why. The agent calls it on SIGHUP. Store.Watch
// calls it when a file changes on disk (package filewatch): it watches the
// files' directories with fsnotify (editors and mv replace files), the
// directories symlinked files resolve to, and Kubernetes' ..data symlink
// swaps, and waits 250ms after the last change so that a certificate and
// its key arrive together.
// Store.NotAfter says when the current certificate expires.
//
// To rotate a CA: put the old and the new CA certificate in every node's
// CA file (and reload), then give each node a certificate of the new CA,
// then remove the old CA from the CA files.
//
// # Creating certificates
//
// CreateCA and CreateCert make ECDSA P-256 keys and certificates with
// crypto/x509, backdated five minutes for clocks a little behind. A server
// certificate carries ServerName, localhost and 127.0.0.1 besides the names
// asked for, and may serve and dial; a client certificate may only dial.
// honuad tls ca create and honuad tls cert create write them to files.
package certs
