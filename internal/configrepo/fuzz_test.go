package configrepo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// Fuzz targets of the configuration repository's files: anyone who can
// push to the repository writes them, and the leader parses them. `make
// fuzz` runs each for a while; `go test` runs their seeds.

// hostileDocuments are inputs every parser of the repository's files must
// refuse quickly and clearly, or accept. Lists nest deep levels, objects
// deepMaps levels, and an unterminated list opens open: up to the JSON and
// YAML libraries' own limit of 10000 where a target parses one file, over
// maxDepth where it reads several. (go.yaml.in/yaml/v3 takes about 0.1 s
// for 10000 nested flow mappings, ten times that with the race detector;
// a YAML syntax error costs a dozen parses to place; and `make test` runs
// these seeds.)
func hostileDocuments(deep, deepMaps, open int) []string {
	return []string{
		"",
		" \n\t",
		"\xEF\xBB\xBF",
		"{",
		"[",
		"null",
		"{}",
		`{"a":1,"a":2}`,
		"a: 1\na: 2\n",
		strings.Repeat("[", deep) + strings.Repeat("]", deep),
		strings.Repeat(`{"a":`, deepMaps) + "1" + strings.Repeat("}", deepMaps),
		strings.Repeat("[", open),
		strings.Repeat("- ", 5000) + "x\n",
		strings.Repeat("a:\n ", 3000) + "b\n",
		`{"n": 1e999, "m": -1e999, "i": 123456789012345678901234567890}`,
		"n: 1e999\nm: .nan\ni: 0x7fffffffffffffffff\n",
		"{\"a\": \"\xff\xfe\"}",
		"a: \"\xff\"\n",
		"{\"a\x00\": \"b\x00\"}",
		"a\x00: b\n",
		`{"s": "` + strings.Repeat("x", 100000) + `"}`,
		"s: " + strings.Repeat("y", 100000) + "\n",
		laughs(9),
		"a: &a [*a]\n",
		"a: *nowhere\n",
		"a: !!binary aGVsbG8=\nb: !custom x\nc: !!set {x}\n",
		"? [a]\n: b\n",
		"<<: [*a]\n",
		"a: &x {b: 1}\nc:\n  <<: [*x, 1]\n",
		"---\na: 1\n---\nb: 2\n",
		"a: 1\n---\n",
		"%YAML 1.1\n---\na: 1\n",
		"a: 2026-01-02\nb: 2026-01-02T03:04:05Z\n",
		"\t- x",
		"a: 'unterminated\n",
		`{"a": "unterminated`,
		`{"a": 1,}`,
		"{}{}",
	}
}

// checkPositions fails when a problem is not in the file it names, or is
// placed outside it. A YAML file's lines end as YAML says (CR LF, CR, LF,
// NEL, LS, PS), and its columns are not checked against their length.
func checkPositions(t *testing.T, file string, data []byte, problems []Problem) {
	t.Helper()
	lines := bytes.Count(data, []byte("\n")) + 1
	isYAML := strings.HasSuffix(file, ".yaml")
	if isYAML {
		s := strings.ReplaceAll(string(data), "\r\n", "\n")
		lines = 1 + strings.Count(s, "\n") + strings.Count(s, "\r") + strings.Count(s, "\u0085") +
			strings.Count(s, "\u2028") + strings.Count(s, "\u2029")
	}
	split := strings.Split(string(data), "\n")
	for _, p := range problems {
		switch {
		case p.File != file:
			t.Fatalf("problem %q names file %q; want %q", p.Error(), p.File, file)
		case p.Message == "":
			t.Fatalf("problem %q has no message", p.Error())
		case p.Line < 0 || p.Line > lines || p.Column < 0 || (p.Line > 0) != (p.Column > 0):
			t.Fatalf("problem %q is at line %d, column %d of a file of %d lines", p.Error(), p.Line, p.Column, lines)
		case !isYAML && p.Line > 0 && p.Column > len(split[p.Line-1])+1:
			t.Fatalf("problem %q is at column %d of line %d, which is shorter", p.Error(), p.Column, p.Line)
		}
	}
}

// countNodes counts the values of a parsed tree.
func countNodes(n *node) int {
	if n == nil {
		return 0
	}
	c := 1
	for _, it := range n.items {
		c += countNodes(it)
	}
	for _, f := range n.fields {
		c += countNodes(f.val)
	}
	return c
}

// depthOf is how many lists and objects nest in a parsed tree.
func depthOf(n *node) int {
	if n == nil || (n.kind != kindList && n.kind != kindObject) {
		return 0
	}
	d := 0
	for _, it := range n.items {
		d = max(d, depthOf(it))
	}
	for _, f := range n.fields {
		d = max(d, depthOf(f.val))
	}
	return d + 1
}

