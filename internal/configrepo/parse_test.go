package configrepo

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // metadata only; datasources are added
		want  Problem
	}{
		{
			name:  "JSON missing value",
			files: map[string]string{metaFile: "{\n  \"services\": [],\n  \"layers\": \n}\n"},
			want:  Problem{File: metaFile, Line: 4, Column: 1, Message: "invalid JSON: invalid character '}' looking for beginning of value"},
		},
		{
			name:  "JSON trailing comma",
			files: map[string]string{metaFile: "{\n  \"services\": [],\n}"},
			want:  Problem{File: metaFile, Line: 3, Column: 1, Message: "invalid JSON: invalid character '}' looking for beginning of object key string"},
		},
		{
			name:  "JSON missing colon",
			files: map[string]string{metaFile: `{"services" []}`},
			want:  Problem{File: metaFile, Line: 1, Column: 13, Message: "invalid JSON: invalid character '[' after object key"},
		},
		{
			name:  "JSON truncated",
			files: map[string]string{metaFile: "{\"services\": [\n  {\"id\": \"s\"}\n\n"},
			want:  Problem{File: metaFile, Line: 2, Column: 14, Message: "invalid JSON: unexpected end of file"},
		},
		{
			name:  "JSON bad literal",
			files: map[string]string{metaFile: `{"services": tru}`},
			want:  Problem{File: metaFile, Line: 1, Column: 17, Message: "invalid JSON: invalid character '}' in literal true (expecting 'e')"},
		},
		{
			name:  "JSON columns count characters",
			files: map[string]string{metaFile: `{"títle": "ü", "x": ]}`},
			want:  Problem{File: metaFile, Line: 1, Column: 21, Message: "invalid JSON: invalid character ']' looking for beginning of value"},
		},
		{
			name:  "JSON columns after a byte order mark",
			files: map[string]string{metaFile: "\xEF\xBB\xBF{\"x\": }"},
			want:  Problem{File: metaFile, Line: 1, Column: 7, Message: "invalid JSON: invalid character '}' looking for beginning of value"},
		},
		{
			name:  "JSON second value",
			files: map[string]string{metaFile: "{}\n{}\n"},
			want:  Problem{File: metaFile, Line: 2, Column: 1, Message: "invalid JSON: invalid character '{' after top-level value"},
		},
		{
			name:  "JSON duplicate key",
			files: map[string]string{metaFile: "{\"services\": [],\n \"layers\": [],\n \"services\": []}"},
			want:  Problem{File: metaFile, Line: 3, Column: 2, Path: "services", Message: `duplicate key "services" (first at line 1, column 2)`},
		},
		{
			name:  "JSON nested duplicate key",
			files: map[string]string{metaFile: `{"x": [{"id": "a", "id": "b"}]}`},
			want:  Problem{File: metaFile, Line: 1, Column: 20, Path: "x[0].id", Message: `duplicate key "id" (first at line 1, column 9)`},
		},
		{
			name:  "JSON number out of range",
			files: map[string]string{metaFile: `{"x": 1e999}`},
			want:  Problem{File: metaFile, Line: 1, Column: 7, Path: "x", Message: "number 1e999 is out of range"},
		},
		{
			name:  "JSON not UTF-8",
			files: map[string]string{metaFile: "{\"x\": \"a\xffb\"}"},
			want:  Problem{File: metaFile, Line: 1, Column: 9, Message: "invalid JSON: the file is not valid UTF-8"},
		},
		{
			name:  "YAML not UTF-8",
			files: map[string]string{metaYAML: "services: []\nx: \xff\n"},
			want:  Problem{File: metaYAML, Line: 2, Column: 4, Message: "invalid YAML: invalid leading UTF-8 octet"},
		},
		{
			name:  "YAML bad indentation",
			files: map[string]string{metaYAML: "services:\n  - id: s\n    title: S\n   dataSourceId: db\n"},
			want:  Problem{File: metaYAML, Line: 4, Column: 4, Message: "invalid YAML: did not find expected '-' indicator"},
		},
		{
			name:  "YAML mapping value in a scalar",
			files: map[string]string{metaYAML: "services: []\nlayers: a: b\n"},
			want:  Problem{File: metaYAML, Line: 2, Column: 10, Message: "invalid YAML: mapping values are not allowed in this context"},
		},
		{
			name:  "YAML key dedented",
			files: map[string]string{metaYAML: "services:\n  x: 1\n y: 2\n"},
			want:  Problem{File: metaYAML, Line: 3, Column: 2, Message: "invalid YAML: did not find expected key"},
		},
		{
			name:  "YAML tab indentation",
			files: map[string]string{metaYAML: "services:\n\t- id: s\n"},
			want:  Problem{File: metaYAML, Line: 2, Column: 1, Message: "invalid YAML: found character that cannot start any token"},
		},
		{
			name:  "YAML unclosed quote points at the quote",
			files: map[string]string{metaYAML: "services: []\nlayers:\n  - id: \"sample\n  - id: other\n"},
			want:  Problem{File: metaYAML, Line: 3, Column: 9, Message: "invalid YAML: found unexpected end of stream"},
		},
		{
			name:  "YAML reserved character",
			files: map[string]string{metaYAML: "services: []\nlayers: @all\n"},
			want:  Problem{File: metaYAML, Line: 2, Column: 9, Message: "invalid YAML: found character that cannot start any token"},
		},
		{
			name:  "YAML unknown anchor",
			files: map[string]string{metaYAML: "services: []\nlayers: *all\n"},
			want:  Problem{File: metaYAML, Line: 2, Column: 9, Message: "invalid YAML: unknown anchor 'all' referenced"},
		},
		{
			name:  "YAML duplicate key",
			files: map[string]string{metaYAML: "services: []\nlayers: []\nservices: []\n"},
			want:  Problem{File: metaYAML, Line: 3, Column: 1, Path: "services", Message: `duplicate key "services" (first at line 1, column 1)`},
		},
		{
			name:  "YAML two documents",
			files: map[string]string{metaYAML: "services: []\n---\nlayers: []\n"},
			want:  Problem{File: metaYAML, Line: 2, Column: 1, Message: "file holds more than one YAML document; keep one"},
		},
		{
			name:  "YAML error in a second document",
			files: map[string]string{metaYAML: "services: []\n---\nlayers: [\n"},
			want:  Problem{File: metaYAML, Line: 3, Column: 9, Message: "invalid YAML: did not find expected node content"},
		},
		{
			name:  "YAML custom tag",
			files: map[string]string{metaYAML: "services: !secret []\n"},
			want:  Problem{File: metaYAML, Line: 1, Column: 11, Path: "services", Message: "unsupported YAML tag !secret"},
		},
		{
			name:  "YAML infinity",
			files: map[string]string{metaYAML: "x: .inf\n"},
			want:  Problem{File: metaYAML, Line: 1, Column: 4, Path: "x", Message: ".inf is not a number JSON can hold"},
		},
		{
			name:  "YAML non-scalar key",
			files: map[string]string{metaYAML: "? [a, b]\n: 1\n"},
			want:  Problem{File: metaYAML, Line: 1, Column: 3, Message: "keys must be strings; a list or object cannot be a key"},
		},
		{
			name:  "JSON nested too deep",
			files: map[string]string{metaFile: "{\"x\":\n" + strings.Repeat("[", 150) + strings.Repeat("]", 150) + "}"},
			want: Problem{File: metaFile, Line: 2, Column: 100, Path: "x" + strings.Repeat("[0]", 99),
				Message: "lists and objects nest deeper than 100 levels here"},
		},
		{
			name:  "YAML nested too deep",
			files: map[string]string{metaYAML: "x:\n  " + strings.Repeat("[", 150) + strings.Repeat("]", 150) + "\n"},
			want: Problem{File: metaYAML, Line: 2, Column: 102, Path: "x" + strings.Repeat("[0]", 99),
				Message: "lists and mappings nest deeper than 100 levels here"},
		},
		{
			name:  "YAML alias to itself",
			files: map[string]string{metaYAML: "x: &loop [1, *loop]\n"},
			want:  Problem{File: metaYAML, Line: 1, Column: 14, Path: "x[1]", Message: "alias *loop refers to itself"},
		},
		{
			name:  "YAML aliases expanding without bound",
			files: map[string]string{metaYAML: laughs(7)},
			// l1 to l4 expand to 35750 values, and each *l4 to 32221 more.
			want: Problem{File: metaYAML, Line: 6, Column: 15, Path: "l5[1]", Message: "aliases expand to more than 100000 values"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{dsFile: `{"dataSources": []}`}
			for k, v := range tt.files {
				files[k] = v
			}
			b, got := Load(repo(files), "prod")
			assertProblems(t, got, []Problem{tt.want})
			if b != nil {
				t.Errorf("Load returned a bundle despite a syntax error")
			}
		})
	}
}

