package gitrepo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// FS returns the commit's tree as a read-only fs.FS, with slash-separated
// paths such as "environments/production/metadata.json". A file is read
// whole into memory when opened, but Stat and ReadDir take its size from the
// object's header without reading it; every entry's ModTime is the commit
// time.
// Symbolic links and submodules are listed but cannot be opened (a link is
// not followed). The fs.FS implements fs.ReadFileFS, fs.ReadDirFS and
// fs.StatFS, and may be used concurrently.
func (r *Repo) FS(commit string) (fs.FS, error) {
	r.lock <- struct{}{}
	defer func() { <-r.lock }()
	c, err := r.commit(commit)
	if err == nil {
		var tree *object.Tree
		if tree, err = c.Tree(); err == nil {
			return &treeFS{r: r, commit: shortHash(commit), root: tree, modTime: c.Committer.When}, nil
		}
	}
	return nil, r.wrap("read tree of "+shortHash(commit), err)
}

// Changed reports whether any of paths (files or directories, e.g.
// "environments/production", "environments/common",
// ".gitops/deployment-policy.yaml") differs between commits from and to.
// It compares the tree and blob hashes (and modes) the paths name, so a
// directory costs one lookup, not a walk of its files. A path absent from
// both commits has not changed; one present in only one has. No paths means
// the whole tree. An empty from (or to) stands for the empty tree: nothing
// deployed yet.
func (r *Repo) Changed(from, to string, paths ...string) (bool, error) {
	r.lock <- struct{}{}
	defer func() { <-r.lock }()
	op := fmt.Sprintf("compare %s..%s", shortHash(from), shortHash(to))
	fromTree, err := r.treeOf(from)
	if err != nil {
		return false, r.wrap(op, err)
	}
	toTree, err := r.treeOf(to)
	if err != nil {
		return false, r.wrap(op, err)
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	for _, p := range paths {
		clean := strings.Trim(p, "/")
		if clean == "" {
			clean = "."
		}
		if !fs.ValidPath(clean) {
			return false, r.wrap(op, fmt.Errorf("path %q: not a slash-separated path inside the repository", p))
		}
		a, inFrom, err := r.entry(fromTree, clean)
		if err != nil {
			return false, r.wrap(op, err)
		}
		b, inTo, err := r.entry(toTree, clean)
		if err != nil {
			return false, r.wrap(op, err)
		}
		if inFrom != inTo || a.Hash != b.Hash || a.Mode != b.Mode {
			return true, nil
		}
	}
	return false, nil
}

// treeOf returns the commit's root tree; nil for "". The caller holds
// r.lock.
func (r *Repo) treeOf(commit string) (*object.Tree, error) {
	if commit == "" {
		return nil, nil
	}
	c, err := r.commit(commit)
	if err != nil {
		return nil, err
	}
	return c.Tree()
}

// entry finds the entry at the slash-separated path p ("." for the root)
// in tree (nil: the empty tree) by walking down its directories. Unlike
// go-git's Tree.FindEntry it says "absent", not "object not found", when a
// path runs through a file. The caller holds r.lock.
func (r *Repo) entry(tree *object.Tree, p string) (object.TreeEntry, bool, error) {
	if tree == nil {
		return object.TreeEntry{}, false, nil
	}
	if p == "." {
		return object.TreeEntry{Name: ".", Mode: filemode.Dir, Hash: tree.Hash}, true, nil
	}
	dirs, base := path.Split(p)
	for _, part := range strings.Split(strings.TrimSuffix(dirs, "/"), "/") {
		if part == "" {
			break // p has no directory part
		}
		e, ok := find(tree, part)
		if !ok || e.Mode != filemode.Dir {
			return object.TreeEntry{}, false, nil
		}
		sub, err := object.GetTree(r.repo.Storer, e.Hash)
		if err != nil {
			return object.TreeEntry{}, false, fmt.Errorf("read tree of %s: %w", p, err)
		}
		tree = sub
	}
	e, ok := find(tree, base)
	return e, ok, nil
}

// find returns the entry named name in tree.
func find(tree *object.Tree, name string) (object.TreeEntry, bool) {
	for _, e := range tree.Entries {
		if e.Name == name {
			return e, true
		}
	}
	return object.TreeEntry{}, false
}

// treeFS is a commit's tree as an fs.FS.
type treeFS struct {
	r       *Repo
	commit  string // abbreviated, for errors
	root    *object.Tree
	modTime time.Time
}

// Open implements fs.FS.
func (f *treeFS) Open(name string) (fs.File, error) {
	return f.open("open", name)
}

// ReadFile implements fs.ReadFileFS.
func (f *treeFS) ReadFile(name string) ([]byte, error) {
	file, err := f.open("read", name)
	if err != nil {
		return nil, err
	}
	mf, ok := file.(*memFile)
	if !ok {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	return mf.data, nil
}

// ReadDir implements fs.ReadDirFS.
func (f *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	file, err := f.open("readdir", name)
	if err != nil {
		return nil, err
	}
	d, ok := file.(*dirFile)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return d.entries, nil
}

// Stat implements fs.StatFS.
func (f *treeFS) Stat(name string) (fs.FileInfo, error) {
	file, err := f.open("stat", name)
	if err != nil {
		return nil, err
	}
	return file.Stat()
}

// open reads the file or directory name from the tree into memory.
func (f *treeFS) open(op, name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	r := f.r
	r.lock <- struct{}{}
	defer func() { <-r.lock }()
	e, ok, err := r.entry(f.root, name)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: r.wrap("commit "+f.commit, err)}
	}
	if !ok {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	info := fileInfo{name: path.Base(name), mode: fileMode(e.Mode), modTime: f.modTime}
	switch e.Mode {
	case filemode.Dir:
		tree := f.root
		if name != "." {
			if tree, err = object.GetTree(r.repo.Storer, e.Hash); err != nil {
				return nil, &fs.PathError{Op: op, Path: name, Err: r.wrap("commit "+f.commit, err)}
			}
		}
		entries, err := f.list(tree)
		if err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: r.wrap("commit "+f.commit, err)}
		}
		return &dirFile{info: info, entries: entries}, nil
	case filemode.Regular, filemode.Deprecated, filemode.Executable:
		if op == "stat" {
			// The size is in the object's header: a blob too large to
			// read is never read to learn it.
			obj, err := r.repo.Storer.EncodedObject(plumbing.BlobObject, e.Hash)
			if err != nil {
				return nil, &fs.PathError{Op: op, Path: name, Err: r.wrap("commit "+f.commit, fmt.Errorf("read blob %s: %w", e.Hash, err))}
			}
			info.size = obj.Size()
			return &statFile{info: info}, nil
		}
		data, err := r.readBlob(e.Hash)
		if err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: r.wrap("commit "+f.commit, err)}
		}
		info.size = int64(len(data))
		return &memFile{info: info, data: data, Reader: bytes.NewReader(data)}, nil
	case filemode.Symlink:
		return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: a symbolic link (not followed)", fs.ErrInvalid)}
	default:
		return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: a submodule (not supported)", fs.ErrInvalid)}
	}
}

