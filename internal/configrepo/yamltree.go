package configrepo

import (
	"bytes"
	"errors"
	"io"
	"math"
	"regexp"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// maxAliasNodes bounds the nodes that aliases may expand to, so a small
// file cannot expand into a huge document ("billion laughs").
const maxAliasNodes = 100_000

// parseYAML parses a YAML file holding one document into nodes in the JSON
// data model. Syntax errors, duplicate keys, tags and values that JSON cannot
// hold are reported. It returns nil when the file could not be parsed.
func parseYAML(r reporter, data []byte) *node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case err == io.EOF:
		r.at(pos{}, "", "file is empty")
		return nil
	case err != nil:
		yamlSyntaxError(r, data, err)
		return nil
	}
	for {
		// A trailing "---" with nothing after it is not a second document.
		var extra yaml.Node
		err := dec.Decode(&extra)
		if err == io.EOF {
			break
		}
		if err != nil {
			yamlSyntaxError(r, data, err)
			return nil
		}
		if len(extra.Content) > 0 && extra.Content[0].ShortTag() != "!!null" {
			r.at(pos{extra.Line, extra.Column}, "", "file holds more than one YAML document; keep one")
			return nil
		}
	}
	c := yamlConverter{r: r, expanding: make(map[*yaml.Node]bool)}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			r.at(pos{}, "", "file is empty")
			return nil
		}
		root = root.Content[0]
	}
	return c.convert(root, "")
}

// yamlConverter turns yaml.Nodes into nodes.
type yamlConverter struct {
	r         reporter
	aliased   int                 // nodes produced by expanding aliases
	expanding map[*yaml.Node]bool // anchors being expanded, to catch cycles
	tooLarge  bool
	outer     *yaml.Node // the outermost alias being expanded
	outerPath string
	depth     int  // lists and mappings holding the node being converted
	tooDeep   bool // a problem said the file nests too deep
}

func (c *yamlConverter) convert(y *yaml.Node, path string) *node {
	p := pos{y.Line, y.Column}
	if y.Kind == yaml.SequenceNode || y.Kind == yaml.MappingNode {
		if c.depth >= maxDepth {
			if !c.tooDeep {
				c.r.at(p, path, "lists and mappings nest deeper than %d levels here", maxDepth)
				c.tooDeep = true
			}
			return &node{kind: kindNull, pos: p}
		}
		c.depth++
		defer func() { c.depth-- }()
	}
	if y.Anchor != "" && !c.expanding[y] {
		c.expanding[y] = true
		defer delete(c.expanding, y)
	}
	if (y.Kind == yaml.SequenceNode && y.ShortTag() != "!!seq") || (y.Kind == yaml.MappingNode && y.ShortTag() != "!!map") {
		c.r.at(p, path, "unsupported YAML tag %s", y.Tag)
	}
	switch y.Kind {
	case yaml.AliasNode:
		return c.alias(y, path)
	case yaml.SequenceNode:
		n := &node{kind: kindList, pos: p}
		for i, it := range y.Content {
			n.items = append(n.items, c.convert(it, indexPath(path, i)))
		}
		return n
	case yaml.MappingNode:
		return c.mapping(y, path)
	case yaml.ScalarNode:
		return c.scalar(y, path)
	}
	c.r.at(p, path, "unsupported YAML node")
	return &node{kind: kindNull, pos: p}
}

func (c *yamlConverter) alias(y *yaml.Node, path string) *node {
	p := pos{y.Line, y.Column}
	if c.expanding[y.Alias] {
		c.r.at(p, path, "alias *%s refers to itself", y.Value)
		return &node{kind: kindNull, pos: p}
	}
	if c.outer == nil {
		// Problems are reported at the alias written outside any anchor,
		// not deep inside the expansion.
		c.outer, c.outerPath = y, path
		defer func() { c.outer = nil }()
	}
	c.aliased += countYAML(y.Alias, maxAliasNodes+1-c.aliased)
	if c.aliased > maxAliasNodes {
		if !c.tooLarge {
			c.r.at(pos{c.outer.Line, c.outer.Column}, c.outerPath, "aliases expand to more than %d values", maxAliasNodes)
			c.tooLarge = true
		}
		return &node{kind: kindNull, pos: p}
	}
	return c.convert(y.Alias, path)
}

// countYAML counts the nodes under y, stopping once it passes limit.
func countYAML(y *yaml.Node, limit int) int {
	n := 1
	for _, ch := range y.Content {
		if n > limit {
			break
		}
		n += countYAML(ch, limit-n)
	}
	return n
}

