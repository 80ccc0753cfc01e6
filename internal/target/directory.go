package target

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// directoryTarget serves bundles from a directory that is a symlink,
// switched atomically; see the package documentation for its layout.
type directoryTarget struct {
	path    string // where the bundle is served: a symlink we manage
	parent  string // filepath.Dir(path)
	area    string // parent/.<base>.honua: lock, state, bundles
	bundles string // area/bundles
	keep    int
	log     *slog.Logger
	// lockWait is how long an apply waits for the lock before it breaks
	// it or gives up (lock.go).
	lockWait time.Duration
	// Test hooks, nil outside tests: beforeSwitch runs after an apply's
	// last fencing check, just before it switches the path; switched after
	// every switch of the path, with the bundle now served.
	beforeSwitch func()
	switched     func(id string)
}

// String implements Target.
func (d *directoryTarget) String() string { return "directory " + d.path }

// fail wraps err as the target's error for op.
func (d *directoryTarget) fail(op string, err error) *Error {
	return &Error{Target: d.String(), Op: op, Err: err}
}

// Apply writes b beside the path, then, under the lock, checks its fencing
// token and switches the path to it, then removes bundles beyond Keep.
//
// The bundle is written before the lock is taken, so that the lock is held
// only for the check, the state file and the switch: a process frozen
// while holding it (a paused former leader) stalls the others for as
// little as possible. A bundle written by an apply that is then refused is
// removed.
func (d *directoryTarget) Apply(ctx context.Context, b *Bundle) error {
	if err := b.Validate(); err != nil {
		return d.fail("validate bundle", err)
	}
	if err := d.prepare(); err != nil {
		return d.fail("prepare", err)
	}
	token := b.Manifest.FencingToken
	// Refuse early, without writing, what the lock would refuse anyway.
	if st, err := d.readState(); err == nil {
		if highest := d.highest(st); token < highest {
			return d.fail("fencing", &FencedError{Token: token, Highest: highest})
		}
	}
	id := b.Manifest.BundleID()
	dir := filepath.Join(d.bundles, id)
	have, err := d.haveBundle(dir, b)
	if err != nil {
		return d.fail("write bundle", err)
	}
	if !have {
		if err := d.writeBundle(dir, b); err != nil {
			// A newer apply may have switched in meanwhile and removed
			// this one's temporary directory as refused: say so.
			if st, serr := d.readState(); serr == nil && token < d.highest(st) {
				return d.fail("fencing", &FencedError{Token: token, Highest: d.highest(st)})
			}
			return d.fail("write bundle", err)
		}
	}
	discard := func() {
		if !have && d.served() != id {
			_ = os.RemoveAll(dir) // never served
		}
	}

	l, err := d.lock(ctx, token)
	if err != nil {
		discard()
		e := d.fail("lock", err)
		e.Retryable = true
		return e
	}
	// Between here and unlock, every write first checks that the lock was
	// not broken by a newer apply (this process may have been frozen).
	refuse := func(op string, err error) *Error {
		l.unlock()
		discard()
		return d.fail(op, err)
	}
	st, err := d.readState()
	if err != nil {
		return refuse("read state", err)
	}
	if highest := d.highest(st); token < highest {
		return refuse("fencing", &FencedError{Token: token, Highest: highest})
	}
	if token > st.HighestToken {
		// Recorded before the switch: once a token is accepted, no lower
		// one may switch in, even if this process dies right here.
		st.HighestToken = token
		if err := l.check(); err != nil {
			return refuse("fencing", err)
		}
		if err := d.writeState(st); err != nil {
			return refuse("write state", err)
		}
	}
	if d.served() != id {
		if err := d.checkAndSwitch(l, id); err != nil {
			var fe *FencedError
			if errors.As(err, &fe) {
				return refuse("fencing", err)
			}
			return refuse("switch", err)
		}
		d.log.Info("switched", "bundle", id, "commit", b.Manifest.Commit, "fencingToken", token)
	}
	st.Bundles = append(removeString(st.Bundles, id), id)
	if err := l.check(); err != nil {
		return refuse("fencing", err)
	}
	old := d.retire(st, id)
	l.unlock()
	d.remove(old)
	return nil
}

