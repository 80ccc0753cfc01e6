package certs

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Store holds a node's current TLS material (CA pool, certificate, key)
// and hands out tls.Configs that use it. Reload replaces it atomically;
// every handshake after a Reload uses the new material, connections
// already open keep theirs. A Store is safe for concurrent use.
type Store struct {
	cfg    Config
	logger *slog.Logger
	now    func() time.Time

	mu  sync.Mutex // serialises Reload
	cur atomic.Pointer[material]
}

// Load checks cfg as Check does and returns a Store holding its material.
// TLS must be on (cfg.Enabled). A nil logger discards. Load logs what is
// odd but usable (an expired CA left out of a bundle) as warnings.
func Load(cfg Config, logger *slog.Logger) (*Store, error) {
	if !cfg.Enabled() {
		return nil, newError(ErrIncomplete, nil, "tls is off: %s, %s and %s are not set", flagCA, flagCert, flagKey)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{cfg: cfg, logger: logger, now: time.Now}
	if err := s.cfg.checkFlags(); err != nil {
		return nil, err
	}
	m, err := loadMaterial(cfg, s.now())
	if err != nil {
		return nil, err
	}
	s.warn(m)
	s.cur.Store(m)
	logger.Info("tls certificates loaded", s.attrs(m)...)
	return s, nil
}

// Reload reads the three files again and, when they pass every check Load
// makes, swaps them in: the next handshake uses them. On any error the
// current material stays in use and the error says why. Reloading files
// that did not change changes nothing. The agent calls Reload on SIGHUP;
// Watch calls it when the files change.
func (s *Store) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := loadMaterial(s.cfg, s.now())
	if err != nil {
		return fmt.Errorf("reload tls certificates, keeping the current ones: %w", err)
	}
	old := s.cur.Load()
	if old.digest == m.digest {
		return nil
	}
	s.warn(m)
	s.cur.Store(m)
	s.logger.Info("tls certificates reloaded", s.attrs(m)...)
	return nil
}

// NotAfter returns when the current certificate expires, for a metric
// (honuad exports it as a gauge) and for status.
func (s *Store) NotAfter() time.Time {
	return s.cur.Load().leaf.NotAfter
}

func (s *Store) warn(m *material) {
	for _, w := range m.warnings {
		s.logger.Warn(w)
	}
}

func (s *Store) attrs(m *material) []any {
	return []any{
		"certificate", m.leaf.Subject.CommonName,
		"serial", m.leaf.SerialNumber.Text(16),
		"not_after", m.leaf.NotAfter.UTC(),
		"cas", len(m.cas),
	}
}