// laughs is a YAML "billion laughs" document: each level repeats the one
// before it ten times, so the last expands to 10^levels values.
func laughs(levels int) string {
	var b strings.Builder
	b.WriteString("l0: &l0 [lol]\n")
	for i := 1; i < levels; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	fmt.Fprintf(&b, "x:\n  - *l%d\n", levels-1)
	return b.String()
}

func TestYAMLNormalization(t *testing.T) {
	doc := `
str: plain
quoted: "4326"
int: 4326
hex: 0x10
float: 1.5
exp: 1e3
bool: true
null1: null
null2: ~
empty:
date: 2026-01-02
list: [1, two, {three: 3}]
defaults: &d {a: 1, b: 2}
merged:
  <<: *d
  b: 3
multi:
  <<: [{a: 1, b: 1}, {b: 2, c: 2}]
block: |
  line one
  line two
`
	want := map[string]any{
		"str": "plain", "quoted": "4326", "int": 4326.0, "hex": 16.0, "float": 1.5, "exp": 1000.0,
		"bool": true, "null1": nil, "null2": nil, "empty": nil, "date": "2026-01-02",
		"list":     []any{1.0, "two", map[string]any{"three": 3.0}},
		"defaults": map[string]any{"a": 1.0, "b": 2.0},
		"merged":   map[string]any{"a": 1.0, "b": 3.0},
		"multi":    map[string]any{"a": 1.0, "b": 1.0, "c": 2.0},
		"block":    "line one\nline two\n",
	}
	var problems []Problem
	root := parseYAML(reporter{file: "f.yaml", problems: &problems}, []byte(doc))
	if len(problems) != 0 {
		t.Fatalf("parseYAML problems: %v", problems)
	}
	if got := root.value(); !reflect.DeepEqual(got, want) {
		t.Errorf("parseYAML value = %#v\nwant %#v", got, want)
	}
	if n := root.get("int"); !n.isInt || root.get("exp").isInt || root.get("float").isInt {
		t.Errorf("isInt: int %v, exp %v, float %v; want true, false, false", n.isInt, root.get("exp").isInt, root.get("float").isInt)
	}
}

