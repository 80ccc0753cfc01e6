package configrepo

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with the repository, located as precisely as
// the file allows. Load and Environments return every problem they find;
// every problem is an error.
type Problem struct {
	File    string // repository path, e.g. environments/production/metadata.json
	Line    int    // 1-based; 0 when unknown
	Column  int    // 1-based, in characters; 0 when unknown
	Path    string // JSON path of the offending value, e.g. layers[1].srid; "" for the whole file
	Message string
}

// Error formats the problem the way compilers do:
// "environments/production/metadata.json:12:7: layers[1].srid: must be a positive integer, got -3".
// Parts that are unknown are left out.
func (p Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
			if p.Column > 0 {
				fmt.Fprintf(&b, ":%d", p.Column)
			}
		}
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// sortProblems orders problems by file, line and column, keeping the order
// in which they were found otherwise.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
		)
	})
}

// reporter collects the problems of one file.
type reporter struct {
	file     string
	problems *[]Problem
}

// at records an error at a position of the file.
func (r reporter) at(p pos, path, format string, args ...any) {
	*r.problems = append(*r.problems, Problem{
		File: r.file, Line: p.line, Column: p.col, Path: path,
		Message: fmt.Sprintf(format, args...),
	})
}

// pos is a 1-based line and column; the zero pos means unknown.
type pos struct{ line, col int }

// jsonPath appends key to the JSON path p: services[0].id, or
// connection["odd key"] when key is not an identifier.
func jsonPath(p, key string) string {
	ident := key != ""
	for i, r := range key {
		if !(r == '_' || r == '$' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || i > 0 && '0' <= r && r <= '9') {
			ident = false
			break
		}
	}
	switch {
	case !ident:
		return fmt.Sprintf("%s[%q]", p, key)
	case p == "":
		return key
	default:
		return p + "." + key
	}
}

// indexPath appends an index to the JSON path p: layers[1].
func indexPath(p string, i int) string { return fmt.Sprintf("%s[%d]", p, i) }
