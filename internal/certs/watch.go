package certs

import (
	"context"

	"github.com/honua-io/honua-gitops/internal/filewatch"
)

// Watch reloads the material whenever one of its three files changes on
// disk, until ctx ends; it returns nil then, or an error when it cannot
// watch at all (the agent logs it and relies on SIGHUP). See package
// filewatch for what counts as a change: files replaced by editors, mv or
// a Kubernetes ..data symlink swap, and the targets of symlinked files;
// changes closer together than 250ms are one reload. A failed reload is
// logged as an error and the current material stays; a later change tries
// again.
func (s *Store) Watch(ctx context.Context) error {
	return filewatch.Watch(ctx, filewatch.Config{
		Files:  []string{s.cfg.CAFile, s.cfg.CertFile, s.cfg.KeyFile},
		Name:   "tls files",
		Logger: s.logger,
		Changed: func() {
			if err := s.Reload(); err != nil {
				s.logger.Error("tls certificates not reloaded", "error", err)
			}
		},
	})
}