func TestJSONPositions(t *testing.T) {
	doc := "{\n  \"a\": [1, {\"b\": null}],\n\t\"é\": \"x\"\n}"
	var problems []Problem
	root := parseJSON(reporter{file: "f.json", problems: &problems}, []byte(doc))
	if len(problems) != 0 {
		t.Fatalf("parseJSON problems: %v", problems)
	}
	a := root.get("a")
	checks := []struct {
		name string
		got  pos
		want pos
	}{
		{"root", root.pos, pos{1, 1}},
		{"a", a.pos, pos{2, 8}},
		{"a[0]", a.items[0].pos, pos{2, 9}},
		{"a[1]", a.items[1].pos, pos{2, 12}},
		{"a[1].b", a.items[1].get("b").pos, pos{2, 18}},
		{"a[1].b key", a.items[1].fields[0].keyPos, pos{2, 13}},
		{"é", root.get("é").pos, pos{3, 7}},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("position of %s = %v; want %v", c.name, c.got, c.want)
		}
	}
}

func TestJSONPath(t *testing.T) {
	for _, tt := range []struct{ base, key, want string }{
		{"", "layers", "layers"},
		{"layers[1]", "srid", "layers[1].srid"},
		{"connection", "my key", `connection["my key"]`},
		{"", "1st", `["1st"]`},
		{"x", "", `x[""]`},
	} {
		if got := jsonPath(tt.base, tt.key); got != tt.want {
			t.Errorf("jsonPath(%q, %q) = %q; want %q", tt.base, tt.key, got, tt.want)
		}
	}
}
