package view

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/dustin/go-humanize"

	"github.com/honua-io/honua-gitops/api"
)

// riskNames are the risks a badge or a class may name, lowest first.
var riskNames = []string{"none", "low", "medium", "high", "critical"}

// riskName returns risk when it names a risk, and "none" otherwise, so
// that it can be used in a class name.
func riskName(risk string) string {
	for _, n := range riskNames {
		if n == risk {
			return n
		}
	}
	return "none"
}

// riskOf names an api.Risk; "none" when it is out of range.
func riskOf(r api.Risk) string { return riskName(r.String()) }

// Risk renders a risk badge, <span class="risk risk-high">high</span>; an
// empty or unknown risk is "none".
func Risk(risk string) template.HTML {
	return render(tmpl, "risk", riskName(risk))
}

// Duration renders d in a short human form: "850ms", "4.2s", "12s",
// "3m04s", "2h05m", "3d04h". Below ten seconds it keeps a tenth of a
// second; above, it cuts (never rounds up) to the two largest units. A
// negative duration is rendered with a leading "-".
func Duration(d time.Duration) string {
	if d < 0 {
		if d == time.Duration(-1<<63) {
			d++ // -d would overflow
		}
		return "-" + Duration(-d)
	}
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 10*time.Second:
		return strconv.FormatFloat(float64(d.Milliseconds()/100)/10, 'f', -1, 64) + "s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int64(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int64(d/time.Minute), int64(d%time.Minute/time.Second))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int64(d/time.Hour), int64(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%02dh", int64(d/(24*time.Hour)), int64(d%(24*time.Hour)/time.Hour))
}

// ShortCommit returns the first 12 characters of a commit id, or "-" when
// it is empty.
func ShortCommit(c string) string {
	if c == "" {
		return "-"
	}
	return cut(c, 12)
}

// cut returns the longest prefix of s of at most n bytes that ends at a
// character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// FormatValue renders a value of a plan's field diff as plain text: a
// string quoted, a number or bool as itself, an object or array as compact
// JSON, and nil as "(none)". When summarized is set and v holds an
// api.ValueSummary (see api.SummaryOf), it renders the summary: the
// value's size, the start of its SHA-256 and the start of its JSON.
func FormatValue(v any, summarized bool) string {
	if v == nil {
		return "(none)"
	}
	if s, ok := api.SummaryOf(v); summarized && ok {
		return fmt.Sprintf("(%s value, sha256 %s…, starts %s…)",
			humanize.IBytes(uint64(max(s.Bytes, 0))), cut(s.SHA256, 12), s.Prefix)
	}
	return compactJSON(v)
}

// plainValue is FormatValue for a callout: a string unquoted.
func plainValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return FormatValue(v, false)
}

// compactJSON is v as compact JSON, without the escaping of <, > and & that
// json.Marshal adds (the template escapes for HTML); fmt's form when v does
// not encode.
func compactJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// render executes the template name of t with data; on failure (a bug) it
// returns the escaped error, so that the page still shows its other parts.
func render(t *template.Template, name string, data any) template.HTML {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		return template.HTML(`<p class="render-error" role="alert">could not render ` +
			template.HTMLEscapeString(name) + ": " + template.HTMLEscapeString(err.Error()) + "</p>")
	}
	return template.HTML(b.String())
}
