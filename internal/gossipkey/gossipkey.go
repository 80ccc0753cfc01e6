// Package gossipkey owns the format of the keys that encrypt gossip: the
// standard base64 (with padding) of 32 random bytes, an AES-256 key, as
// `consul keygen` prints and `honuad keygen` makes; and their fingerprints,
// which is how log lines, API answers and command output name a key. A key
// itself is written nowhere but the files an operator gives and the node's
// keyring in its data dir, and no error of this package quotes one.
package gossipkey

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// Size is the length of a key in bytes.
const Size = 32

// ErrInvalid is wrapped by every error of Parse.
var ErrInvalid = errors.New("invalid gossip key")

// Parse reads a key written as base64, with surrounding whitespace allowed.
// Its errors say why without quoting the text.
func Parse(text []byte) ([]byte, error) {
	text = bytes.TrimSpace(text)
	if len(text) == 0 {
		return nil, fmt.Errorf("%w: is empty", ErrInvalid)
	}
	// The decoder skips newlines inside the text: refuse them here, so that
	// a file holding two keys is not read as one long one.
	if bytes.ContainsAny(text, " \t\r\n\v\f") {
		return nil, fmt.Errorf("%w: is not base64: it holds whitespace inside (one key, on one line)", ErrInvalid)
	}
	key := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Decode(key, text)
	if err != nil {
		return nil, fmt.Errorf("%w: is not base64 (standard alphabet, with padding)", ErrInvalid)
	}
	if n != Size {
		return nil, fmt.Errorf("%w: decodes to %d bytes; a key is %d random bytes, base64-encoded (honuad keygen makes one)", ErrInvalid, n, Size)
	}
	return key[:n], nil
}

// Fingerprint names a key without revealing it: the hex of the first 8
// bytes of its SHA-256.
func Fingerprint(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

// Encode writes a key as Parse reads it.
func Encode(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// New returns a new random key, encoded.
func New() (string, error) {
	key := make([]byte, Size)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return Encode(key), nil
}
