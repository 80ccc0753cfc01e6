package main

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"

	"github.com/honua-io/honua-gitops/test/harness"
)

// runner lets the harness, written for tests, run in a command: it logs to
// stderr, keeps temporary directories under one root, and on Fatalf runs
// the cleanups (which kill the nodes) and exits 1.
type runner struct {
	mu       sync.Mutex
	root     string
	dirs     int
	cleanups []func()
	failed   bool
	once     sync.Once
}

var _ harness.TB = (*runner)(nil)

func newRunner() *runner {
	root, err := os.MkdirTemp("", "honuad-failover-")
	if err != nil {
		log.Fatal(err)
	}
	return &runner{root: root}
}

func (r *runner) Helper() {}

func (r *runner) Logf(format string, args ...any) { log.Printf(format, args...) }

func (r *runner) Fatalf(format string, args ...any) {
	log.Printf(format, args...)
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	r.finish()
	os.Exit(1)
}

func (r *runner) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

func (r *runner) TempDir() string {
	r.mu.Lock()
	r.dirs++
	dir := filepath.Join(r.root, fmt.Sprintf("%03d", r.dirs))
	r.mu.Unlock()
	if err := os.Mkdir(dir, 0o755); err != nil {
		r.Fatalf("temp dir: %v", err)
	}
	return dir
}

func (r *runner) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// finish runs the cleanups, last first, and removes what the run created.
func (r *runner) finish() {
	r.once.Do(func() {
		r.mu.Lock()
		cleanups := r.cleanups
		r.mu.Unlock()
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		os.RemoveAll(r.root)
		harness.RemoveBuild()
	})
}
