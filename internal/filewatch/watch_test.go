package filewatch

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// waitTimeout bounds a wait for Changed: generous, for a loaded machine.
const waitTimeout = 30 * time.Second

// watching is a slog.Handler that closes ch at the first record, which
// Watch logs once it watches.
type watching struct {
	ch   chan struct{}
	once *sync.Once
}

func (h watching) Enabled(context.Context, slog.Level) bool { return true }
func (h watching) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h watching) WithGroup(string) slog.Handler            { return h }
func (h watching) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "watching test files" && r.Level == slog.LevelDebug {
		h.once.Do(func() { close(h.ch) })
	}
	return nil
}

// start runs Watch on files until the test ends, once it watches, and
// returns the channel each call of Changed sends on.
func start(t *testing.T, files ...string) <-chan struct{} {
	t.Helper()
	changed := make(chan struct{}, 100)
	h := watching{ch: make(chan struct{}), once: &sync.Once{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, Config{Files: files, Name: "test files", Logger: slog.New(h),
			Changed: func() { changed <- struct{}{} }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	select {
	case <-h.ch:
	case err := <-done:
		t.Fatalf("Watch returned before it watched: %v", err)
	case <-time.After(waitTimeout):
		t.Fatal("Watch did not start watching")
	}
	return changed
}

func wait(t *testing.T, changed <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-changed:
	case <-time.After(waitTimeout):
		t.Fatalf("Changed was not called within %v after %s", waitTimeout, what)
	}
}

// replace writes data to a temporary file and renames it over path, as
// editors and deployment tools do.
func replace(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestWatchSeesReplacedAndRewrittenFiles: a file renamed over the watched
// one, and one written in place, are each a change, for every watched file
// of two directories.
func TestWatchSeesReplacedAndRewrittenFiles(t *testing.T) {
	a := filepath.Join(t.TempDir(), "tokens.yaml")
	b := filepath.Join(t.TempDir(), "other.pem")
	for _, f := range []string{a, b} {
		if err := os.WriteFile(f, []byte("v1"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	changed := start(t, a, b, "")
	replace(t, a, "v2")
	wait(t, changed, "the first directory's file was replaced")
	if err := os.WriteFile(b, []byte("v3"), 0o600); err != nil {
		t.Fatal(err)
	}
	wait(t, changed, "the second directory's file was written in place")
}

// TestRelevant: which events in a watched directory count.
func TestRelevant(t *testing.T) {
	dir := t.TempDir()
	target := t.TempDir()
	real := filepath.Join(target, "real.pem")
	if err := os.WriteFile(real, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.pem")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var set watchSet
	if err := set.sync(w, []string{filepath.Join(dir, "tokens.yaml"), link}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path string
		want bool
	}{
		{filepath.Join(dir, "tokens.yaml"), true},
		{filepath.Join(dir, "link.pem"), true},
		{filepath.Join(dir, "..data"), true},
		{filepath.Join(dir, "unrelated.yaml"), false},
		{filepath.Join(dir, "tokens.yaml.tmp"), false},
		{real, true},
		{filepath.Join(target, "..data"), false}, // only a file's own directory swaps ..data
		{filepath.Join(target, "other.pem"), false},
	} {
		if got := set.relevant(tt.path); got != tt.want {
			t.Errorf("relevant(%q) = %v; want %v", tt.path, got, tt.want)
		}
	}
}
