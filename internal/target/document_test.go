package target

import (
	"bytes"
	"errors"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDocumentRoundTrip: what honuad's http target encodes, a target agent
// decodes to the same bundle, text and binary files alike.
func TestDocumentRoundTrip(t *testing.T) {
	for _, files := range []map[string][]byte{
		{"metadata.json": []byte(`{"a": "<&>"}`), "conf/x.json": []byte("é\n")},
		{"metadata.json": []byte("{}"), "tiles/a.bin": {0xff, 0x00, 0xfe}},
	} {
		b := &Bundle{Manifest: Manifest{DeploymentID: "d1", Environment: "prod", Commit: "abc", Kind: "auto", FencingToken: 9,
			Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, Files: files}
		doc, err := encodeDocument(b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeDocument(doc, "9", "d1")
		if err != nil {
			t.Fatalf("DecodeDocument: %v", err)
		}
		if got.Manifest != b.Manifest || !maps.EqualFunc(got.Files, b.Files, bytes.Equal) {
			t.Errorf("DecodeDocument = %+v; want %+v", got, b)
		}
	}
}

// TestDecodeDocumentRefuses documents and headers a target agent must not
// write, each with an error matching ErrBadDocument.
func TestDecodeDocumentRefuses(t *testing.T) {
	m := `{"deploymentId":"d1","fencingToken":3}`
	for _, c := range []struct{ name, doc, token, id, want string }{
		{"escaping path", `{"manifest":` + m + `,"files":{"../x":"a"}}`, "3", "d1", "must not leave"},
		{"bad token header", `{"manifest":` + m + `,"files":{"x":"a"}}`, "three", "d1", "not a fencing token"},
		{"no id header", `{"manifest":` + m + `,"files":{"x":"a"}}`, "3", "", "missing"},
		{"token differs", `{"manifest":` + m + `,"files":{"x":"a"}}`, "4", "d1", "fencingToken is 3"},
		{"bad base64", `{"manifest":` + m + `,"files":{"x":"!!"},"filesEncoding":"base64"}`, "3", "d1", "base64"},
		{"unknown encoding", `{"manifest":` + m + `,"files":{"x":"a"},"filesEncoding":"gzip"}`, "3", "d1", "gzip"},
		{"trailing value", `{"manifest":` + m + `,"files":{"x":"a"}} 1`, "3", "d1", "more than one"},
		{"array", `[]`, "3", "d1", "not a bundle document"},
	} {
		_, err := DecodeDocument([]byte(c.doc), c.token, c.id)
		if !errors.Is(err, ErrBadDocument) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: DecodeDocument = %v; want ErrBadDocument saying %q", c.name, err, c.want)
		}
	}
}

// FuzzDecodeDocument feeds arbitrary PUT bodies and headers to the
// decoder a target agent runs on them: it never panics, and what it
// accepts is a valid bundle matching the headers, which encodes and
// decodes to itself.
func FuzzDecodeDocument(f *testing.F) {
	f.Add([]byte(`{"manifest":{"deploymentId":"d1","fencingToken":3},"files":{"metadata.json":"{}"}}`), "3", "d1")
	f.Add([]byte(`{"manifest":{"deploymentId":"d1","fencingToken":3},"files":{"a/b.bin":"/w=="},"filesEncoding":"base64"}`), "3", "d1")
	f.Add([]byte(`{"manifest":{"deploymentId":"d1","fencingToken":3},"files":{"../x":"a"}}`), "3", "d1")
	f.Add([]byte(`{"manifest":{"deploymentId":"d1","fencingToken":3,"time":"10000-01-01T00:00:00Z"},"files":{"a":"b"}}`), "3", "d1")
	f.Fuzz(func(t *testing.T, data []byte, token, id string) {
		b, err := DecodeDocument(data, token, id)
		if err != nil {
			if !errors.Is(err, ErrBadDocument) {
				t.Fatalf("error %v does not match ErrBadDocument", err)
			}
			return
		}
		if err := b.Validate(); err != nil {
			t.Fatalf("accepted an invalid bundle: %v", err)
		}
		if tok, _ := strconv.ParseUint(token, 10, 64); tok != b.Manifest.FencingToken || b.Manifest.DeploymentID != id {
			t.Fatalf("accepted headers %q %q for manifest %+v", token, id, b.Manifest)
		}
		doc, err := encodeDocument(b)
		if err != nil {
			t.Fatalf("encode an accepted bundle: %v", err)
		}
		again, err := DecodeDocument(doc, strconv.FormatUint(b.Manifest.FencingToken, 10), b.Manifest.DeploymentID)
		if err != nil {
			t.Fatalf("decode what encodes an accepted bundle: %v", err)
		}
		if !again.Manifest.Time.Equal(b.Manifest.Time) || !again.Manifest.sameApply(b.Manifest) || !maps.EqualFunc(again.Files, b.Files, bytes.Equal) {
			t.Fatalf("round trip changed the bundle: %+v → %+v", b, again)
		}
	})
}
