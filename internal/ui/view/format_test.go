package view_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/ui/view"
)

func TestDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0ms"},
		{999 * time.Microsecond, "0ms"},
		{850 * time.Millisecond, "850ms"},
		{time.Second, "1s"},
		{4250 * time.Millisecond, "4.2s"},
		{9999 * time.Millisecond, "9.9s"},
		{12*time.Second + 900*time.Millisecond, "12s"},
		{59 * time.Second, "59s"},
		{3*time.Minute + 4*time.Second, "3m04s"},
		{59*time.Minute + 59*time.Second, "59m59s"},
		{2*time.Hour + 5*time.Minute + 59*time.Second, "2h05m"},
		{23*time.Hour + 59*time.Minute, "23h59m"},
		{3*24*time.Hour + 4*time.Hour + 30*time.Minute, "3d04h"},
		{-12 * time.Second, "-12s"},
		{math.MaxInt64, "106751d23h"},
		{math.MinInt64, "-106751d23h"},
	}
	for _, tt := range tests {
		if got := view.Duration(tt.in); got != tt.want {
			t.Errorf("Duration(%v) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestRisk(t *testing.T) {
	tests := []struct{ in, want string }{
		{"none", "none"}, {"low", "low"}, {"medium", "medium"}, {"high", "high"}, {"critical", "critical"},
		{"", "none"}, {"HIGH", "none"}, {"extreme", "none"}, {"high risk-x", "none"},
	}
	for _, tt := range tests {
		nodes := checkSafe(t, view.Risk(tt.in))
		b := one(t, nodes, "span.risk")
		if got, cls := text(b), attr(b, "class"); got != tt.want || cls != "risk risk-"+tt.want {
			t.Errorf("Risk(%q) = %q with class %q; want %q with class %q", tt.in, got, cls, tt.want, "risk risk-"+tt.want)
		}
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		name       string
		in         any
		summarized bool
		want       string
	}{
		{"absent", nil, false, "(none)"},
		{"string", "a<b>&\"c\"", false, `"a<b>&\"c\""`},
		{"float", 4326.0, false, "4326"},
		{"fraction", 0.1, false, "0.1"},
		{"json number", json.Number("12345678901234567890"), false, "12345678901234567890"},
		{"bool", true, false, "true"},
		{"object", map[string]any{"b": 1.0, "a": []any{"x", nil}}, false, `{"a":["x",null],"b":1}`},
		{"summary", api.ValueSummary{Bytes: 2048, SHA256: "0123456789abcdef", Prefix: `{"a":`}, true,
			`(2.0 KiB value, sha256 0123456789ab…, starts {"a":…)`},
		{"decoded summary", map[string]any{"bytes": 2048.0, "sha256": "0123456789abcdef", "prefix": "x"}, true,
			`(2.0 KiB value, sha256 0123456789ab…, starts x…)`},
		{"summary flag on a plain value", "v", true, `"v"`},
		{"summary shape without the flag", map[string]any{"bytes": 1.0, "sha256": "s", "prefix": "p"}, false,
			`{"bytes":1,"prefix":"p","sha256":"s"}`},
	}
	for _, tt := range tests {
		if got := view.FormatValue(tt.in, tt.summarized); got != tt.want {
			t.Errorf("%s: FormatValue(%#v, %v) = %q; want %q", tt.name, tt.in, tt.summarized, got, tt.want)
		}
	}
}
