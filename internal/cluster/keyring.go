package cluster

// Gossip encryption. memberlist encrypts every gossip message with the
// primary key of its keyring and decrypts with any key of it, and with
// GossipVerifyIncoming it refuses what is not encrypted: a node with
// another key, or none, is never admitted. The keyring lives in the data
// dir (GossipKeyringFile), created from Config.GossipKey on the node's
// first start and rewritten on every change, so that a rotation survives
// restarts, as Consul's local.keyring does.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/hashicorp/memberlist"

	"github.com/honua-io/honua-gitops/internal/gossipkey"
)

// Keyring is a node's gossip keyring as the API shows it: fingerprints,
// never keys.
type Keyring struct {
	// Node is the node whose keyring this is.
	Node string
	// Encrypted is false on a node that gossips in the clear.
	Encrypted bool
	// Primary is the fingerprint of the key that encrypts what the node
	// sends.
	Primary string
	// Keys are the fingerprints of every key the node decrypts with,
	// primary first.
	Keys  []string
	Count int
}

// Errors of the keyring operations; each is returned wrapped, naming the
// key by its fingerprint.
var (
	ErrGossipNotEncrypted    = errors.New("gossip is not encrypted on this node: it was started without --gossip-key-file and has no keyring in its data dir")
	ErrGossipKeyNotInstalled = errors.New("the key is not installed on this node")
	ErrGossipKeyPrimary      = errors.New("the key is this node's primary key")
	ErrGossipKeyringFull     = fmt.Errorf("the keyring holds %d keys, the most it may", MaxGossipKeys)
)

// MaxGossipKeys bounds a keyring: a message the primary key does not
// decrypt is tried with every other key. A rotation needs two.
const MaxGossipKeys = 16

// openKeyring returns the keyring gossip starts with: the data dir's when
// there is one, else a new one holding Config.GossipKey (saved to the data
// dir), else nil: gossip is not encrypted.
func (n *Node) openKeyring() (*memberlist.Keyring, error) {
	path := n.cfg.GossipKeyringFile
	keys, err := loadKeyring(path)
	switch {
	case err == nil:
		fp := gossipkey.Fingerprint(keys[0])
		if n.cfg.GossipKey != nil && !slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, n.cfg.GossipKey) }) {
			n.logger.Warn("the gossip keyring in the data dir does not hold the key of --gossip-key-file; using the keyring, which holds the keys installed since the first start",
				"keyring", path, "primary", fp, "keys", len(keys), "key_file_key", gossipkey.Fingerprint(n.cfg.GossipKey))
		} else {
			n.logger.Info("gossip is encrypted with the keyring in the data dir", "keyring", path, "primary", fp, "keys", len(keys))
		}
	case errors.Is(err, fs.ErrNotExist) && n.cfg.GossipKey != nil:
		keys = [][]byte{n.cfg.GossipKey}
		if err := saveKeyring(path, keys); err != nil {
			return nil, fmt.Errorf("gossip keyring %s: %w", path, err)
		}
		n.logger.Info("gossip is encrypted: created the keyring in the data dir from --gossip-key-file",
			"keyring", path, "primary", gossipkey.Fingerprint(keys[0]))
	case errors.Is(err, fs.ErrNotExist):
		n.logger.Info("gossip is not encrypted: give --gossip-key-file to encrypt it")
		return nil, nil
	default:
		return nil, fmt.Errorf("%w (to start over from --gossip-key-file, remove the file)", err)
	}
	kr, err := memberlist.NewKeyring(keys[1:], keys[0])
	if err != nil {
		return nil, fmt.Errorf("gossip keyring %s: %w", path, err)
	}
	return kr, nil
}

