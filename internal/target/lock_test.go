package target

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// holdLock takes a directory target's lock as an apply of token does, as
// another process would (through another directoryTarget), and keeps it
// until the test ends: an apply frozen while it holds the lock.
func holdLock(t *testing.T, d *directoryTarget, token uint64) *dirLock {
	t.Helper()
	other := newDir(t, d.path, 0)
	l, err := other.lock(context.Background(), token)
	if err != nil {
		t.Fatalf("lock as token %d: %v", token, err)
	}
	t.Cleanup(l.unlock)
	return l
}

// TestDirectoryLockBrokenByNewerToken holds the lock as an apply that was
// frozen (a paused former leader) would: a newer token breaks it after a
// bounded wait and switches in; the same or an older token waits as long
// and fails, saying who holds the lock.
func TestDirectoryLockBrokenByNewerToken(t *testing.T) {
	t.Run("newer token breaks the lock", func(t *testing.T) {
		d := newDir(t, filepath.Join(t.TempDir(), "production"), 0)
		d.lockWait = 300 * time.Millisecond
		mustApply(t, d, testBundle("production-1", 1))
		old := holdLock(t, d, 5)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := d.Apply(ctx, testBundle("production-6", 6)); err != nil {
			t.Fatalf("Apply(token 6) while token 5 holds the lock = %v; want it to break the lock", err)
		}
		if got := served(t, d).FencingToken; got != 6 {
			t.Errorf("served token %d; want 6", got)
		}
		// The former holder, resumed, may write nothing more.
		var fe *FencedError
		if err := old.check(); !errors.As(err, &fe) || fe.Token != 5 || fe.BrokenBy != 6 || !strings.Contains(err.Error(), "fencing token 6 broke the lock") {
			t.Errorf("the former holder's check = %v; want a FencedError naming token 6", err)
		}
		// The lock is free again once the breaker is done.
		mustApply(t, d, testBundle("production-7", 7))
	})
	for _, holder := range []uint64{6, 7} {
		t.Run(fmt.Sprintf("token 6 waits for token %d and fails", holder), func(t *testing.T) {
			d := newDir(t, filepath.Join(t.TempDir(), "production"), 0)
			d.lockWait = 300 * time.Millisecond
			mustApply(t, d, testBundle("production-1", 1))
			holdLock(t, d, holder)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			err := d.Apply(ctx, testBundle("production-6", 6))
			if err == nil || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Apply(token 6) while token %d holds the lock = %v; want it to give up before the context ends", holder, err)
			}
			e := asError(t, err)
			if want := fmt.Sprintf("held by fencing token %d", holder); e.Op != "lock" || !e.Retryable || !strings.Contains(err.Error(), want) {
				t.Errorf("error = %v (op %q, retryable %v); want a retryable lock error saying %q", err, e.Op, e.Retryable, want)
			}
			if got := served(t, d).FencingToken; got != 1 {
				t.Errorf("served token %d; want 1", got)
			}
		})
	}
}

// TestDirectoryLockLeftUnlocked takes at once a lock whose holder
// released it, or died, without removing the file, whatever token it
// names.
func TestDirectoryLockLeftUnlocked(t *testing.T) {
	d := newDir(t, filepath.Join(t.TempDir(), "production"), 0)
	d.lockWait = time.Hour
	mustApply(t, d, testBundle("production-1", 1))
	if err := os.WriteFile(filepath.Join(d.area, "lock"), []byte("9"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Apply(ctx, testBundle("production-6", 6)); err != nil {
		t.Fatalf("Apply(token 6) with an unlocked lock file naming token 9 = %v; want it applied", err)
	}
}

// TestDirectoryFrozenSwitchNeverServesOlder freezes an apply of token 5
// after its last fencing check, just before it switches the path (a former
// leader paused there). An apply of token 6 breaks its lock and switches
// without waiting for it; when token 5 resumes, the path must not go back
// to its older bundle: a reader that saw token 6 must not see 5 afterwards.
func TestDirectoryFrozenSwitchNeverServesOlder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "production")
	var mu sync.Mutex
	var switches []uint64
	record := func(id string) {
		token, _ := strconv.ParseUint(id[strings.LastIndexByte(id, '-')+1:], 10, 64)
		mu.Lock()
		switches = append(switches, token)
		mu.Unlock()
	}
	a, b := newDir(t, path, 0), newDir(t, path, 0)
	a.switched, b.switched = record, record
	b.lockWait = 200 * time.Millisecond
	mustApply(t, a, testBundle("production-1", 1))

	frozen, resume := make(chan struct{}), make(chan struct{})
	a.beforeSwitch = func() { close(frozen); <-resume }
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	aDone := make(chan error, 1)
	go func() { aDone <- a.Apply(ctx, testBundle("production-5", 5)) }()
	select {
	case <-frozen:
	case err := <-aDone:
		t.Fatalf("Apply(token 5) ended before switching: %v", err)
	}
	// Token 6 breaks the lock and switches while token 5 stays frozen: a
	// frozen apply never stalls a newer one.
	if err := b.Apply(ctx, testBundle("production-6", 6)); err != nil {
		t.Fatalf("Apply(token 6) while token 5 is frozen before its switch = %v; want it applied", err)
	}
	close(resume)
	if errA := <-aDone; !errors.Is(errA, ErrFenced) {
		t.Errorf("Apply(token 5), whose lock was broken = %v; want it fenced", errA)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(switches); i++ {
		if switches[i] < switches[i-1] {
			t.Fatalf("the path was switched to tokens %v: it went from %d back to %d", switches, switches[i-1], switches[i])
		}
	}
	if got := served(t, b).FencingToken; got != 6 {
		t.Errorf("served token %d at the end (switches %v); want 6", got, switches)
	}
}
