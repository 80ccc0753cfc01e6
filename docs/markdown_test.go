package docs

import (
	"regexp"
	"strings"
	"testing"
)

// sections splits a page at its "## " headings: heading text → body.
func sections(text string) map[string]string {
	out := map[string]string{}
	var name string
	var body strings.Builder
	inCode := false
	flush := func() {
		if name != "" {
			out[name] = body.String()
		}
		body.Reset()
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if !inCode && strings.HasPrefix(line, "## ") {
			flush()
			name = strings.TrimSpace(strings.TrimPrefix(line, "## "))
			continue
		}
		body.WriteString(line)
		body.WriteString("\n")
	}
	flush()
	return out
}

// table returns the rows of the first table under the "## section" heading
// of a page whose header has the column want, each as column → cell with
// backticks and quotes removed and "—" turned into "".
func table(t *testing.T, name, section, want string) []map[string]string {
	t.Helper()
	body, ok := sections(page(t, name))[section]
	if !ok {
		t.Fatalf("docs/%s has no section %q", name, section)
	}
	var header []string
	var rows []map[string]string
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if header != nil && rows != nil {
				break
			}
			header = nil
			continue
		}
		cells := splitRow(line)
		switch {
		case header == nil:
			header = make([]string, len(cells))
			for i, c := range cells {
				header[i] = strings.ToLower(c)
			}
		case strings.Trim(strings.Join(cells, ""), "-: ") == "":
			// the separator row
		default:
			row := map[string]string{}
			for i, c := range cells {
				if i < len(header) {
					row[header[i]] = plain(c)
				}
			}
			rows = append(rows, row)
		}
		if header != nil && !containsString(header, want) {
			header = nil
		}
	}
	if len(rows) == 0 {
		t.Fatalf("docs/%s, section %q: no table with a %q column", name, section, want)
	}
	return rows
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// splitRow splits a table row into its cells; a "|" inside backticks does
// not split.
func splitRow(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var cells []string
	var cur strings.Builder
	inCode := false
	for _, r := range line {
		switch {
		case r == '`':
			inCode = !inCode
			cur.WriteRune(r)
		case r == '|' && !inCode:
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

// plain is a cell's text without code marks and quotes; "—" is empty.
func plain(cell string) string {
	s := strings.TrimSpace(strings.NewReplacer("`", "", `"`, "").Replace(cell))
	if s == "—" || s == "-" {
		return ""
	}
	return s
}

// codeBlocks returns the contents of a page's fenced code blocks.
func codeBlocks(text string) []string {
	var out []string
	var cur strings.Builder
	in := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			if in {
				out = append(out, cur.String())
				cur.Reset()
			}
			in = !in
			continue
		}
		if in {
			cur.WriteString(line)
			cur.WriteString("\n")
		}
	}
	return out
}

// proseOf returns a page without its code blocks.
func proseOf(text string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			in = !in
			continue
		}
		if !in {
			b.WriteString(line)
			b.WriteString("\n")
		}
	}
	return b.String()
}

var (
	inlineCode = regexp.MustCompile("`([^`]+)`")
	linkRE     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
)

// links returns the targets of a page's Markdown links, outside code.
func links(text string) []string {
	var out []string
	for _, m := range linkRE.FindAllStringSubmatch(proseOf(text), -1) {
		out = append(out, m[1])
	}
	return out
}

// anchors returns the anchors GitHub gives a page's headings.
func anchors(text string) []string {
	var out []string
	for _, line := range strings.Split(proseOf(text), "\n") {
		if strings.HasPrefix(line, "#") {
			out = append(out, slug(strings.TrimLeft(line, "# ")))
		}
	}
	return out
}

// slug is GitHub's anchor of a heading: lowercase, punctuation dropped,
// spaces turned into dashes.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		case r > 127 && r != '—' && r != '→' && r != '–':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// commandLines returns every honuad and honuactl invocation of a page: the
// lines of its code blocks (continuations joined, each part of a pipeline
// or list separately) and its inline code that starts with one.
func commandLines(text string) []string {
	var out []string
	add := func(s string) {
		for _, part := range regexp.MustCompile(`&&|\|\||;|\||\$\(`).Split(s, -1) {
			fields := strings.Fields(part)
			for i, f := range fields {
				if isBinary(f) {
					out = append(out, strings.Join(fields[i:], " "))
					break
				}
			}
		}
	}
	for _, block := range codeBlocks(text) {
		joined := strings.ReplaceAll(block, "\\\n", " ")
		for _, line := range strings.Split(joined, "\n") {
			if i := strings.Index(line, " #"); i >= 0 {
				line = line[:i]
			}
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			add(line)
		}
	}
	for _, m := range inlineCode.FindAllStringSubmatch(proseOf(text), -1) {
		if f := strings.Fields(m[1]); len(f) > 0 && isBinary(f[0]) {
			add(m[1])
		}
	}
	return out
}

// isBinary reports whether a word runs honuad or honuactl: the bare name,
// or a path to it (bin/honuactl, /usr/local/bin/honuad), not a name that
// merely ends the same (svc/honuad).
func isBinary(word string) bool {
	i := strings.LastIndexByte(word, '/')
	dir, base := word[:max(i, 0)], word[i+1:]
	if base != "honuad" && base != "honuactl" {
		return false
	}
	return i < 0 || dir == "." || dir == "bin" || dir == "./bin" || strings.HasPrefix(dir, "/")
}

// kubernetesNames returns the Kubernetes object names getting-started.md
// gives: the StatefulSet, the Service and every Secret it creates.
func kubernetesNames(text string) []string {
	var out []string
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`StatefulSet ` + "`" + `([a-z0-9-]+)` + "`"),
		regexp.MustCompile(`Service ` + "`" + `([a-z0-9-]+)` + "`"),
		regexp.MustCompile(`create secret generic ([a-z0-9-]+)`),
	} {
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			if !containsString(out, m[1]) {
				out = append(out, m[1])
			}
		}
	}
	return out
}