// checkJSONPositions fails when a node's position is not where its value
// starts: "{", "[", a quote, a digit or minus, or a literal's first letter.
func checkJSONPositions(t *testing.T, data []byte, root *node) {
	t.Helper()
	var lines [][]rune
	for _, l := range strings.SplitAfter(string(data), "\n") {
		lines = append(lines, []rune(l))
	}
	checkNodePositions(t, lines, root)
}

func checkNodePositions(t *testing.T, lines [][]rune, n *node) {
	t.Helper()
	if n.pos.line < 1 || n.pos.line > len(lines) || n.pos.col < 1 {
		t.Fatalf("value %s is at %d:%d, outside the file", n.describe(), n.pos.line, n.pos.col)
	}
	line := lines[n.pos.line-1]
	if n.pos.col > len(line) {
		t.Fatalf("value %s is at %d:%d, past the end of its line %q", n.describe(), n.pos.line, n.pos.col, string(line))
	}
	first := line[n.pos.col-1]
	want := map[kind]string{kindNull: "n[{", kindBool: "tf", kindNumber: "-0123456789", kindString: `"`, kindList: "[", kindObject: "{"}[n.kind]
	if !strings.ContainsRune(want, first) {
		t.Fatalf("value %s is at %d:%d, where %q starts; want one of %q", n.describe(), n.pos.line, n.pos.col, first, want)
	}
	for _, it := range n.items {
		checkNodePositions(t, lines, it)
	}
	for _, f := range n.fields {
		checkNodePositions(t, lines, f.val)
	}
}

// FuzzParseJSON: parseJSON never panics; a file it cannot parse gets a
// problem at a position inside it; every value it reads is placed where it
// starts, and nests at most maxDepth deep; what it parses without a
// problem is what encoding/json reads from it.
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{validMetadataJSON, validDataSourcesJSON, validAppSettingsJSON,
		"\xEF\xBB\xBF{\"x\": 1}", `{"x": [1, 2.5, -3e2, true, false, null, "s\u00e9\n"]}`,
		"{\"é\":\n\t[ 1 ,\r\n\"ü\" ] }"} {
		f.Add([]byte(s))
	}
	// Minified: one line, where positions used to be counted from the
	// line's start for every value (this took 0.7 s; 4 MiB took hours).
	f.Add([]byte(`{"layers":[` + strings.TrimSuffix(strings.Repeat(`{"id":"x","f":1},`, 4000), ",") + `]}`))
	for _, s := range hostileDocuments(10001, 10001, 20000) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "environments/prod/metadata.json"
		var problems []Problem
		root := parseJSON(reporter{file: file, problems: &problems}, data)
		if root == nil && len(problems) == 0 {
			t.Fatalf("parseJSON(%q) = nil without a problem", data)
		}
		checkPositions(t, file, bytes.TrimPrefix(data, utf8BOM), problems)
		if root != nil {
			checkJSONPositions(t, bytes.TrimPrefix(data, utf8BOM), root)
		}
		if d := depthOf(root); d > maxDepth {
			t.Fatalf("parseJSON read values nested %d deep; want at most %d", d, maxDepth)
		}
		if root == nil || len(problems) > 0 {
			return
		}
		var want any
		if err := json.Unmarshal(bytes.TrimPrefix(data, utf8BOM), &want); err != nil {
			t.Fatalf("parseJSON(%q) found no problem; encoding/json says %v", data, err)
		}
		if got := root.value(); !reflect.DeepEqual(got, want) {
			t.Fatalf("parseJSON(%q) = %#v; encoding/json reads %#v", data, got, want)
		}
	})
}

// FuzzParseYAML: parseYAML never panics and refuses alias bombs and deep
// nesting quickly; a file it cannot parse gets a problem at a position
// inside it; aliases never expand to more than maxAliasNodes values; what
// it parses without a problem is in the JSON data model, and reads back the
// same once written as JSON.
func FuzzParseYAML(f *testing.F) {
	for _, s := range []string{validMetadataYAML, validDataSourcesYAML, validAppSettingsYAML, laughs(4),
		"a: &a {x: 1}\nb: *a\nc: {<<: *a, y: 2}\n"} {
		f.Add([]byte(s))
	}
	for _, s := range hostileDocuments(10000, 1000, 1000) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "environments/prod/metadata.yaml"
		var problems []Problem
		root := parseYAML(reporter{file: file, problems: &problems}, data)
		if root == nil && len(problems) == 0 {
			t.Fatalf("parseYAML(%q) = nil without a problem", data)
		}
		checkPositions(t, file, data, problems)
		if d := depthOf(root); d > maxDepth {
			t.Fatalf("parseYAML read values nested %d deep; want at most %d", d, maxDepth)
		}
		if n, limit := countNodes(root), len(data)+maxAliasNodes+1; n > limit {
			t.Fatalf("parseYAML of %d bytes made %d values; want at most %d", len(data), n, limit)
		}
		if root == nil || len(problems) > 0 {
			return
		}
		b, err := json.Marshal(root.value())
		if err != nil {
			t.Fatalf("parseYAML(%q) = %#v, which is not JSON: %v", data, root.value(), err)
		}
		var again []Problem
		back := parseJSON(reporter{file: "again.json", problems: &again}, b)
		if len(again) > 0 || !reflect.DeepEqual(back.value(), root.value()) {
			t.Fatalf("parseYAML(%q) = %#v; written as JSON %s it reads back as %#v (%v)", data, root.value(), b, back.value(), again)
		}
	})
}

