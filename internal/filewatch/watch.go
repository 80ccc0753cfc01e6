// Package filewatch owns noticing that files a process reads at start
// changed on disk: certificates, keys, a tokens file. It calls a function
// once the changes settle, and the caller reloads what the files hold.
//
// It watches the files' directories with fsnotify, not the files, since
// editors, mv and deployment tools replace a file rather than write into
// it: an event for a file's name in its directory counts, and so does one
// for the directory a symlinked file resolves to, and, in a file's own
// directory, one for a name starting with ".." (Kubernetes updates a
// mounted Secret or ConfigMap by swapping the symlink ..data). Changes
// closer together than Debounce are one call, so that a certificate and
// its key, copied one after the other, are reloaded together.
//
// Watching needs inotify (or the platform's equivalent); where it cannot
// watch at all, Watch returns an error and the caller relies on SIGHUP.
package filewatch

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Debounce is how long Watch waits after the last change it saw before it
// calls Config.Changed.
const Debounce = 250 * time.Millisecond

// Config says what Watch watches and whom it tells.
type Config struct {
	// Files are the paths watched; empty ones are left out.
	Files []string
	// Name says what the files are in log lines: "tls files".
	Name string
	// Changed is called, from Watch's goroutine, once changes to the files
	// settle. It reloads them and logs the outcome itself.
	Changed func()
	// Logger receives what goes wrong with watching; nil discards.
	Logger *slog.Logger
}

// Watch calls cfg.Changed whenever one of cfg.Files changes on disk, until
// ctx ends; it returns nil then, or an error when it cannot watch at all.
// A directory it cannot watch (while others can be) is logged as a
// warning. After each call it watches the files anew, since a symlink may
// point elsewhere now.
func Watch(ctx context.Context, cfg Config) error {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", cfg.Name, err)
	}
	defer w.Close()
	var set watchSet
	if err := set.sync(w, cfg.Files); err != nil {
		if len(set.dirs) == 0 {
			return fmt.Errorf("watch %s: %w", cfg.Name, err)
		}
		logger.Warn("watching "+cfg.Name, "error", err)
	}
	logger.Debug("watching "+cfg.Name, "dirs", set.list())

	timer := time.NewTimer(Debounce)
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
				timer.Reset(Debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			logger.Warn("watching "+cfg.Name, "error", err)
		case <-timer.C:
			cfg.Changed()
			if err := set.sync(w, cfg.Files); err != nil {
				logger.Warn("watching "+cfg.Name, "error", err)
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

// sync computes the set for files as they resolve now, and adds and
// removes watches to match. It returns an error naming the directories it
// could not watch; the others are watched.
func (ws *watchSet) sync(w *fsnotify.Watcher, files []string) error {
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
	for _, f := range files {
		if f == "" {
			continue
		}
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

// relevant reports whether an event for path may change one of the files.
func (ws *watchSet) relevant(path string) bool {
	dir, name := filepath.Split(path)
	d := ws.dirs[filepath.Clean(dir)]
	return d != nil && (d.names[name] || d.dotdot && strings.HasPrefix(name, ".."))
}

func (ws *watchSet) list() []string {
	return slices.Sorted(maps.Keys(ws.dirs))
}
