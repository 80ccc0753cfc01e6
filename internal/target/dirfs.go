package target

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// dirState is a directory target's state.json.
type dirState struct {
	// HighestToken is the highest fencing token ever accepted.
	HighestToken uint64 `json:"highestFencingToken"`
	// Bundles are the kept bundles' ids in switch order, oldest first.
	Bundles []string `json:"bundles"`
}

func (d *directoryTarget) statePath() string { return filepath.Join(d.area, "state.json") }

// readState reads state.json; a missing file is an empty state.
func (d *directoryTarget) readState() (*dirState, error) {
	data, err := os.ReadFile(d.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		return &dirState{}, nil
	}
	if err != nil {
		return nil, err
	}
	var st dirState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s is corrupt (fix or remove it: the served bundle's token still fences): %w", d.statePath(), err)
	}
	return &st, nil
}

// writeState replaces state.json atomically.
func (d *directoryTarget) writeState(st *dirState) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := d.statePath() + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := writeFile(tmp, append(data, '\n'), true); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, d.statePath()); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(d.area)
}

// haveBundle reports whether dir already holds b, from an earlier apply of
// the same deployment and token. Other contents there are an error: the
// same id and token must mean the same bundle.
func (d *directoryTarget) haveBundle(dir string, b *Bundle) (bool, error) {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	differ := fmt.Errorf("%s already holds a bundle with other contents for deployment %s and fencing token %d; remove it to apply again",
		dir, b.Manifest.DeploymentID, b.Manifest.FencingToken)
	if !fi.IsDir() {
		return false, differ
	}
	have, err := readTree(dir)
	if err != nil {
		return false, err
	}
	m, err := decodeManifest(have[ManifestPath])
	if err != nil || !m.sameApply(b.Manifest) || len(have) != len(b.Files)+1 {
		return false, differ
	}
	for name, data := range b.Files {
		if got, ok := have[name]; !ok || !bytes.Equal(got, data) {
			return false, differ
		}
	}
	return true, nil
}

// writeBundle writes b into a temporary directory beside dir, fsynced, and
// renames it to dir. On failure nothing is left behind.
func (d *directoryTarget) writeBundle(dir string, b *Bundle) (err error) {
	tmp, err := os.MkdirTemp(d.bundles, ".tmp-"+filepath.Base(dir)+"-")
	if err != nil {
		return err
	}
	defer func() {
		if err == nil {
			return
		}
		if rerr := os.RemoveAll(tmp); rerr != nil {
			d.log.Error("remove the partial bundle", "dir", tmp, "error", rerr)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := writeTree(tmp, b, true); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	return syncDir(d.bundles)
}

// writeTree writes b's files and manifest under root, which exists. With
// durable set every file and directory is fsynced.
func writeTree(root string, b *Bundle, durable bool) error {
	files := make(map[string][]byte, len(b.Files)+1)
	for name, data := range b.Files {
		files[name] = data
	}
	files[ManifestPath] = b.Manifest.encode()
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	dirs := map[string]bool{root: true}
	for _, name := range names {
		full := filepath.Join(root, filepath.FromSlash(name))
		if dir := filepath.Dir(full); !dirs[dir] {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for ; !dirs[dir]; dir = filepath.Dir(dir) {
				dirs[dir] = true
			}
		}
		if err := writeFile(full, files[name], durable); err != nil {
			return err
		}
	}
	if !durable {
		return nil
	}
	// Deepest first, so each directory is synced after its entries.
	order := make([]string, 0, len(dirs))
	for dir := range dirs {
		order = append(order, dir)
	}
	slices.SortFunc(order, func(a, b string) int {
		return strings.Count(b, string(filepath.Separator)) - strings.Count(a, string(filepath.Separator))
	})
	for _, dir := range order {
		if err := syncDir(dir); err != nil {
			return err
		}
	}
	return nil
}

// readTree reads every regular file under root, keyed by slash path.
func readTree(root string) (map[string][]byte, error) {
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(name string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, name)
		if err != nil {
			return err
		}
		if !e.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", name)
		}
		data, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = data
		return nil
	})
	return files, err
}

// writeFile creates name (which must not exist) holding data.
func writeFile(name string, data []byte, durable bool) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if durable {
		if err := f.Sync(); err != nil {
			_ = f.Close()
			return err
		}
	}
	return f.Close()
}

// syncDir fsyncs a directory, so the entries made in it are durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
