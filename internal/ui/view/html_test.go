package view_test

import (
	"html/template"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// The elements and attributes the package may render: anything else in its
// output (a script, an img, an event handler, a link, a style) came from
// its input unescaped.
var (
	allowedElements = []string{"section", "h2", "h3", "p", "span", "code", "ul", "ol", "li", "div", "time",
		"svg", "title", "desc", "text", "g", "line", "rect"}
	allowedAttrs = []string{"id", "class", "title", "role", "aria-labelledby", "datetime", "viewBox", "xmlns",
		"x", "y", "x1", "x2", "y1", "y2", "dx", "dy", "width", "height", "transform", "text-anchor"}
)

// parse parses a rendered fragment as a browser would inside <body>.
func parse(t testing.TB, h template.HTML) []*html.Node {
	t.Helper()
	nodes, err := html.ParseFragment(strings.NewReader(string(h)), &html.Node{Type: html.ElementNode, Data: "body", DataAtom: atom.Body})
	if err != nil {
		t.Fatalf("parse the output: %v\n%s", err, h)
	}
	return nodes
}

// safetyProblem returns what in the output is outside the allowlists, or "".
func safetyProblem(h template.HTML, nodes []*html.Node) string {
	if regexp.MustCompile(`(?i)<\s*script`).MatchString(string(h)) {
		return "an unescaped <script"
	}
	var bad string
	walk(nodes, func(n *html.Node) {
		if bad != "" || n.Type != html.ElementNode {
			return
		}
		if !slices.Contains(allowedElements, n.Data) {
			bad = "element <" + n.Data + ">"
			return
		}
		for _, a := range n.Attr {
			if a.Namespace != "" || (!slices.Contains(allowedAttrs, a.Key) && !strings.HasPrefix(a.Key, "data-")) {
				bad = "attribute " + a.Key + " on <" + n.Data + ">"
				return
			}
		}
	})
	return bad
}

// checkSafe fails the test when the output holds anything outside the
// allowlists.
func checkSafe(t testing.TB, h template.HTML) []*html.Node {
	t.Helper()
	nodes := parse(t, h)
	if p := safetyProblem(h, nodes); p != "" {
		t.Fatalf("output holds %s:\n%s", p, h)
	}
	return nodes
}

func walk(nodes []*html.Node, f func(*html.Node)) {
	for _, n := range nodes {
		f(n)
		var kids []*html.Node
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			kids = append(kids, c)
		}
		walk(kids, f)
	}
}

// find returns the elements matching a small selector: parts such as
// "tag", ".class", "#id", "[attr=value]" or a tag followed by such parts
// ("li.change.breaking[data-path=layers/x]"), separated by spaces for
// descendants ("ul.geo-summary li").
func find(nodes []*html.Node, sel string) []*html.Node {
	cur := nodes
	for i, part := range strings.Fields(sel) {
		var next []*html.Node
		for _, root := range cur {
			walk(in(root), func(n *html.Node) {
				if n.Type == html.ElementNode && (i == 0 || n != root) && matches(n, part) && !slices.Contains(next, n) {
					next = append(next, n)
				}
			})
		}
		cur = next
	}
	return cur
}

var selPart = regexp.MustCompile(`^([a-z0-9-]*)((?:[.#][A-Za-z0-9_-]+|\[[a-z-]+=[^\]]*\])*)$`)
var selSub = regexp.MustCompile(`[.#][A-Za-z0-9_-]+|\[[a-z-]+=[^\]]*\]`)

func matches(n *html.Node, sel string) bool {
	m := selPart.FindStringSubmatch(sel)
	if m == nil {
		panic("bad selector " + sel)
	}
	if m[1] != "" && n.Data != m[1] {
		return false
	}
	for _, p := range selSub.FindAllString(m[2], -1) {
		switch p[0] {
		case '.':
			if !hasClass(n, p[1:]) {
				return false
			}
		case '#':
			if attr(n, "id") != p[1:] {
				return false
			}
		case '[':
			k, v, _ := strings.Cut(p[1:len(p)-1], "=")
			if attr(n, k) != v {
				return false
			}
		}
	}
	return true
}

// one returns the only element matching sel under nodes.
func one(t testing.TB, nodes []*html.Node, sel string) *html.Node {
	t.Helper()
	got := find(nodes, sel)
	if len(got) != 1 {
		t.Fatalf("%d elements match %q; want 1\n%s", len(got), sel, render(nodes))
	}
	return got[0]
}

func in(n *html.Node) []*html.Node { return []*html.Node{n} }

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, c string) bool {
	return slices.Contains(strings.Fields(attr(n, "class")), c)
}

// text is the element's text, with runs of white space made one space.
func text(n *html.Node) string {
	var b strings.Builder
	walk(in(n), func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return strings.Join(strings.Fields(b.String()), " ")
}

func texts(ns []*html.Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = text(n)
	}
	return out
}

func render(nodes []*html.Node) string {
	var b strings.Builder
	for _, n := range nodes {
		_ = html.Render(&b, n)
	}
	return b.String()
}

// withAttr returns the elements under nodes whose attribute key is val
// (for values a selector cannot hold).
func withAttr(nodes []*html.Node, key, val string) []*html.Node {
	var out []*html.Node
	walk(nodes, func(n *html.Node) {
		if n.Type == html.ElementNode && attr(n, key) == val {
			out = append(out, n)
		}
	})
	return out
}
