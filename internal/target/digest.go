package target

// This file holds digests: what a target holds, by content, for drift
// checks (docs/domain.md#drift). Directory targets read it from the disk;
// http targets ask the server, which may answer; exec targets cannot tell.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"slices"
)

// Digest is what a target holds: the manifest of the bundle it serves (nil
// when it has none) and the SHA-256, in lowercase hex, of each of its
// files by slash path, the manifest excluded.
type Digest struct {
	Manifest *Manifest         `json:"manifest"`
	Files    map[string]string `json:"files"`
}

// Digester is implemented by targets that can say what they hold: the
// directory target, and the http target when its server answers the
// digest request (otherwise its Digest returns ErrNoDigest).
type Digester interface {
	Digest(ctx context.Context) (*Digest, error)
}

// ErrNoDigest means the target cannot tell what it holds: an http server
// that does not answer the digest request.
var ErrNoDigest = errors.New("the target does not report a digest")

// DigestMediaType is what an http target's digest request accepts, and
// what a server answering it should say it sends.
const DigestMediaType = "application/vnd.honua.digest+json"

// Bounds of a digest: a served tree with more files, or more bytes, is an
// error, not a digest, so that a check never reads without end.
const (
	MaxDigestFiles = 10000
	MaxDigestBytes = 1 << 30
	// maxDigestAnswer bounds an http server's digest answer.
	maxDigestAnswer = 4 << 20
)

// FileDigests returns the SHA-256 of each of files, in lowercase hex.
func FileDigests(files map[string][]byte) map[string]string {
	out := make(map[string]string, len(files))
	for name, data := range files {
		sum := sha256.Sum256(data)
		out[name] = hex.EncodeToString(sum[:])
	}
	return out
}

// DiffDigests returns, sorted, the paths whose digest differs between want
// and got: changed, missing from got, or only in got.
func DiffDigests(want, got map[string]string) []string {
	var diff []string
	for name, sum := range want {
		if got[name] != sum {
			diff = append(diff, name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			diff = append(diff, name)
		}
	}
	slices.Sort(diff)
	return diff
}

// Digest reads the manifest the path serves and digests every file under
// the path but the manifest's directory. A path that does not exist holds
// nothing: an empty digest; a file removed while the tree is read is not
// there. A file that is not regular (a symlink made by
// hand, say) gets a digest no content has, so that it differs.
func (d *directoryTarget) Digest(ctx context.Context) (*Digest, error) {
	m, err := d.Current(ctx)
	if err != nil {
		return nil, err
	}
	dg := &Digest{Manifest: m, Files: map[string]string{}}
	if _, err := os.Stat(d.path); errors.Is(err, fs.ErrNotExist) {
		return dg, nil
	}
	fsys := os.DirFS(d.path)
	var total int64
	err = fs.WalkDir(fsys, ".", func(name string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && name != "." {
			return nil // removed while the tree is read: not there
		}
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if name == manifestDir && e.IsDir() {
			return fs.SkipDir
		}
		if e.IsDir() {
			return nil
		}
		if len(dg.Files) >= MaxDigestFiles {
			return fmt.Errorf("more than %d files", MaxDigestFiles)
		}
		if !e.Type().IsRegular() {
			dg.Files[name] = "not a regular file: " + e.Type().String()
			return nil
		}
		sum, n, err := digestFile(fsys, name, MaxDigestBytes-total)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed since it was listed: not there
		}
		if err != nil {
			return err
		}
		total += n
		dg.Files[name] = sum
		return nil
	})
	if err != nil {
		return nil, d.fail("digest", err)
	}
	return dg, nil
}

// digestFile returns the SHA-256 of name in fsys and its size, refusing a
// file larger than limit.
func digestFile(fsys fs.FS, name string, limit int64) (string, int64, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, limit+1))
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", name, err)
	}
	if n > limit {
		return "", 0, fmt.Errorf("more than %d bytes of files", MaxDigestBytes)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Digest asks the server what it holds: a GET of the target's URL that
// accepts DigestMediaType. A server that answers 200 with a Digest as JSON
// is compared like a directory; one that answers 404, 405, 406 or 501
// cannot tell (ErrNoDigest). Anything else is an error.
func (h *httpTarget) Digest(ctx context.Context) (*Digest, error) {
	fail := func(err error) (*Digest, error) { return nil, &Error{Target: h.name, Op: "digest", Err: err} }
	actx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, h.url, nil)
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Accept", DigestMediaType)
	if err := h.authorize(req); err != nil {
		return fail(err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fail(unwrapURLError(err))
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotAcceptable, http.StatusNotImplemented:
		readDetail(resp)
		return nil, ErrNoDigest
	default:
		if err := redirected(resp); err != nil {
			readDetail(resp)
			return fail(err)
		}
		return fail(errors.New(readDetail(resp)))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDigestAnswer+1))
	if err != nil {
		return fail(err)
	}
	if len(body) > maxDigestAnswer {
		return fail(fmt.Errorf("digest answer is larger than %d bytes", maxDigestAnswer))
	}
	var dg Digest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&dg); err != nil {
		return fail(fmt.Errorf("digest answer is not a digest document: %w", err))
	}
	if len(dg.Files) > MaxDigestFiles {
		return fail(fmt.Errorf("digest answer lists more than %d files", MaxDigestFiles))
	}
	for _, name := range slices.Sorted(maps.Keys(dg.Files)) {
		if err := validPath(name); err != nil {
			return fail(fmt.Errorf("digest answer: file %q: not a bundle path", name))
		}
	}
	if dg.Files == nil {
		dg.Files = map[string]string{}
	}
	return &dg, nil
}
