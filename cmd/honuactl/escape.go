package main

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Text from the server (comments, reasons, commit subjects, transition
// messages, errors, ids and names) may hold characters a terminal acts on:
// an escape sequence that clears the screen or sets the window title, a
// carriage return or backspace that overwrites what was printed, a bidi
// override that reverses a line. Table and text output print such text
// only through fprintf, cellf and table, which write these characters as
// visible escapes (\x1b, \r, \u009b, \u202e); honuactl's own colors are
// safe values, written as they are. JSON output keeps the text exactly.

// safe is text honuactl made itself, any server text in it already
// escaped (a state's name in color): it is written as it is.
type safe string

// escapeText escapes s for a line of text: newlines and tabs are kept, so
// a message of several lines (a command's output) stays readable.
func escapeText(s string) string { return escape(s, true) }

// escapeCell escapes s for a table cell: newlines and tabs are escaped
// too, so a cell stays on its row and in its column.
func escapeCell(s string) string { return escape(s, false) }

// escape writes the C0 and C1 control characters, DEL, bidi overrides and
// bytes that are not UTF-8 of s as Go escapes; with layout it keeps
// newlines and tabs. Backslashes are left as they are: paths and patterns
// read as sent.
func escape(s string, layout bool) string {
	var b strings.Builder
	done := 0 // s[:done] is in b
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var e string
		switch {
		case r == utf8.RuneError && size == 1:
			e = fmt.Sprintf(`\x%02x`, s[i])
		case layout && (r == '\n' || r == '\t'):
		case r == '\n':
			e = `\n`
		case r == '\t':
			e = `\t`
		case r == '\r':
			e = `\r`
		case r < 0x20 || r == 0x7f:
			e = fmt.Sprintf(`\x%02x`, r)
		case actsOn(r):
			e = fmt.Sprintf(`\u%04x`, r)
		}
		if e != "" {
			b.WriteString(s[done:i])
			b.WriteString(e)
			done = i + size
		}
		i += size
	}
	if done == 0 {
		return s // nothing escaped
	}
	b.WriteString(s[done:])
	return b.String()
}

// actsOn reports whether a terminal acts on r, a character above ASCII: the
// C1 controls (U+009B is CSI, U+009D OSC) and the bidi embeddings,
// overrides and isolates, which reorder the rest of a line.
func actsOn(r rune) bool {
	return r >= 0x80 && r <= 0x9f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// escapeArgs escapes the text among args: strings (and types made of
// one), errors and fmt.Stringers; safe values and numbers stay.
func escapeArgs(esc func(string) string, args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case safe:
			out[i] = string(v)
		case string:
			out[i] = esc(v)
		case error:
			out[i] = esc(v.Error())
		case fmt.Stringer:
			out[i] = esc(v.String())
		default:
			if rv := reflect.ValueOf(a); rv.Kind() == reflect.String {
				out[i] = esc(rv.String())
			} else {
				out[i] = a
			}
		}
	}
	return out
}

// fprintf is fmt.Fprintf for text a person reads: the format is
// honuactl's, its text arguments are escaped (escapeText).
func fprintf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, format, escapeArgs(escapeText, args)...)
}

// cellf formats a table cell from parts: the text arguments are escaped
// (escapeCell), safe ones (colored states) kept.
func cellf(format string, args ...any) safe {
	return safe(fmt.Sprintf(format, escapeArgs(escapeCell, args)...))
}

// escapeJSON writes JSON's \u escape for each C1 control, DEL and bidi
// override in the encoded document b: they can only occur inside strings,
// whose decoded value stays the same. (encoding/json escapes the C0
// controls itself.)
func escapeJSON(b []byte) []byte {
	var out bytes.Buffer
	done := 0 // b[:done] is in out
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == 0x7f || actsOn(r) {
			out.Write(b[done:i])
			fmt.Fprintf(&out, `\u%04x`, r)
			done = i + size
		}
		i += size
	}
	if done == 0 {
		return b // nothing escaped
	}
	out.Write(b[done:])
	return out.Bytes()
}
