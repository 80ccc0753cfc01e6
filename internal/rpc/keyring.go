package rpc

// The gossip keyring endpoints. A keyring belongs to one node: they are
// served by the node asked and never forwarded to the leader (localRoutes),
// and a rotation calls them on every member in turn (honuactl keyring).
// Keys travel only in request bodies; answers and logs name them by their
// fingerprints.

import (
	"fmt"
	"net/http"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/gossipkey"
)

// Keyring is the node's gossip keyring, changed one node at a time.
type Keyring interface {
	GossipKeyring() cluster.Keyring
	InstallGossipKey(key []byte) (changed bool, err error)
	UseGossipKey(key []byte) (changed bool, err error)
	RemoveGossipKey(key []byte) (changed bool, err error)
}

var _ Keyring = (*cluster.Node)(nil)

// localRoutes name the routes a node serves itself, writes and
// ?consistent=true reads alike: they concern the node, not the replicated
// state.
var localRoutes = map[string]bool{"keyring_list": true, "keyring_change": true}

func (s *Server) keyring() api.Keyring {
	if s.cfg.Keyring == nil {
		return api.Keyring{Node: s.cfg.Cluster.ID(), Keys: []string{}}
	}
	return wireKeyring(s.cfg.Keyring.GossipKeyring())
}

func (s *Server) handleKeyringList(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.keyring())
}

func (s *Server) handleKeyringChange(w http.ResponseWriter, r *http.Request) {
	var b api.KeyringOp
	if err := decode(r, &b); err != nil {
		writeErr(w, err)
		return
	}
	if b.Op != "install" && b.Op != "use" && b.Op != "remove" {
		writeErr(w, fmt.Errorf("op %q: must be install, use or remove: %w", b.Op, errBadRequest))
		return
	}
	key, err := gossipkey.Parse([]byte(b.Key))
	if err != nil {
		writeErr(w, fmt.Errorf("key: %w: %w", err, errBadRequest))
		return
	}
	if s.cfg.Keyring == nil {
		writeErr(w, fmt.Errorf("%s gossip key %s: %w", b.Op, gossipkey.Fingerprint(key), cluster.ErrGossipNotEncrypted))
		return
	}
	op := map[string]func([]byte) (bool, error){
		"install": s.cfg.Keyring.InstallGossipKey,
		"use":     s.cfg.Keyring.UseGossipKey,
		"remove":  s.cfg.Keyring.RemoveGossipKey,
	}[b.Op]
	changed, err := op(key)
	if err != nil {
		writeErr(w, err)
		return
	}
	fp := gossipkey.Fingerprint(key)
	s.log(r).Info("gossip keyring "+b.Op, "key", fp, "changed", changed, "by", identityOf(r).Name)
	writeJSON(w, http.StatusOK, api.KeyringChange{Op: b.Op, Fingerprint: fp, Changed: changed, Keyring: s.keyring()})
}
