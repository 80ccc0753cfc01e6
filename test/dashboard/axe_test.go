package dashboard

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// axeSource is testdata/axe.min.js, read once and checked against the
// sha256 its README records.
var axeSource = sync.OnceValues(func() (string, error) {
	src, err := os.ReadFile("testdata/axe.min.js")
	if err != nil {
		return "", err
	}
	readme, err := os.ReadFile("testdata/README.md")
	if err != nil {
		return "", err
	}
	m := axeSumRE.FindSubmatch(readme)
	if m == nil {
		return "", fmt.Errorf("testdata/README.md records no sha256 of axe.min.js")
	}
	sum := sha256.Sum256(src)
	if got := hex.EncodeToString(sum[:]); got != string(m[1]) {
		return "", fmt.Errorf("testdata/axe.min.js has sha256 %s; its README records %s", got, m[1])
	}
	return string(src), nil
})

var axeSumRE = regexp.MustCompile("sha256 of axe.min.js \\| `([0-9a-f]{64})`")

// axeViolation is one rule that axe found violated, with the elements.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axe injects axe-core into the page, runs it, logs every violation and
// fails t for those of impact serious or critical.
func (p *page) axe(t *testing.T, name string) {
	t.Helper()
	src, err := axeSource()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.try(waitTimeout, chromedp.Evaluate[chromedp.Void](src)); err != nil {
		t.Fatalf("%s: inject axe-core into the %s page: %v", p.name, name, err)
	}
	vs := evalAsync[[]axeViolation](t, p, `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({
		id: v.id, impact: v.impact ?? "", help: v.help,
		nodes: v.nodes.map(n => n.target.join(" ") + ": " + (n.failureSummary ?? "").replace(/\s+/g, " "))})))`)
	for _, v := range vs {
		msg := fmt.Sprintf("axe on the %s page: %s (%s): %s\n\t%s", name, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n\t"))
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
	t.Logf("axe on the %s page: %d violations", name, len(vs))
}

// tabTo presses Tab from the top of the page until the element matching
// the CSS selector has the focus, and fails t if it never does.
func (p *page) tabTo(t *testing.T, sel string) {
	t.Helper()
	eval[bool](t, p, `(document.activeElement?.blur(), window.scrollTo(0, 0), true)`)
	const maxTabs = 80
	var path []string
	for range maxTabs {
		p.run(t, "press Tab", chromedp.KeyEvent(kb.Tab))
		focused := eval[string](t, p, `(() => {
			const e = document.activeElement;
			if (!e || e === document.body) return "body";
			const label = (e.labels?.[0]?.textContent ?? e.getAttribute("aria-label") ?? e.textContent ?? "").replace(/\s+/g, " ").trim().slice(0, 40);
			return e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (label ? " \"" + label + "\"" : "");
		})()`)
		path = append(path, focused)
		if eval[bool](t, p, fmt.Sprintf(`document.activeElement?.matches(%q) ?? false`, sel)) {
			t.Logf("Tab reached %s after %d presses: %s", sel, len(path), strings.Join(path, " → "))
			return
		}
	}
	t.Errorf("%d presses of Tab from the top never reached %s; the focus went %s", maxTabs, sel, strings.Join(path, " → "))
}