// loadKeyring reads a keyring file: a JSON list of base64 keys, primary
// first. A missing file is an error matching fs.ErrNotExist.
func loadKeyring(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var texts []string
	if err := json.Unmarshal(b, &texts); err != nil {
		return nil, fmt.Errorf("gossip keyring %s: not a JSON list of base64 keys", path)
	}
	if len(texts) == 0 {
		return nil, fmt.Errorf("gossip keyring %s: holds no key", path)
	}
	keys := make([][]byte, 0, len(texts))
	for i, text := range texts {
		key, err := gossipkey.Parse([]byte(text))
		if err != nil {
			return nil, fmt.Errorf("gossip keyring %s: key %d: %w", path, i+1, err)
		}
		if slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, key) }) {
			return nil, fmt.Errorf("gossip keyring %s: key %d: is listed twice", path, i+1)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// saveKeyring replaces the keyring file with keys, primary first: written
// to a temporary file readable by the owner alone, synced, renamed over the
// old one, and the directory synced.
func saveKeyring(path string, keys [][]byte) error {
	texts := make([]string, len(keys))
	for i, k := range keys {
		texts[i] = gossipkey.Encode(k)
	}
	b, err := json.MarshalIndent(texts, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
}

// GossipKeyring returns this node's gossip keyring.
func (n *Node) GossipKeyring() Keyring {
	kr := Keyring{Node: n.cfg.NodeID, Keys: []string{}}
	if n.keyring == nil {
		return kr
	}
	n.keyringMu.Lock()
	defer n.keyringMu.Unlock()
	for _, k := range n.keyring.GetKeys() {
		kr.Keys = append(kr.Keys, gossipkey.Fingerprint(k))
	}
	kr.Encrypted, kr.Count = len(kr.Keys) > 0, len(kr.Keys)
	if kr.Count > 0 {
		kr.Primary = kr.Keys[0]
	}
	return kr
}

// InstallGossipKey adds key to the keyring: the node decrypts with it from
// now on, and still encrypts with its primary key. Installing a key
// already installed changes nothing.
func (n *Node) InstallGossipKey(key []byte) (changed bool, err error) {
	return n.changeKeyring("install", key, func(keys [][]byte, i int) ([][]byte, error) {
		switch {
		case i >= 0:
			return nil, nil
		case len(keys) >= MaxGossipKeys:
			return nil, ErrGossipKeyringFull
		}
		return append(slices.Clone(keys), key), nil
	}, func(kr *memberlist.Keyring) error { return kr.AddKey(key) })
}

// UseGossipKey makes an installed key the primary one: the node encrypts
// with it from now on. Every member must have it installed first, or they
// cannot read this node's messages.
func (n *Node) UseGossipKey(key []byte) (changed bool, err error) {
	return n.changeKeyring("use", key, func(keys [][]byte, i int) ([][]byte, error) {
		switch {
		case i < 0:
			return nil, fmt.Errorf("%w: install it first", ErrGossipKeyNotInstalled)
		case i == 0:
			return nil, nil
		}
		return append([][]byte{key}, slices.Delete(slices.Clone(keys), i, i+1)...), nil
	}, func(kr *memberlist.Keyring) error { return kr.UseKey(key) })
}

// RemoveGossipKey removes a key that is not the primary one: the node no
// longer decrypts with it. Removing a key not installed changes nothing.
func (n *Node) RemoveGossipKey(key []byte) (changed bool, err error) {
	return n.changeKeyring("remove", key, func(keys [][]byte, i int) ([][]byte, error) {
		switch {
		case i < 0:
			return nil, nil
		case i == 0:
			return nil, fmt.Errorf("%w: use another key first", ErrGossipKeyPrimary)
		}
		return slices.Delete(slices.Clone(keys), i, i+1), nil
	}, func(kr *memberlist.Keyring) error { return removeKey(kr, key) })
}

// changeKeyring runs one keyring operation: plan computes the new keys
// from the current ones and the index of key among them (-1: absent), nil
// for no change; the new keyring is saved to the data dir, then apply
// makes memberlist use it. Errors name the key by its fingerprint only.
func (n *Node) changeKeyring(op string, key []byte, plan func(keys [][]byte, i int) ([][]byte, error),
	apply func(*memberlist.Keyring) error) (bool, error) {
	fp := gossipkey.Fingerprint(key)
	wrap := func(err error) error { return fmt.Errorf("%s gossip key %s: %w", op, fp, err) }
	if n.keyring == nil {
		return false, wrap(ErrGossipNotEncrypted)
	}
	n.keyringMu.Lock()
	defer n.keyringMu.Unlock()
	keys := slices.Clone(n.keyring.GetKeys())
	next, err := plan(keys, slices.IndexFunc(keys, func(k []byte) bool { return bytes.Equal(k, key) }))
	if err != nil {
		return false, wrap(err)
	}
	if next == nil {
		return false, nil
	}
	if err := saveKeyring(n.cfg.GossipKeyringFile, next); err != nil {
		return false, wrap(fmt.Errorf("save the keyring: %w", err))
	}
	if err := apply(n.keyring); err != nil {
		// The checks above make this unreachable; keep file and memory
		// alike if it happens.
		if rerr := saveKeyring(n.cfg.GossipKeyringFile, keys); rerr != nil {
			err = errors.Join(err, fmt.Errorf("restore the keyring file: %w", rerr))
		}
		return false, wrap(err)
	}
	n.logger.Info("gossip keyring changed", "op", op, "key", fp, "primary", gossipkey.Fingerprint(next[0]), "keys", len(next))
	return true, nil
}

// removeKey removes a key that is not the primary one from kr.
// memberlist's RemoveKey shifts the keys after it in place, in the array
// GetKeys has handed to the goroutines decrypting messages (a data race);
// removing the last key shifts nothing. So the keys after this one are
// removed from the end, then this one, then they are added back in their
// order: for those few instructions the node cannot decrypt with them.
func removeKey(kr *memberlist.Keyring, key []byte) error {
	keys := slices.Clone(kr.GetKeys())
	i := slices.IndexFunc(keys, func(k []byte) bool { return bytes.Equal(k, key) })
	if i <= 0 {
		return fmt.Errorf("memberlist keyring: key at index %d cannot be removed", i)
	}
	after := keys[i+1:]
	for j := len(keys) - 1; j >= i; j-- {
		if err := kr.RemoveKey(keys[j]); err != nil {
			return err
		}
	}
	for _, k := range after {
		if err := kr.AddKey(k); err != nil {
			return err
		}
	}
	return nil
}

// gossipKeyProblem says, in an operator's words, why a gossip exchange
// failed when it failed for want of the right key, and "" otherwise.
// memberlist's errors carry no values to match, only these messages.
func (n *Node) gossipKeyProblem(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "no installed keys could decrypt"):
		return fmt.Sprintf("gossip is encrypted with another key (check --gossip-key-file or the keyring in %s)", n.cfg.GossipKeyringFile)
	case strings.Contains(msg, "remote state is encrypted and encryption is not configured"):
		return "the cluster encrypts gossip and this node has no key (start it with --gossip-key-file)"
	case strings.Contains(msg, "encryption is configured but remote state is not encrypted"):
		return fmt.Sprintf("this node encrypts gossip and the cluster does not (the keyring is in %s)", n.cfg.GossipKeyringFile)
	}
	return ""
}
