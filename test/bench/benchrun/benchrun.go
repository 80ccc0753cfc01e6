// Package benchrun lets the test harness and gitserver, written for tests,
// run inside the bench commands.
package benchrun

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/honua-io/honua-gitops/test/harness"
)

// Runner lets the harness and gitserver, written for tests, run in a
// command: it logs to stderr, keeps temporary directories under one root,
// and on Fatalf runs the cleanups (which kill the nodes and the git daemon)
// and exits 1.
type Runner struct {
	mu       sync.Mutex
	root     string
	keep     bool // leave root on disk, for its logs and repositories
	name     string
	dirs     int
	cleanups []func()
	failed   bool
	once     sync.Once
}

var _ harness.TB = (*Runner)(nil)

// New returns a runner for the bench command name; keep leaves its files on
// disk at the end. An interrupt ends the command as Fatalf does.
func New(name string, keep bool) *Runner {
	root, err := os.MkdirTemp("", "honuad-"+name+"-")
	if err != nil {
		log.Fatal(err)
	}
	r := &Runner{root: root, keep: keep, name: name}
	// Ctrl-C (or SIGTERM) runs the cleanups too: no node or git daemon
	// outlives the command.
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		r.Fatalf("interrupted")
	}()
	return r
}

func (r *Runner) Helper() {}

func (r *Runner) Logf(format string, args ...any) { log.Printf(format, args...) }

func (r *Runner) Fatalf(format string, args ...any) {
	log.Printf(format, args...)
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	r.Finish()
	os.Exit(1)
}

func (r *Runner) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

func (r *Runner) TempDir() string {
	r.mu.Lock()
	r.dirs++
	dir := filepath.Join(r.root, fmt.Sprintf("%03d", r.dirs))
	r.mu.Unlock()
	if err := os.Mkdir(dir, 0o755); err != nil {
		r.Fatalf("temp dir: %v", err)
	}
	return dir
}

func (r *Runner) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// Helper, Logf, Fatalf, Cleanup, TempDir and Failed implement harness.TB.

// Finish runs the cleanups, last first, and removes what the run created
// unless asked to keep it. Defer it in main.
func (r *Runner) Finish() {
	r.once.Do(func() {
		r.mu.Lock()
		cleanups := r.cleanups
		r.mu.Unlock()
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		if r.keep {
			log.Printf("kept %s (node logs, repositories)", r.root)
		} else {
			os.RemoveAll(r.root)
		}
		harness.RemoveBuild()
	})
}

// Git returns the runner as the testing.TB package gitserver takes.
func (r *Runner) Git() testing.TB { return gitT{r: r} }

// gitT adapts the runner to the testing.TB that package gitserver takes.
// testing.TB cannot be implemented outside package testing (it has an
// unexported method), so gitT embeds a nil one for that method and
// overrides every method gitserver calls, and the other common ones; a call
// to one it does not override would panic.
type gitT struct {
	testing.TB
	r *Runner
}

func (g gitT) Helper()                           {}
func (g gitT) Name() string                      { return g.r.name + "-bench" }
func (g gitT) Log(args ...any)                   { g.r.Logf("%s", fmt.Sprint(args...)) }
func (g gitT) Logf(format string, args ...any)   { g.r.Logf(format, args...) }
func (g gitT) Error(args ...any)                 { g.r.Fatalf("%s", fmt.Sprint(args...)) }
func (g gitT) Errorf(format string, args ...any) { g.r.Fatalf(format, args...) }
func (g gitT) Fatal(args ...any)                 { g.r.Fatalf("%s", fmt.Sprint(args...)) }
func (g gitT) Fatalf(format string, args ...any) { g.r.Fatalf(format, args...) }
func (g gitT) Fail()                             { g.r.Fatalf("failed") }
func (g gitT) FailNow()                          { g.r.Fatalf("failed") }
func (g gitT) Failed() bool                      { return g.r.Failed() }
func (g gitT) Skip(args ...any)                  { g.r.Fatalf("%s", fmt.Sprint(args...)) }
func (g gitT) Skipf(format string, args ...any)  { g.r.Fatalf(format, args...) }
func (g gitT) SkipNow()                          { g.r.Fatalf("skipped") }
func (g gitT) Skipped() bool                     { return false }
func (g gitT) Cleanup(f func())                  { g.r.Cleanup(f) }
func (g gitT) TempDir() string                   { return g.r.TempDir() }
func (g gitT) Context() context.Context          { return context.Background() }