// FuzzLoad runs Load over an environment whose files are fuzzed, each as
// JSON or YAML, under small limits. Properties: a bundle exactly when there
// is no problem; problems sorted, each in a file of the environment and
// inside it; a file over the limit refused and never parsed; the bundle
// holds the files' bytes untouched; the report of the problems is bounded.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(validMetadataJSON), []byte(validDataSourcesJSON), []byte(validAppSettingsJSON), []byte(`{"cache": {"tileSeconds": 300}}`), uint8(0))
	f.Add([]byte(validMetadataYAML), []byte(validDataSourcesYAML), []byte(validAppSettingsYAML), []byte("cache: {tileSeconds: 300}\n"), uint8(15))
	f.Add([]byte(validMetadataJSON), []byte(validDataSourcesYAML), []byte(nil), []byte(nil), uint8(2))
	f.Add([]byte(`{"services":[{"id":"s","dataSourceId":"nope"}],"layers":[{"id":"l","serviceId":"x","srid":-3}]}`),
		[]byte(`{"dataSources":[{"id":"d"},{"id":"d"}]}`), []byte(`[]`), []byte(`1`), uint8(0))
	for _, s := range hostileDocuments(maxDepth+1, maxDepth+1, maxDepth+1) {
		f.Add([]byte(s), []byte(validDataSourcesJSON), []byte(s), []byte(s), uint8(0))
		f.Add([]byte(validMetadataYAML), []byte(s), []byte(s), []byte(nil), uint8(14))
	}
	f.Fuzz(func(t *testing.T, meta, ds, app, shared []byte, formats uint8) {
		cfg := Config{MaxFileSize: 64 << 10, MaxEnvironmentSize: 160 << 10}
		fsys := fstest.MapFS{}
		files := map[string][]byte{} // bundle path → bytes
		add := func(dir, base string, data []byte, yaml bool) {
			if data == nil {
				return
			}
			name := base + ".json"
			if yaml {
				name = base + ".yaml"
			}
			fsys[dir+"/"+name] = &fstest.MapFile{Data: data}
			files[name] = data
		}
		add("environments/prod", "metadata", meta, formats&1 != 0)
		add("environments/prod", "datasources", ds, formats&2 != 0)
		add("environments/prod", "appsettings", app, formats&4 != 0)
		add(CommonDir, "shared-config", shared, formats&8 != 0)

		b, problems := cfg.Load(fsys, "prod")
		if (b == nil) != (len(problems) > 0) {
			t.Fatalf("Load = bundle %v with %d problems; want a bundle exactly when there is no problem", b != nil, len(problems))
		}
		if !slices.IsSortedFunc(problems, func(a, b Problem) int {
			return strings.Compare(fmt.Sprintf("%s\x00%09d\x00%09d", a.File, a.Line, a.Column),
				fmt.Sprintf("%s\x00%09d\x00%09d", b.File, b.Line, b.Column))
		}) {
			t.Fatalf("Load problems are not sorted by file, line and column: %v", problems)
		}
		byFile := map[string][]Problem{}
		for _, p := range problems {
			byFile[p.File] = append(byFile[p.File], p)
		}
		for file, ps := range byFile {
			if file == "environments/prod" {
				continue // the environment as a whole: too large
			}
			mf, ok := fsys[file]
			if !ok {
				if !strings.HasPrefix(file, "environments/prod/") && !strings.HasPrefix(file, CommonDir+"/") {
					t.Fatalf("problems %v name %s, which is not a file of the environment", ps, file)
				}
				continue // a required file that is missing
			}
			if int64(len(mf.Data)) > cfg.MaxFileSize {
				if len(ps) != 1 || !strings.Contains(ps[0].Message, "the limit is 64 KiB per file") {
					t.Fatalf("%s is %d bytes, over the limit: problems %v; want the one saying so", file, len(mf.Data), ps)
				}
				continue
			}
			checkPositions(t, file, bytes.TrimPrefix(mf.Data, utf8BOM), ps)
		}
		if max := MaxReportProblems * (4*maxProblemText + 256); len(mustJSON(t, NewReport(problems))) > max {
			t.Fatalf("the report of %d problems is over %d bytes", len(problems), max)
		}
		if b == nil {
			return
		}
		if !reflect.DeepEqual(b.Files, files) {
			t.Fatalf("bundle files %v; want the files as written %v", keys(b.Files), keys(files))
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
