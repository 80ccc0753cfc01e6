package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A directory target's lock is <area>/lock, a file that exists while an
// apply holds it, flock(2)ed by that apply and naming its fencing token.
// An apply writes its token into a new file of its own and flocks it,
// then takes the lock by linking that file to <area>/lock (link(2) fails
// while another apply's is there), so the lock names its holder's token
// from the moment it exists. Releasing is closing the file: the flock
// ends, and the next apply finds the file unlocked and removes it. A
// crashed holder's flock ends with it the same way.
//
// An apply waits for the lock at most lockWait; then, when the holder's
// token is lower than its own, it breaks the lock by renaming its own file
// over <area>/lock. The former holder (a paused former leader, say) keeps
// a flock on a file that is no longer the lock: before each write it
// checks that the lock is still its file, and stops with a FencedError
// when it is not. An apply whose token is not higher than the holder's
// gives up after lockWait with a retryable error that names the holder's
// token.

// DefaultLockWait is how long an Apply to a directory target waits for the
// lock before it breaks it (a newer token) or gives up (the same or an
// older one). The lock is held for milliseconds, while the state file and
// the symlink are written; a holder that keeps it longer is frozen.
const DefaultLockWait = 5 * time.Second

// errLockReplaced says that the lock file went or changed while we looked
// at it: try again at once.
var errLockReplaced = errors.New("the lock file was replaced")

// dirLock is a held directory target lock.
type dirLock struct {
	f     *os.File // our lock file, flocked: closing it releases the lock
	name  string   // <area>/lock
	token uint64   // ours
}

// unlock releases the lock.
func (l *dirLock) unlock() { _ = l.f.Close() }

// check returns nil while <area>/lock is still our file, and a
// FencedError naming the token that broke the lock otherwise: from then on
// this apply may not write.
func (l *dirLock) check() error {
	same, err := sameFile(l.f, l.name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("check the lock %s: %w", l.name, err)
	}
	if same {
		return nil
	}
	holder, _ := readLockToken(l.name)
	// Highest stays 0: the breaker's token may not be accepted yet.
	return &FencedError{Token: l.token, BrokenBy: holder}
}

// lock takes the target's lock for an apply of token. It waits while
// another apply (of this or any process) holds it, until ctx ends or for
// d.lockWait at most; then it breaks a lock held by a lower token, and
// fails otherwise.
func (d *directoryTarget) lock(ctx context.Context, token uint64) (*dirLock, error) {
	name := filepath.Join(d.area, "lock")
	own, err := os.CreateTemp(d.area, ".lock-*")
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	fail := func(err error) (*dirLock, error) {
		_ = os.Remove(own.Name())
		_ = own.Close()
		return nil, err
	}
	if err := tryLock(own); err != nil {
		return fail(fmt.Errorf("lock %s: flock %s: %w", name, own.Name(), err))
	}
	if _, err := own.Write(strconv.AppendUint(nil, token, 10)); err != nil {
		return fail(fmt.Errorf("lock %s: %w", name, err))
	}
	deadline := time.Now().Add(d.lockWait)
	wait := 5 * time.Millisecond
	for {
		err := os.Link(own.Name(), name)
		if err == nil {
			_ = os.Remove(own.Name())
			return &dirLock{f: own, name: name, token: token}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return fail(fmt.Errorf("lock %s: %w", name, err))
		}
		late := !time.Now().Before(deadline)
		holder, err := d.holder(name, own, token, late)
		switch {
		case err == nil:
			return &dirLock{f: own, name: name, token: token}, nil // broken
		case errors.Is(err, errLockReplaced):
			continue
		case !errors.Is(err, errLocked):
			return fail(fmt.Errorf("lock %s: %w", name, err))
		}
		if late {
			return fail(fmt.Errorf("%s held by fencing token %d for %v, not lower than this apply's %d: %w",
				name, holder, d.lockWait, token, err))
		}
		t := time.NewTimer(min(wait, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return fail(fmt.Errorf("waiting for %s, held by another apply (fencing token %d): %w", name, holder, ctx.Err()))
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// holder looks at the lock file name that exists. When no apply holds it
// (its holder released it or died) it removes it and returns
// errLockReplaced. When one does, it returns the holder's token and
// errLocked, or, with mayBreak and a holder's token lower than token,
// renames own over name and returns nil: the lock is own's.
func (d *directoryTarget) holder(name string, own *os.File, token uint64, mayBreak bool) (uint64, error) {
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, errLockReplaced
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	err = tryLock(f)
	if err == nil {
		// Released: remove it, unless another apply did and took the lock.
		if same, _ := sameFile(f, name); same {
			if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return 0, err
			}
		}
		return 0, errLockReplaced
	}
	if !errors.Is(err, errLocked) {
		return 0, fmt.Errorf("flock: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(f, 32))
	if err != nil {
		return 0, err
	}
	holder, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		// Every holder writes its token before the file is the lock.
		return 0, fmt.Errorf("%s names no fencing token (%q): remove it if no honuad of an older version uses the target", name, b)
	}
	if !mayBreak || holder >= token {
		return holder, errLocked
	}
	// Replace only the lock found held: another apply may have broken it
	// meanwhile.
	if same, err := sameFile(f, name); err != nil || !same {
		return 0, errLockReplaced
	}
	if err := os.Rename(own.Name(), name); err != nil {
		return 0, fmt.Errorf("break the lock: %w", err)
	}
	d.log.Warn("broke the lock of a frozen apply", "lock", name, "heldBy", holder, "fencingToken", token, "waited", d.lockWait)
	return holder, nil
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

// checkAndSwitch makes an apply's last fencing check and switches the path
// to bundle id, so that an apply frozen between the two (a paused former
// leader) can never switch its older bundle in after a newer apply did.
// The symlink to switch in is staged as <area>/next-<token>-<nonce>, then
// the lock is checked, then the staged name is renamed over the path. An
// apply that broke the lock removes every staged name of a lower token
// before it stages its own: once the frozen apply resumes, either its
// rename already happened (before the newer apply switched: the path only
// moves forwards) or its staged name is gone and the rename fails, which
// is reported as fenced. No lock is held across the rename, so a frozen
// apply never stalls a newer one.
func (d *directoryTarget) checkAndSwitch(l *dirLock, id string) error {
	d.removeStaged(l.token)
	next := filepath.Join(d.area, fmt.Sprintf("next-%d-%d", l.token, time.Now().UnixNano()))
	err := d.switchTo(id, next, l.check)
	if errors.Is(err, fs.ErrNotExist) {
		if cerr := l.check(); cerr != nil {
			return cerr // a newer apply removed the staged symlink
		}
	}
	if err != nil {
		return err
	}
	// The lock may have been broken after the check: this apply's bundle is
	// served until the newer apply switches; this apply is fenced all the
	// same.
	return l.check()
}

// removeStaged removes the symlinks staged by applies of tokens below
// token (checkAndSwitch). os.Remove leaves a directory that is not empty:
// a first apply's exchange may have put the preexisting directory there.
func (d *directoryTarget) removeStaged(token uint64) {
	entries, err := os.ReadDir(d.area)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "next-")
		if !ok {
			continue
		}
		t, _, _ := strings.Cut(rest, "-")
		if n, err := strconv.ParseUint(t, 10, 64); err == nil && n < token {
			_ = os.Remove(filepath.Join(d.area, e.Name()))
		}
	}
}