// highest is the highest token the target accepted: the state's, or the
// served bundle's when the state file was lost.
func (d *directoryTarget) highest(st *dirState) uint64 {
	h := st.HighestToken
	if m := d.servedManifest(); m != nil && m.FencingToken > h {
		h = m.FencingToken
	}
	return h
}

// HighestToken returns the highest fencing token the target has accepted:
// what its state file records (fsynced before every switch), or the
// served bundle's when higher. 0 means none yet.
func (d *directoryTarget) HighestToken() (uint64, error) {
	st, err := d.readState()
	if err != nil {
		return 0, d.fail("read state", err)
	}
	return d.highest(st), nil
}

// Current reads the manifest of the bundle the path serves.
func (d *directoryTarget) Current(context.Context) (*Manifest, error) {
	name := filepath.Join(d.path, filepath.FromSlash(ManifestPath))
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, d.fail("read manifest", err)
	}
	m, err := decodeManifest(data)
	if err != nil {
		return nil, d.fail("read manifest", fmt.Errorf("%s: %w", name, err))
	}
	return m, nil
}

// servedManifest is Current for Apply's fencing check: a manifest that
// cannot be read is not a token to honour, and the apply replaces it.
func (d *directoryTarget) servedManifest() *Manifest {
	m, err := d.Current(context.Background())
	if err != nil {
		d.log.Warn("ignoring the served manifest", "error", err)
		return nil
	}
	return m
}

// prepare checks the parent and creates the area.
func (d *directoryTarget) prepare() error {
	fi, err := os.Stat(d.parent)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("parent directory %s does not exist", d.parent)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("parent %s is not a directory", d.parent)
	}
	if fi, err := os.Lstat(d.path); err == nil && !fi.IsDir() && fi.Mode()&fs.ModeSymlink == 0 {
		return errNotDirOrLink(d.path)
	}
	for _, dir := range []string{d.area, d.bundles} {
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w (is %s writable?)", err, filepath.Dir(dir))
		}
	}
	return nil
}

// served returns the id of the bundle the path's symlink names, "" when the
// path is not one of our symlinks.
func (d *directoryTarget) served() string {
	dest, err := os.Readlink(d.path)
	if err != nil {
		return ""
	}
	if !filepath.IsAbs(dest) {
		dest = filepath.Join(d.parent, dest)
	}
	if filepath.Dir(dest) != d.bundles {
		return ""
	}
	return filepath.Base(dest)
}

// switchTo points the path at bundle id with one rename(2) of a new symlink
// over it. A real directory at the path is exchanged for the symlink, then
// removed when empty or kept as .<base>.honua/preexisting-<time>.
//
// The new symlink is made under the name next (checkAndSwitch's staging
// entry), then check runs, then the rename: a newer apply that broke this
// one's lock after check passed removes next before it switches, so this
// rename then fails (fs.ErrNotExist) instead of switching an older bundle
// in after the newer one.
func (d *directoryTarget) switchTo(id, next string, check func() error) error {
	rel, err := filepath.Rel(d.parent, filepath.Join(d.bundles, id))
	if err != nil {
		return err
	}
	if err := os.Symlink(rel, next); err != nil {
		return err
	}
	if err := check(); err != nil {
		_ = os.Remove(next)
		return err
	}
	if d.beforeSwitch != nil {
		d.beforeSwitch()
	}
	fi, err := os.Lstat(d.path)
	switch {
	case errors.Is(err, fs.ErrNotExist) || (err == nil && fi.Mode()&fs.ModeSymlink != 0):
		if err == nil && d.served() == "" {
			old, _ := os.Readlink(d.path)
			d.log.Warn("replacing a symlink honua did not make", "was", old)
		}
		err = os.Rename(next, d.path)
	case err != nil:
		return err
	case fi.IsDir():
		err = d.adopt(next)
	default:
		err = errNotDirOrLink(d.path)
	}
	if err != nil {
		_ = os.Remove(next)
		return err
	}
	if d.switched != nil {
		d.switched(id)
	}
	if err := syncDir(d.parent); err != nil {
		return err
	}
	return syncDir(d.area)
}

