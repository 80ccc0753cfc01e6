package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// oldSpec is the name of the specification the code once cited, outside
// this repository; spelled in two parts so that this file does not cite it.
const oldSpec = "DOMAIN" + ".md"

// goSource is one Go file of the repository.
type goSource struct {
	path string // relative to the repository root, slash-separated
	text string
}

// goSources returns every Go file of the repository, tests included,
// outside hidden directories (.git, .run).
func goSources(t *testing.T) []goSource {
	t.Helper()
	root := ".."
	var out []goSource
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		out = append(out, goSource{path: filepath.ToSlash(rel), text: string(b)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 100 {
		t.Fatalf("found only %d Go files under the repository root; the walk is broken", len(out))
	}
	return out
}

// lineOf returns the 1-based line of offset i in text.
func lineOf(text string, i int) int { return strings.Count(text[:i], "\n") + 1 }

// TestNoOldSpecCitations checks that no Go file cites the specification
// that lives outside this repository: comments point at docs/domain.md.
func TestNoOldSpecCitations(t *testing.T) {
	for _, f := range goSources(t) {
		for i := 0; ; {
			j := strings.Index(f.text[i:], oldSpec)
			if j < 0 {
				break
			}
			i += j
			t.Errorf("%s:%d cites %s, which is not in this repository; point it at a section of docs/domain.md (docs/domain.md#states, say)",
				f.path, lineOf(f.text, i), oldSpec)
			i += len(oldSpec)
		}
	}
}

// domainCitation finds a citation of a section of docs/domain.md, by its
// anchor, in Go source.
var domainCitation = regexp.MustCompile(`docs/domain\.md#([A-Za-z0-9_-]+)`)

// TestDomainCitationsExist checks that every section of docs/domain.md a
// Go file cites exists, so that a renamed heading cannot leave comments
// pointing nowhere.
func TestDomainCitationsExist(t *testing.T) {
	have := anchors(page(t, "domain.md"))
	seen := 0
	for _, f := range goSources(t) {
		if f.path == "docs/domain_test.go" {
			continue // its messages give examples
		}
		for _, m := range domainCitation.FindAllStringSubmatchIndex(f.text, -1) {
			seen++
			anchor := f.text[m[2]:m[3]]
			if !slices.Contains(have, anchor) {
				t.Errorf("%s:%d cites docs/domain.md#%s, but docs/domain.md has no heading with that anchor (it has %v)",
					f.path, lineOf(f.text, m[0]), anchor, have)
			}
		}
	}
	// The code cited the old specification 32 times; they all point here now.
	if seen < 30 {
		t.Errorf("found only %d citations of docs/domain.md in the Go files; want at least 30", seen)
	}
}
