package docs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/honua-io/honua-gitops/internal/configrepo"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/policy"
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

// fsmStates returns the states internal/fsm names (its stateNames), read
// from its source (whichever file holds them), by value.
func fsmStates(t *testing.T) []fsm.DeploymentState {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("..", "internal", "fsm", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var out []fsm.DeploymentState
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if len(vs.Names) != 1 || vs.Names[0].Name != "stateNames" || len(vs.Values) != 1 {
					continue
				}
				lit, ok := vs.Values[0].(*ast.CompositeLit)
				if !ok {
					t.Fatalf("%s: stateNames is not a literal; this test's reading of internal/fsm is out of date", fset.Position(vs.Pos()))
				}
				for _, elt := range lit.Elts {
					bl, isLit := elt.(*ast.BasicLit)
					if !isLit || bl.Kind != token.STRING {
						t.Fatalf("%s: a state's name is not a string literal; this test's reading of internal/fsm is out of date",
							fset.Position(elt.Pos()))
					}
					v, err := strconv.Unquote(bl.Value)
					if err != nil {
						t.Fatal(err)
					}
					if v == "" {
						continue // no state
					}
					st, ok := fsm.ParseState(v)
					if !ok || st.String() != v {
						t.Fatalf("internal/fsm names a state %q that ParseState does not give back", v)
					}
					out = append(out, st)
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("found no state names (stateNames) in internal/fsm; this test's reading of it is out of date")
	}
	slices.Sort(out)
	return out
}

// stateClass is how docs/domain.md classes a state, from the FSM's own
// predicates.
func stateClass(s fsm.DeploymentState) string {
	var classes []string
	if s.Waiting() {
		classes = append(classes, "waiting")
	}
	if s.Active() {
		classes = append(classes, "active")
	}
	if s.Terminal() {
		classes = append(classes, "terminal")
	}
	return strings.Join(classes, " and ")
}

// TestStateTable checks docs/domain.md's table of states against the FSM:
// every state listed once, each with its class, and exactly the moves
// fsm.CanTransition allows — no more, no less.
func TestStateTable(t *testing.T) {
	states := fsmStates(t)
	all := slices.Clone(fsm.AllStates)
	slices.Sort(all)
	if !slices.Equal(states, all) {
		t.Errorf("internal/fsm declares the states %v, but fsm.AllStates holds %v", states, all)
	}

	rows := table(t, "domain.md", "States", "may move to")
	documented := map[fsm.DeploymentState][]fsm.DeploymentState{}
	for _, row := range rows {
		from, _ := fsm.ParseState(row["state"])
		if !slices.Contains(states, from) {
			t.Errorf("domain.md lists state %q, which internal/fsm does not have", row["state"])
			continue
		}
		if _, dup := documented[from]; dup {
			t.Errorf("domain.md lists state %s twice", from)
		}
		documented[from] = []fsm.DeploymentState{}
		if got, want := row["class"], stateClass(from); got != want {
			t.Errorf("domain.md classes %s as %q; the FSM says %q", from, got, want)
		}
		if row["may move to"] == "" {
			continue
		}
		for _, cell := range strings.Split(row["may move to"], ",") {
			to, _ := fsm.ParseState(strings.TrimSpace(cell))
			if !slices.Contains(states, to) {
				t.Errorf("domain.md: %s may move to %q, which is not a state of internal/fsm", from, strings.TrimSpace(cell))
				continue
			}
			documented[from] = append(documented[from], to)
		}
	}
	edges := 0
	for _, from := range states {
		doc, listed := documented[from]
		if !listed {
			t.Errorf("domain.md's table of states does not list %s", from)
			continue
		}
		for _, to := range states {
			inDoc, inFSM := slices.Contains(doc, to), fsm.CanTransition(from, to)
			switch {
			case inFSM && !inDoc:
				t.Errorf("the FSM allows %s → %s, which domain.md's table of states does not list", from, to)
			case inDoc && !inFSM:
				t.Errorf("domain.md's table of states lists %s → %s, which the FSM refuses", from, to)
			}
			if inFSM {
				edges++
			}
		}
	}
	if edges == 0 {
		t.Error("fsm.CanTransition allows no move at all; this test is not reading what it should")
	}
}

// TestDomainExamples checks that the examples of domain.md are what the
// code accepts: the metadata.json and datasources.json of Repository
// validate as an environment, and the policy file of Policy parses.
func TestDomainExamples(t *testing.T) {
	text := page(t, "domain.md")
	var metadata, dataSources, pol string
	for _, b := range codeBlocks(text) {
		switch {
		case strings.Contains(b, `"layers"`):
			metadata = b
		case strings.Contains(b, `"dataSources"`):
			dataSources = b
		case strings.Contains(b, "kind: DeploymentPolicy"):
			pol = b
		}
	}
	if metadata == "" || dataSources == "" || pol == "" {
		t.Fatalf("domain.md lacks an example: metadata.json found %t, datasources.json %t, policy %t",
			metadata != "", dataSources != "", pol != "")
	}
	repo := fstest.MapFS{
		"environments/production/metadata.json":    {Data: []byte(metadata)},
		"environments/production/datasources.json": {Data: []byte(dataSources)},
		".gitops/deployment-policy.yaml":           {Data: []byte(pol)},
	}
	if _, problems := configrepo.Load(repo, "production"); len(problems) > 0 {
		t.Errorf("domain.md's metadata.json and datasources.json do not validate: %v", problems)
	}
	raw, ok, err := configrepo.ReadPolicy(repo)
	if err != nil || !ok {
		t.Fatalf("ReadPolicy = %t, %v", ok, err)
	}
	p, err := policy.Parse(raw, policy.Path)
	if err != nil {
		t.Fatalf("domain.md's policy file does not parse: %v", err)
	}
	if got := p.Environments(); !slices.Equal(got, []string{"production", "staging"}) {
		t.Errorf("domain.md's policy file lists %v; want production and staging", got)
	}
}

// TestNotificationEventsListed checks that domain.md's table of
// notification events lists every event the FSM knows, and no other.
func TestNotificationEventsListed(t *testing.T) {
	text := page(t, "domain.md")
	i := strings.Index(text, "\n## Notifications\n")
	if i < 0 {
		t.Fatal("domain.md has no Notifications section")
	}
	section, _, _ := strings.Cut(text[i+1:], "\n## Configuration")
	var listed []string
	for _, m := range regexp.MustCompile(`(?m)^\| ([A-Z][A-Za-z]+) \|`).FindAllStringSubmatch(section, -1) {
		listed = append(listed, m[1])
	}
	var want []string
	for _, e := range fsm.AllNotificationEvents {
		want = append(want, string(e))
	}
	if !slices.Equal(listed, want) {
		t.Errorf("domain.md#notifications lists events %v; want %v, in that order", listed, want)
	}
}
