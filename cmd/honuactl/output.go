package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/honua-io/honua-gitops/api"
)

// printJSON writes v as indented JSON: the API's types, re-encoded, with
// the characters a terminal acts on as JSON escapes (escapeJSON).
func printJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(escapeJSON(b.Bytes()))
	return err
}

// table lays out rows in columns two spaces apart. Unlike text/tabwriter
// it measures cells without their color codes, so colored columns line up.
type table struct {
	rows [][]string
}

// row adds a row. A cell is a string, escaped (escapeCell) so that it
// stays on its row, or a safe value (a colored state, cellf's parts),
// kept; anything else is formatted with fmt.Sprint and escaped.
func (t *table) row(cells ...any) {
	r := make([]string, len(cells))
	for i, c := range cells {
		switch v := c.(type) {
		case safe:
			r[i] = string(v)
		case string:
			r[i] = escapeCell(v)
		default:
			r[i] = escapeCell(fmt.Sprint(v))
		}
	}
	t.rows = append(t.rows, r)
}

func (t *table) write(w io.Writer) error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], visibleWidth(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-visibleWidth(c)+2))
			}
		}
		// Cells may end empty: no trailing blanks.
		line := strings.TrimRight(b.String(), " ")
		b.Reset()
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// visibleWidth is the number of characters of s a terminal shows: ANSI
// color sequences take no room.
func visibleWidth(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j + 1
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	return n
}

// stateColors are the only colors honuactl uses: on state names.
var stateColors = map[api.DeploymentState]string{
	api.StateCompleted:        "32", // green
	api.StateFailed:           "31", // red
	api.StateRejected:         "31",
	api.StateRollingBack:      "33", // yellow
	api.StateRolledBack:       "33",
	api.StateAwaitingApproval: "36", // cyan
	api.StateScheduled:        "36",
	api.StateSuperseded:       "90", // grey
	api.StateCancelled:        "90",
}

// state is a state's name, escaped (it comes from the server) and colored
// when output goes to a terminal.
func (e *env) state(s api.DeploymentState) safe {
	name := escapeCell(string(s))
	code, ok := stateColors[s]
	if !e.color || !ok || s == "" {
		return safe(name)
	}
	return safe("\x1b[" + code + "m" + name + "\x1b[0m")
}

// shortSHA is a commit's first 12 characters.
func shortSHA(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	if c == "" {
		return "-"
	}
	return c
}

// ago says how long before now t was: "3m ago"; "-" for the zero time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + roughly(-d)
	}
	if d < time.Second {
		return "just now"
	}
	return roughly(d) + " ago"
}

// roughly is a duration in its largest unit: 45s, 3m, 5h, 2d.
func roughly(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// duration is a span to a useful precision: 850ms, 4.2s, 3m12s, 1h5m.
func duration(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}

// clock is an instant in local time to the second.
func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// orDash is s, or "-" when it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// percent formats a ratio from 0 to 1.
func percent(r float64) string {
	p := r * 100
	if p == math.Trunc(p) {
		return fmt.Sprintf("%.0f%%", p)
	}
	return fmt.Sprintf("%.1f%%", p)
}

// oneLine keeps the first line of a message, for table cells.
func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// approvals is "1/2", or the count alone when no number is required.
func approvals(n, required int) string {
	if required == 0 {
		if n == 0 {
			return "-"
		}
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%d/%d", n, required)
}
