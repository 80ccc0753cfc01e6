package certs

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// debounce is how long Watch waits after the last change it saw before it
// reloads: copying a certificate and then its key is one change.
const debounce = 250 * time.Millisecond

// Watch reloads the material whenever one of its three files changes on
// disk, until ctx ends; it returns nil then, or an error when it cannot
// watch at all (the agent logs it and relies on SIGHUP).
//
// It watches the directories, not the files, since editors, mv and
// deployment tools replace a file rather than write into it: an event for
// a file's name in its directory counts, and so does one for the
// directory a symlinked file resolves to, and, in a file's own directory,
// one for a name starting with ".." (Kubernetes updates a mounted Secret
// by swapping the symlink ..data). Changes closer together than 250ms are
// one reload. A failed reload is logged as an error and the current
// material stays; a later change tries again.
func (s *Store) Watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch tls files: %w", err)
	}
	defer w.Close()
	var set watchSet
	if err := set.sync(w, s.cfg); err != nil {
		if len(set.dirs) == 0 {
			return fmt.Errorf("watch tls files: %w", err)
		}
		s.logger.Warn("watching tls files", "error", err)
	}
	s.logger.Debug("watching tls files", "dirs", set.list())

	timer := time.NewTimer(debounce)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if set.relevant(ev.Name) {
				timer.Reset(debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			s.logger.Warn("watching tls files", "error", err)
		case <-timer.C:
			if err := s.Reload(); err != nil {
				s.logger.Error("tls certificates not reloaded", "error", err)
			}
			// A symlink may point somewhere else now.
			if err := set.sync(w, s.cfg); err != nil {
				s.logger.Warn("watching tls files", "error", err)
			}
		}
	}
}

// watchSet is what Watch watches: for each directory, the names in it that
// matter, and whether names starting with ".." do.
type watchSet struct {
	dirs map[string]*watchDir
}

type watchDir struct {
	names  map[string]bool
	dotdot bool
}

// sync computes the set for the files of c as they resolve now, and adds
// and removes watches to match. It returns an error naming the
// directories it could not watch; the others are watched.
func (ws *watchSet) sync(w *fsnotify.Watcher, c Config) error {
	want := map[string]*watchDir{}
	add := func(path string, dotdot bool) {
		dir, name := filepath.Split(path)
		dir = filepath.Clean(dir)
		d := want[dir]
		if d == nil {
			d = &watchDir{names: map[string]bool{}}
			want[dir] = d
		}
		d.names[name] = true
		d.dotdot = d.dotdot || dotdot
	}
	for _, f := range []string{c.CAFile, c.CertFile, c.KeyFile} {
		abs, err := filepath.Abs(f)
		if err != nil {
			continue
		}
		add(abs, true)
		if resolved, err := filepath.EvalSymlinks(abs); err == nil && resolved != abs {
			add(resolved, false)
		}
	}
	var errs []string
	for dir := range want {
		if ws.dirs[dir] == nil {
			if err := w.Add(dir); err != nil {
				errs = append(errs, err.Error())
				delete(want, dir)
			}
		}
	}
	for dir := range ws.dirs {
		if want[dir] == nil {
			_ = w.Remove(dir) // gone already when the directory was removed
		}
	}
	ws.dirs = want
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// relevant reports whether an event for path may change the material.
func (ws *watchSet) relevant(path string) bool {
	dir, name := filepath.Split(path)
	d := ws.dirs[filepath.Clean(dir)]
	return d != nil && (d.names[name] || d.dotdot && strings.HasPrefix(name, ".."))
}

func (ws *watchSet) list() []string {
	return slices.Sorted(maps.Keys(ws.dirs))
}
