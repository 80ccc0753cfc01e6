package configrepo

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// kind is the JSON type of a node.
type kind int

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindList
	kindObject
)

// node is a parsed value with the position it starts at, in the JSON data
// model whichever format it came from. Validation works on nodes so every
// problem can name its line and column.
type node struct {
	kind   kind
	pos    pos
	str    string  // a string's value; a number's literal as written
	num    float64 // a number's value
	isInt  bool    // a number written as an integer (JSON) or resolved as !!int (YAML)
	b      bool
	items  []*node // a list's items
	fields []field // an object's members, in file order
}

// field is one member of an object.
type field struct {
	key    string
	keyPos pos
	val    *node
}

// get returns the value of key in an object, or nil.
func (n *node) get(key string) *node {
	if n == nil || n.kind != kindObject {
		return nil
	}
	for _, f := range n.fields {
		if f.key == key {
			return f.val
		}
	}
	return nil
}

// value returns n in the JSON data model: map[string]any, []any, string,
// float64, bool or nil.
func (n *node) value() any {
	if n == nil {
		return nil
	}
	switch n.kind {
	case kindBool:
		return n.b
	case kindNumber:
		return n.num
	case kindString:
		return n.str
	case kindList:
		l := make([]any, len(n.items))
		for i, it := range n.items {
			l[i] = it.value()
		}
		return l
	case kindObject:
		m := make(map[string]any, len(n.fields))
		for _, f := range n.fields {
			m[f.key] = f.val.value()
		}
		return m
	}
	return nil
}

// describe renders n for a message: "got -3", "got \"4326\"", "got a list".
// A long string is quoted by its start and its length.
func (n *node) describe() string {
	switch n.kind {
	case kindNull:
		return "null"
	case kindBool:
		return strconv.FormatBool(n.b)
	case kindNumber:
		return n.str
	case kindString:
		return quote(n.str)
	case kindList:
		return "a list"
	default:
		return "an object"
	}
}

// lineIndex turns byte offsets of a file into lines and columns.
type lineIndex struct {
	data   []byte
	starts []int // offset of the first byte of each line
}

func newLineIndex(data []byte) lineIndex {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return lineIndex{data: data, starts: starts}
}

// pos returns the line and column of the byte at off. Columns count
// characters, as editors and the YAML parser do.
func (x lineIndex) pos(off int) pos {
	off = min(max(off, 0), len(x.data))
	line := sort.Search(len(x.starts), func(i int) bool { return x.starts[i] > off }) - 1
	start := x.starts[line]
	return pos{line: line + 1, col: utf8.RuneCount(x.data[start:off]) + 1}
}

// endPos is where a file ends, just after its last character that is not
// white space: the place to point at for "unexpected end of file".
func (x lineIndex) endPos() pos {
	end := len(bytes.TrimRight(x.data, " \t\r\n"))
	return x.pos(end)
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// parseJSON parses a JSON file with encoding/json. A syntax error is
// reported with its position; duplicate keys and numbers out of range are
// reported too. It returns nil when the file could not be parsed.
func parseJSON(r reporter, data []byte) *node {
	// A byte order mark is allowed (RFC 8259 §8.1) and is not a character
	// an editor shows, so positions are counted after it.
	data = bytes.TrimPrefix(data, utf8BOM)
	lines := newLineIndex(data)
	if len(bytes.TrimSpace(data)) == 0 {
		r.at(pos{}, "", "file is empty")
		return nil
	}
	// encoding/json would quietly replace invalid UTF-8 in strings, but the
	// server reads these bytes as they are.
	if bad := firstInvalidUTF8(data); bad >= 0 {
		r.at(lines.pos(bad), "", "invalid JSON: the file is not valid UTF-8")
		return nil
	}
	// Unmarshal checks the whole input before decoding and reports the
	// offset just after the offending byte.
	var raw json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		var se *json.SyntaxError
		if !errors.As(err, &se) {
			r.at(pos{}, "", "invalid JSON: %v", err)
			return nil
		}
		if strings.HasPrefix(se.Error(), "unexpected end of JSON input") {
			r.at(lines.endPos(), "", "invalid JSON: unexpected end of file")
		} else {
			r.at(lines.pos(int(se.Offset)-1), "", "invalid JSON: %v", se)
		}
		return nil
	}
	w := jsonWalker{dec: json.NewDecoder(bytes.NewReader(data)), data: data, lines: lines, r: r, p: pos{1, 1}}
	w.dec.UseNumber()
	root, err := w.value("", 0)
	if err != nil { // cannot happen after Unmarshal accepted the input
		r.at(pos{}, "", "invalid JSON: %v", err)
		return nil
	}
	return root
}