// list returns a tree's entries sorted by name, as fs.ReadDir wants (git
// sorts a directory "a" as "a/"). The caller holds r.lock.
func (f *treeFS) list(tree *object.Tree) ([]fs.DirEntry, error) {
	entries := make([]fs.DirEntry, 0, len(tree.Entries))
	for _, e := range tree.Entries {
		info := fileInfo{name: e.Name, mode: fileMode(e.Mode), modTime: f.modTime}
		if info.mode.IsRegular() {
			obj, err := f.r.repo.Storer.EncodedObject(plumbing.BlobObject, e.Hash)
			if err != nil {
				return nil, fmt.Errorf("read blob %s: %w", e.Name, err)
			}
			info.size = obj.Size()
		}
		entries = append(entries, fs.FileInfoToDirEntry(info))
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	return entries, nil
}

// readBlob reads a blob whole. The caller holds r.lock.
func (r *Repo) readBlob(h plumbing.Hash) ([]byte, error) {
	blob, err := object.GetBlob(r.repo.Storer, h)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	rd, err := blob.Reader()
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	return data, nil
}

// fileMode maps a git mode to the read-only fs.FileMode a reader sees.
func fileMode(m filemode.FileMode) fs.FileMode {
	switch m {
	case filemode.Dir:
		return fs.ModeDir | 0o555
	case filemode.Executable:
		return 0o555
	case filemode.Symlink:
		return fs.ModeSymlink | 0o444
	case filemode.Submodule:
		return fs.ModeIrregular | 0o444
	}
	return 0o444
}

// fileInfo implements fs.FileInfo for a tree entry.
type fileInfo struct {
	name    string
	size    int64
	mode    fs.FileMode
	modTime time.Time
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) Mode() fs.FileMode  { return i.mode }
func (i fileInfo) ModTime() time.Time { return i.modTime }
func (i fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i fileInfo) Sys() any           { return nil }

// memFile is an opened file, held in memory.
type memFile struct {
	*bytes.Reader
	info fileInfo
	data []byte
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Close() error               { return nil }

// statFile is what Stat knows of a file: its info, not its data.
type statFile struct{ info fileInfo }

func (f *statFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *statFile) Close() error               { return nil }
func (f *statFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: f.info.name, Err: errors.New("not opened for reading")}
}

// dirFile is an opened directory.
type dirFile struct {
	info    fileInfo
	entries []fs.DirEntry
	next    int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Close() error               { return nil }

func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}

// ReadDir implements fs.ReadDirFile.
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.next:]
	if n <= 0 {
		d.next = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.next += n
	return rest[:n], nil
}
