package chaos

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// manifestPath is where a bundle holds its manifest (internal/target).
const manifestPath = ".honua/deployment.json"

// manifest is a bundle's .honua/deployment.json.
type manifest struct {
	DeploymentID string `json:"deploymentId"`
	Environment  string `json:"environment"`
	Commit       string `json:"commit"`
	Kind         string `json:"kind"`
	FencingToken uint64 `json:"fencingToken"`
}

// dirReaders read every deploying environment's directory target as a
// Honua server would, again and again during the run: resolve the path's
// symlink once, read the whole bundle behind it, and check that it is one
// commit's bundle and that the fencing token never went down.
type dirReaders struct {
	r *Run

	mu         sync.Mutex
	samples    map[string]int    // environment → whole bundles read
	pruned     map[string]int    // environment → bundles removed while being read
	lastToken  map[string]uint64 // environment → token of the last bundle read
	violations []string
}

func newDirReaders(r *Run) *dirReaders {
	return &dirReaders{r: r, samples: map[string]int{}, pruned: map[string]int{}, lastToken: map[string]uint64{}}
}

func (d *dirReaders) start() {
	for _, env := range d.r.deploying() {
		d.r.bgWG.Add(1)
		go func() {
			defer d.r.bgWG.Done()
			tick := time.NewTicker(25 * time.Millisecond)
			defer tick.Stop()
			for {
				d.sample(env)
				select {
				case <-d.r.bg.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
}

func (d *dirReaders) violate(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.violations = append(d.violations, fmt.Sprintf("[%8.3fs] ", d.r.history.Since().Seconds())+fmt.Sprintf(format, args...))
}

// sample reads env's served bundle once.
func (d *dirReaders) sample(env string) {
	path := d.r.dirs[env]
	bundle, err := resolve(path)
	if err != nil {
		return // nothing deployed yet
	}
	m, files, err := readBundle(bundle)
	if errors.Is(err, fs.ErrNotExist) {
		d.count(d.pruned, env)
		return
	}
	if err != nil {
		d.violate("%s: read bundle %s: %v", env, filepath.Base(bundle), err)
		return
	}
	want, ok := d.r.repo.bundleFiles(env, m.Commit)
	switch {
	case m.Environment != env:
		d.violate("%s: bundle %s is of environment %s", env, filepath.Base(bundle), m.Environment)
	case !ok:
		d.violate("%s: bundle %s is of commit %.12s, which was never committed", env, filepath.Base(bundle), m.Commit)
	default:
		if diff := diffFiles(files, want); diff != "" {
			if missingOnly(files, want) && gone(bundle) {
				// Removed while we read it: older bundles are pruned.
				d.count(d.pruned, env)
				return
			}
			d.violate("%s: bundle %s (deployment %s, token %d) is not commit %.12s's bundle: %s",
				env, filepath.Base(bundle), m.DeploymentID, m.FencingToken, m.Commit, diff)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.samples[env]++
	if last := d.lastToken[env]; m.FencingToken < last {
		d.violations = append(d.violations, fmt.Sprintf("[%8.3fs] %s: served bundle %s has fencing token %d after a bundle with token %d was served",
			d.r.history.Since().Seconds(), env, filepath.Base(bundle), m.FencingToken, last))
	}
	d.lastToken[env] = max(d.lastToken[env], m.FencingToken)
}

func (d *dirReaders) count(m map[string]int, env string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	m[env]++
}

// report returns what the readers saw: violations, and how many whole
// bundles each read.
func (d *dirReaders) report() (violations []string, samples, pruned map[string]int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.violations), maps.Clone(d.samples), maps.Clone(d.pruned)
}

// resolve returns the directory a target's path (a symlink) names.
func resolve(path string) (string, error) {
	dest, err := os.Readlink(path)
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(dest) {
		dest = filepath.Join(filepath.Dir(path), dest)
	}
	return dest, nil
}

// readBundle reads a bundle directory: its manifest and every other file,
// by slash-separated path.
func readBundle(dir string) (*manifest, map[string]string, error) {
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	raw, ok := files[manifestPath]
	if !ok {
		return nil, nil, fmt.Errorf("no %s: %w", manifestPath, fs.ErrNotExist)
	}
	delete(files, manifestPath)
	var m manifest
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", manifestPath, err)
	}
	return &m, files, nil
}

// diffFiles describes how got differs from want, or returns "".
func diffFiles(got, want map[string]string) string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[name]
		switch {
		case !ok:
			out = append(out, name+" is missing")
		case g != want[name]:
			out = append(out, name+" differs")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[name]; !ok {
			out = append(out, name+" is extra")
		}
	}
	if len(out) == 0 {
		return ""
	}
	return fmt.Sprint(out)
}

// missingOnly reports whether got is want with files missing, and nothing
// else different.
func missingOnly(got, want map[string]string) bool {
	for name, g := range got {
		if w, ok := want[name]; !ok || w != g {
			return false
		}
	}
	return true
}

// gone reports whether dir disappears within a second: it was being
// removed.
func gone(dir string) bool {
	deadline := time.Now().Add(time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
}
