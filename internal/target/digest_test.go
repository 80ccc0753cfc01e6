package target

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// TestDirectoryDigest: a directory target's digest is its bundle's; a file
// changed, added or removed by hand is named by DiffDigests; the manifest
// is not among the files.
func TestDirectoryDigest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "production")
	d := newDir(t, path, 2)
	ctx := context.Background()
	if dg, err := d.Digest(ctx); err != nil || dg.Manifest != nil || len(dg.Files) != 0 {
		t.Fatalf("Digest of a target never applied = %+v, %v; want an empty digest", dg, err)
	}
	b := testBundle("production-1", 7)
	mustApply(t, d, b)
	want := FileDigests(b.Files)
	dg, err := d.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if dg.Manifest == nil || !dg.Manifest.sameApply(b.Manifest) {
		t.Errorf("Digest manifest = %+v; want %+v", dg.Manifest, b.Manifest)
	}
	if diff := DiffDigests(want, dg.Files); len(diff) != 0 {
		t.Fatalf("a freshly applied target differs from its bundle in %v", diff)
	}

	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(pathOf(path, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("metadata.json", `{"edited": "by hand"}`)
	write("extra.json", `{}`)
	if err := os.Remove(pathOf(path, "layers/roads.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", pathOf(path, "datasources.json.link")); err != nil {
		t.Fatal(err)
	}
	dg, err = d.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantDiff := []string{"datasources.json.link", "extra.json", "layers/roads.json", "metadata.json"}
	if diff := DiffDigests(want, dg.Files); !slices.Equal(diff, wantDiff) {
		t.Errorf("DiffDigests after hand edits = %v; want %v", diff, wantDiff)
	}
}

// TestHTTPDigest: an http target asks its server for a digest with a GET
// of its URL accepting DigestMediaType; a server that answers one is read,
// one that answers 404 cannot tell, and a bad answer is an error.
func TestHTTPDigest(t *testing.T) {
	b := testBundle("production-2", 9)
	var answer atomic.Value // func(w http.ResponseWriter)
	var badRequests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.Header.Get("Accept") != DigestMediaType || r.URL.Path != "/admin/bundle" {
			badRequests.Add(1)
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		answer.Load().(func(http.ResponseWriter))(w)
	}))
	t.Cleanup(srv.Close)
	h := newTarget(t, Config{Type: "http", URL: srv.URL + "/admin/bundle"}).(*httpTarget)
	ctx := context.Background()

	answer.Store(func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", DigestMediaType)
		_ = json.NewEncoder(w).Encode(Digest{Manifest: &b.Manifest, Files: FileDigests(b.Files)})
	})
	dg, err := h.Digest(ctx)
	if err != nil {
		t.Fatalf("Digest: %v", err)
	}
	if dg.Manifest == nil || !dg.Manifest.sameApply(b.Manifest) || len(DiffDigests(FileDigests(b.Files), dg.Files)) != 0 {
		t.Errorf("Digest = %+v; want the bundle's", dg)
	}

	answer.Store(func(w http.ResponseWriter) { http.NotFound(w, nil) })
	if _, err := h.Digest(ctx); !errors.Is(err, ErrNoDigest) {
		t.Errorf("Digest from a server without it = %v; want ErrNoDigest", err)
	}
	for name, fn := range map[string]func(http.ResponseWriter){
		"server error": func(w http.ResponseWriter) { http.Error(w, "boom", http.StatusInternalServerError) },
		"not a digest": func(w http.ResponseWriter) { _, _ = w.Write([]byte("<html>hello</html>")) },
		"bad path": func(w http.ResponseWriter) {
			_, _ = w.Write([]byte(`{"manifest":null,"files":{"../etc/passwd":"00"}}`))
		},
		"unknown key": func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"manifest":null,"files":{},"extra":1}`)) },
	} {
		answer.Store(fn)
		_, err := h.Digest(ctx)
		var te *Error
		if err == nil || errors.Is(err, ErrNoDigest) || !errors.As(err, &te) || te.Op != "digest" {
			t.Errorf("%s: Digest = %v; want a digest error of the target", name, err)
		}
	}
	if n := badRequests.Load(); n != 0 {
		t.Errorf("the server got %d requests that were not a digest GET", n)
	}
	if !strings.Contains(h.String(), srv.URL) {
		t.Errorf("String() = %q", h.String())
	}
}
