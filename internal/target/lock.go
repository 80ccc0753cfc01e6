package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A directory target's lock is <area>/lock, flock(2)ed around the fencing
// check, the state file and the switch. The holder writes its fencing token
// into the file. An apply waits for the lock at most lockWait; then, when
// the holder's token is lower than its own, it breaks the lock: it makes a
// new lock file, locks it, writes its token in it and renames it over
// <area>/lock. The former holder (a paused former leader, say) keeps a lock
// on a file that is no longer the lock: before each write it checks that
// the lock file is still the one it locked, and stops with a FencedError
// when it is not. An apply whose token is not higher than the holder's
// gives up after lockWait with a retryable error that says which token
// holds the lock.

// DefaultLockWait is how long an Apply to a directory target waits for the
// lock before it breaks it (a newer token) or gives up (the same or an
// older one). The lock is held for milliseconds, while the state file and
// the symlink are written; a holder that keeps it longer is frozen.
const DefaultLockWait = 5 * time.Second

// errLockReplaced says that the lock file was replaced while we looked at
// it: look again.
var errLockReplaced = errors.New("the lock file was replaced")

// dirLock is a held directory target lock.
type dirLock struct {
	f     *os.File // the file we locked: closing it releases the lock
	name  string   // <area>/lock
	token uint64   // ours
}

// unlock releases the lock.
func (l *dirLock) unlock() { _ = l.f.Close() }

// check returns nil while <area>/lock is still the file we locked, and a
// FencedError naming the token that broke the lock otherwise: from then on
// this apply may not write.
func (l *dirLock) check() error {
	same, err := sameFile(l.f, l.name)
	if err != nil {
		return fmt.Errorf("check the lock %s: %w", l.name, err)
	}
	if same {
		return nil
	}
	holder, _ := readLockToken(l.name)
	return &FencedError{Token: l.token, Highest: holder,
		Detail: fmt.Sprintf("an apply of fencing token %d broke the lock this one held", holder)}
}

// lock takes the target's lock for an apply of token. It waits while
// another apply (of this or any process) holds it, until ctx ends or for
// d.lockWait at most; then it breaks a lock held by a lower token, and
// fails otherwise.
func (d *directoryTarget) lock(ctx context.Context, token uint64) (*dirLock, error) {
	name := filepath.Join(d.area, "lock")
	deadline := time.Now().Add(d.lockWait)
	wait := 5 * time.Millisecond
	for {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		l, err := d.tryLock(f, name, token, !time.Now().Before(deadline))
		switch {
		case err == nil:
			return l, nil
		case errors.Is(err, errLockReplaced):
			_ = f.Close()
			continue
		case !errors.Is(err, errLocked):
			_ = f.Close()
			return nil, err
		}
		holder, herr := readLockToken(name)
		_ = f.Close()
		if !time.Now().Before(deadline) {
			// tryLock breaks only a lower token's lock.
			if herr != nil {
				return nil, fmt.Errorf("%s held by an apply of unknown fencing token (%v) for %v, not broken by %d: %w",
					name, herr, d.lockWait, token, err)
			}
			return nil, fmt.Errorf("%s held by fencing token %d for %v, not lower than this apply's %d: %w",
				name, holder, d.lockWait, token, err)
		}
		t := time.NewTimer(min(wait, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			if herr != nil {
				return nil, fmt.Errorf("waiting for %s, held by another apply: %w", name, ctx.Err())
			}
			return nil, fmt.Errorf("waiting for %s, held by another apply (fencing token %d): %w", name, holder, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// tryLock locks f, the lock file name as opened, without waiting, and
// writes token in it. When another apply holds it and mayBreak is set, it
// breaks a lock held by a lower token. It returns errLocked when the lock
// stays held, and errLockReplaced when name was replaced meanwhile.
func (d *directoryTarget) tryLock(f *os.File, name string, token uint64, mayBreak bool) (*dirLock, error) {
	err := tryLock(f)
	if errors.Is(err, errLocked) && mayBreak {
		if holder, herr := readLockToken(name); herr == nil && holder < token {
			return d.breakLock(f, name, token, holder)
		}
	}
	if err != nil {
		if !errors.Is(err, errLocked) {
			err = fmt.Errorf("flock %s: %w", name, err)
		}
		return nil, err
	}
	// The lock may have been broken between the open and the flock: then
	// f is no longer the lock.
	if same, err := sameFile(f, name); err != nil || !same {
		return nil, errors.Join(errLockReplaced, err)
	}
	if err := writeLockToken(f, token); err != nil {
		return nil, fmt.Errorf("write %s: %w", name, err)
	}
	return &dirLock{f: f, name: name, token: token}, nil
}

// breakLock replaces the lock file held, as f, by holder with a new one
// that token holds. The holder's next check fails.
func (d *directoryTarget) breakLock(held *os.File, name string, token, holder uint64) (*dirLock, error) {
	nf, err := os.CreateTemp(d.area, ".lock-*")
	if err != nil {
		return nil, fmt.Errorf("break the lock %s: %w", name, err)
	}
	fail := func(err error) (*dirLock, error) {
		_ = os.Remove(nf.Name())
		_ = nf.Close()
		return nil, err
	}
	if err := tryLock(nf); err != nil {
		return fail(fmt.Errorf("break the lock %s: flock %s: %w", name, nf.Name(), err))
	}
	if err := writeLockToken(nf, token); err != nil {
		return fail(fmt.Errorf("break the lock %s: %w", name, err))
	}
	// Replace only the lock found held: another apply may have broken it
	// meanwhile.
	if same, err := sameFile(held, name); err != nil || !same {
		return fail(errors.Join(errLockReplaced, err))
	}
	if err := os.Rename(nf.Name(), name); err != nil {
		return fail(fmt.Errorf("break the lock %s: %w", name, err))
	}
	_ = held.Close()
	d.log.Warn("broke the lock of a frozen apply", "lock", name, "heldBy", holder, "fencingToken", token, "waited", d.lockWait)
	return &dirLock{f: nf, name: name, token: token}, nil
}

// sameFile reports whether name is the file f.
func sameFile(f *os.File, name string) (bool, error) {
	a, err := f.Stat()
	if err != nil {
		return false, err
	}
	b, err := os.Stat(name)
	if err != nil {
		return false, err
	}
	return os.SameFile(a, b), nil
}

// writeLockToken makes f hold token.
func writeLockToken(f *os.File, token uint64) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt(strconv.AppendUint(nil, token, 10), 0)
	return err
}

// readLockToken reads the token of the lock file's holder.
func readLockToken(name string) (uint64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64))
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return 0, errors.New("the lock file names no token")
	}
	return strconv.ParseUint(s, 10, 64)
}