func (c *yamlConverter) mapping(y *yaml.Node, path string) *node {
	n := &node{kind: kindObject, pos: pos{y.Line, y.Column}}
	seen := make(map[string]pos)
	var merged []field
	for i := 0; i+1 < len(y.Content); i += 2 {
		k, v := y.Content[i], y.Content[i+1]
		kp := pos{k.Line, k.Column}
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, c.merge(v, path)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			c.r.at(kp, path, "keys must be strings; a list or object cannot be a key")
			continue
		}
		key := k.Value
		val := c.convert(v, jsonPath(path, key))
		if first, dup := seen[key]; dup {
			c.r.at(kp, jsonPath(path, key), "duplicate key %q (first at line %d, column %d)", key, first.line, first.col)
			continue
		}
		seen[key] = kp
		n.fields = append(n.fields, field{key: key, keyPos: kp, val: val})
	}
	// Merged keys (<<: *base) never override the mapping's own keys, and an
	// earlier source in a merge list wins over a later one (YAML merge spec).
	for _, f := range merged {
		if _, ok := seen[f.key]; !ok {
			seen[f.key] = f.keyPos
			n.fields = append(n.fields, f)
		}
	}
	return n
}

// merge returns the fields a merge key (<<) brings in: those of a mapping,
// or of each mapping of a list.
func (c *yamlConverter) merge(v *yaml.Node, path string) []field {
	src := c.convert(v, path)
	var fields []field
	switch src.kind {
	case kindObject:
		fields = src.fields
	case kindList:
		for _, it := range src.items {
			if it.kind != kindObject {
				c.r.at(it.pos, path, "a merge (<<) list must hold only mappings")
				continue
			}
			fields = append(fields, it.fields...)
		}
	default:
		c.r.at(src.pos, path, "a merge (<<) needs a mapping or a list of mappings")
	}
	return fields
}

func (c *yamlConverter) scalar(y *yaml.Node, path string) *node {
	n := &node{pos: pos{y.Line, y.Column}}
	switch tag := y.ShortTag(); tag {
	case "!!null":
		n.kind = kindNull
	case "!!bool":
		n.kind = kindBool
		if err := y.Decode(&n.b); err != nil {
			c.r.at(n.pos, path, "%v", err)
		}
	case "!!int", "!!float":
		n.kind, n.str, n.isInt = kindNumber, y.Value, tag == "!!int"
		if err := y.Decode(&n.num); err != nil {
			c.r.at(n.pos, path, "%s is not a number JSON can hold", y.Value)
		} else if math.IsInf(n.num, 0) || math.IsNaN(n.num) {
			c.r.at(n.pos, path, "%s is not a number JSON can hold", y.Value)
		}
	case "!!str", "!!timestamp", "!!binary":
		// Timestamps and base64 stay the text they were written as: the
		// JSON data model has no other type for them.
		n.kind, n.str = kindString, y.Value
	default:
		n.kind, n.str = kindString, y.Value
		c.r.at(n.pos, path, "unsupported YAML tag %s", y.Tag)
	}
	return n
}

var yamlLinePrefix = regexp.MustCompile(`^yaml: (line \d+: )?`)

// yamlSyntaxError reports a YAML syntax error. go.yaml.in/yaml/v3 gives
// only a line, and for some errors the line where the enclosing block
// starts, counted from 0. The position reported here is found instead as
// the shortest prefix of the file that fails with the same message: the
// parser reads in order and stops at the first error, so that prefix ends
// at the character where the error is.
func yamlSyntaxError(r reporter, data []byte, err error) {
	msg := yamlMessage(err)
	fails := func(n int) bool { return yamlMessage(yamlFirstError(data[:n])) == msg }
	lo, hi := 0, len(data) // fails(hi) holds; find the smallest such hi
	for lo < hi {
		mid := runeStart(data, lo+(hi-lo)/2)
		if mid >= hi {
			mid = lo
		}
		if fails(mid) {
			hi = mid
		} else {
			lo = runeStart(data, mid+1)
		}
	}
	at := 0
	if hi > 0 {
		_, size := utf8.DecodeLastRune(data[:hi])
		at = hi - size
	}
	if strings.HasPrefix(msg, "unknown anchor") {
		// The prefix ends with the alias's last letter; point at its *.
		at = max(bytes.LastIndexByte(data[:hi], '*'), 0)
	}
	p := newLineIndex(data).pos(at)
	r.at(p, "", "invalid YAML: %s", msg)
}

// yamlMessage strips the "yaml: line N: " prefix from a parser error.
func yamlMessage(err error) string {
	if err == nil {
		return ""
	}
	return yamlLinePrefix.ReplaceAllString(err.Error(), "")
}

// yamlFirstError returns the first error parsing every document of data.
func yamlFirstError(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// runeStart moves i forward to the start of a character, so a prefix never
// ends inside one.
func runeStart(data []byte, i int) int {
	for i < len(data) && !utf8.RuneStart(data[i]) {
		i++
	}
	return i
}