// adopt puts the symlink next in place of the real directory at the path
// the first time, keeping what the directory held.
func (d *directoryTarget) adopt(next string) error {
	backup := filepath.Join(d.area, "preexisting-"+time.Now().UTC().Format("20060102T150405.000000000Z"))
	err := exchange(next, d.path)
	if errors.Is(err, errNoExchange) {
		// Two renames: the path is missing for a moment, once.
		if err := os.Remove(d.path); err == nil {
			return os.Rename(next, d.path)
		}
		if err := os.Rename(d.path, backup); err != nil {
			return err
		}
		d.log.Warn("moved the directory honua did not make aside", "backup", backup)
		return os.Rename(next, d.path)
	}
	if err != nil {
		return fmt.Errorf("exchange %s with the symlink: %w", d.path, err)
	}
	// next now holds the old directory.
	if err := os.Remove(next); err == nil {
		return nil
	}
	if err := os.Rename(next, backup); err != nil {
		return fmt.Errorf("keep the directory that was at %s: %w", d.path, err)
	}
	d.log.Warn("moved the directory honua did not make aside", "backup", backup)
	return nil
}

// staleAfter is how old an unknown directory under bundles/ must be before
// it is removed: a younger one may be a bundle another process is writing
// before it takes the lock.
const staleAfter = 10 * time.Minute

// retire records st with at most Keep bundles in it and returns the
// directories under bundles/ to remove: neither kept nor served, and
// either switched out before or left by a crash long ago. Called under the
// lock; the removal itself happens after it.
func (d *directoryTarget) retire(st *dirState, served string) []string {
	if len(st.Bundles) > d.keep {
		st.Bundles = st.Bundles[len(st.Bundles)-d.keep:]
	}
	if err := d.writeState(st); err != nil {
		d.log.Error("record kept bundles", "error", err)
		return nil
	}
	keep := map[string]bool{served: true}
	for _, id := range st.Bundles {
		keep[id] = true
	}
	entries, err := os.ReadDir(d.bundles)
	if err != nil {
		d.log.Error("list bundles", "error", err)
		return nil
	}
	var old []string
	for _, e := range entries {
		if keep[e.Name()] {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) < staleAfter && !d.switchedOut(e.Name()) {
			continue // perhaps another process's bundle, written before its lock
		}
		old = append(old, filepath.Join(d.bundles, e.Name()))
	}
	return old
}

// switchedOut reports whether a bundle directory (or a temporary one, a
// crash's leftover) is for a fencing token at or below the highest
// accepted: it was served, or it would be refused now. Another process's
// bundle not yet switched in always carries a higher token.
func (d *directoryTarget) switchedOut(name string) bool {
	st, err := d.readState()
	if err != nil {
		return false
	}
	if rest, ok := strings.CutPrefix(name, ".tmp-"); ok {
		i := strings.LastIndexByte(rest, '-') // the random suffix
		if i < 0 {
			return false
		}
		name = rest[:i]
	}
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return false
	}
	tok, err := strconv.ParseUint(name[i+1:], 10, 64)
	return err == nil && tok <= d.highest(st)
}

// remove deletes retired bundle directories; the switch is done, so
// failures are logged, not returned.
func (d *directoryTarget) remove(dirs []string) {
	for _, dir := range dirs {
		if err := os.RemoveAll(dir); err != nil {
			d.log.Error("remove old bundle", "bundle", filepath.Base(dir), "error", err)
			continue
		}
		d.log.Debug("removed old bundle", "bundle", filepath.Base(dir))
	}
}

func errNotDirOrLink(path string) error {
	return fmt.Errorf("%s exists and is not a directory or a symlink; move it away first", path)
}

func removeString(list []string, s string) []string {
	out := list[:0:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}
