package docs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goPackage is the top-level names of one package of the module, read
// from its non-test source.
type goPackage struct {
	dir string
	// names holds functions, types, variables and constants, and methods
	// and struct fields as "Type.Method" and "Type.Field".
	names map[string]bool
}

// parsePackage reads the declarations of the package in dir (relative to
// the repository root); nil when dir holds no Go source.
func parsePackage(t *testing.T, dir string) *goPackage {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", filepath.FromSlash(dir), "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	p := &goPackage{dir: dir, names: map[string]bool{}}
	fset := token.NewFileSet()
	n := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		n++
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil || len(d.Recv.List) == 0 {
					p.names[d.Name.Name] = true
					continue
				}
				typ := d.Recv.List[0].Type
				if star, ok := typ.(*ast.StarExpr); ok {
					typ = star.X
				}
				if id, ok := typ.(*ast.Ident); ok {
					p.names[id.Name+"."+d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						p.names[s.Name.Name] = true
						if st, ok := s.Type.(*ast.StructType); ok {
							for _, f := range st.Fields.List {
								for _, id := range f.Names {
									p.names[s.Name.Name+"."+id.Name] = true
								}
							}
						}
					case *ast.ValueSpec:
						for _, id := range s.Names {
							p.names[id.Name] = true
						}
					}
				}
			}
		}
	}
	if n == 0 {
		return nil
	}
	return p
}

// holdsGo reports whether dir (relative to the repository root) or a
// directory under it holds a Go file, tests included.
func holdsGo(dir string) bool {
	found := false
	_ = filepath.WalkDir(filepath.Join("..", filepath.FromSlash(dir)), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".go") {
			found = true
			return filepath.SkipAll
		}
		return err
	})
	return found
}

// modulePackages returns the library packages of the module by the name
// code calls them: api and every package under internal/.
func modulePackages(t *testing.T) map[string]*goPackage {
	t.Helper()
	out := map[string]*goPackage{}
	dirs := []string{"api"}
	err := filepath.WalkDir(filepath.Join("..", "internal"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() != "testdata" {
			rel, _ := filepath.Rel("..", path)
			dirs = append(dirs, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		if p := parsePackage(t, dir); p != nil {
			out[filepath.Base(dir)] = p
		}
	}
	return out
}

// TestArchitectureNames checks that the packages architecture.md names
// (internal/rpc, cmd/honuad, test/harness) exist, and that every name it
// and domain.md give as package.Name or package.Type.Member in inline code
// is declared by that package, so that the pages follow renames.
func TestArchitectureNames(t *testing.T) {
	text := page(t, "architecture.md")
	dirRE := regexp.MustCompile(`\b(?:internal|cmd|test)/[a-z0-9]+(?:/[a-z0-9]+)*`)
	dirs := 0
	for _, dir := range dirRE.FindAllString(text, -1) {
		dirs++
		if !holdsGo(dir) {
			t.Errorf("architecture.md names %s, which holds no Go source", dir)
		}
	}
	if dirs < 20 {
		t.Errorf("found only %d package paths in architecture.md; the pattern is likely broken", dirs)
	}

	pkgs := modulePackages(t)
	if n := checkGoNames(t, pkgs, "architecture.md"); n < 30 {
		t.Errorf("checked only %d package.Name references in architecture.md; the pattern is likely broken", n)
	}
	checkGoNames(t, pkgs, "domain.md")
}

// goNameRE finds package.Name and package.Type.Member in inline code.
var goNameRE = regexp.MustCompile("`\\*?([a-z][a-z0-9]*)\\.([A-Za-z_][A-Za-z0-9_]*)(?:\\.([A-Za-z_][A-Za-z0-9_]*))?`")

// checkGoNames checks that every package.Name a page gives in inline code,
// for a package of this module, is declared there, and returns how many it
// checked.
func checkGoNames(t *testing.T, pkgs map[string]*goPackage, name string) int {
	t.Helper()
	checked := 0
	for _, m := range goNameRE.FindAllStringSubmatch(proseOf(page(t, name)), -1) {
		p, ok := pkgs[m[1]]
		if !ok {
			continue // another module's package (raft.Apply), or not Go
		}
		checked++
		decl := m[2]
		if m[3] != "" {
			decl += "." + m[3]
		}
		if !p.names[decl] {
			t.Errorf("%s names %s, which %s does not declare", name, strings.Trim(m[0], "`"), p.dir)
		}
	}
	return checked
}