// jsonWalker builds a tree of nodes from encoding/json's tokens, taking
// each token's position from the decoder's input offset.
type jsonWalker struct {
	dec   *json.Decoder
	data  []byte
	lines lineIndex
	r     reporter
	// off and p are the last offset a position was asked for, and that
	// position.
	off     int
	p       pos
	tooDeep bool // a problem said the file nests too deep
}

// at returns the position of the byte at off. Tokens come in file order,
// so it counts the characters from the last position asked for, not from
// the line's start: on a minified file, all on one line, that would take
// the square of its length.
func (w *jsonWalker) at(off int) pos {
	if off < w.off {
		return w.lines.pos(off)
	}
	seg := w.data[w.off:off]
	if i := bytes.LastIndexByte(seg, '\n'); i >= 0 {
		w.p.line += bytes.Count(seg, []byte{'\n'})
		w.p.col = 1 + utf8.RuneCount(seg[i+1:])
	} else {
		w.p.col += utf8.RuneCount(seg)
	}
	w.off = off
	return w.p
}

// next returns the next token and the position it starts at.
func (w *jsonWalker) next() (json.Token, pos, error) {
	// InputOffset is the end of the previous token; the separators and
	// white space between it and the next token are skipped here.
	off := int(w.dec.InputOffset())
	for off < len(w.data) && strings.IndexByte(" \t\r\n,:", w.data[off]) >= 0 {
		off++
	}
	tok, err := w.dec.Token()
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return tok, w.at(off), err
}

// value reads the value that starts at the next token; depth is how many
// lists and objects hold it.
func (w *jsonWalker) value(path string, depth int) (*node, error) {
	tok, p, err := w.next()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return &node{kind: kindNull, pos: p}, nil
	case bool:
		return &node{kind: kindBool, pos: p, b: t}, nil
	case string:
		return &node{kind: kindString, pos: p, str: t}, nil
	case json.Number:
		n := &node{kind: kindNumber, pos: p, str: t.String(), isInt: !strings.ContainsAny(t.String(), ".eE")}
		if n.num, err = t.Float64(); err != nil {
			w.r.at(p, path, "number %s is out of range", t)
		}
		return n, nil
	case json.Delim:
		if depth >= maxDepth {
			if !w.tooDeep {
				w.r.at(p, path, "lists and objects nest deeper than %d levels here", maxDepth)
				w.tooDeep = true
			}
			return &node{kind: kindNull, pos: p}, w.skip()
		}
		if t == '[' {
			return w.list(p, path, depth+1)
		}
		return w.object(p, path, depth+1)
	}
	return nil, errors.New("unexpected token")
}

// skip reads past the end of the list or object whose opening token was
// just read.
func (w *jsonWalker) skip() error {
	for open := 1; open > 0; {
		tok, err := w.dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			open++
		case json.Delim(']'), json.Delim('}'):
			open--
		}
	}
	return nil
}

func (w *jsonWalker) list(p pos, path string, depth int) (*node, error) {
	n := &node{kind: kindList, pos: p}
	for w.dec.More() {
		it, err := w.value(indexPath(path, len(n.items)), depth)
		if err != nil {
			return nil, err
		}
		n.items = append(n.items, it)
	}
	_, _, err := w.next() // ]
	return n, err
}

func (w *jsonWalker) object(p pos, path string, depth int) (*node, error) {
	n := &node{kind: kindObject, pos: p}
	seen := make(map[string]pos)
	for w.dec.More() {
		tok, kp, err := w.next()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		val, err := w.value(jsonPath(path, key), depth)
		if err != nil {
			return nil, err
		}
		if first, dup := seen[key]; dup {
			w.r.at(kp, jsonPath(path, key), "duplicate key %q (first at line %d, column %d)", key, first.line, first.col)
			continue
		}
		seen[key] = kp
		n.fields = append(n.fields, field{key: key, keyPos: kp, val: val})
	}
	_, _, err := w.next() // }
	return n, err
}

// firstInvalidUTF8 returns the offset of the first byte that is not valid
// UTF-8, or -1.
func firstInvalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}
