package rpc

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http/httptest"
	"testing"
	"time"
)

// TestWriteJSONAsEncodingJSON: writeJSON, on the go-json-experiment engine,
// writes the bytes encoding/json's indented Encoder writes, for what the
// golden answers may not hold: HTML characters and U+2028, raw messages
// to re-indent, map order, large floats, zero and zoned times, nil and
// empty slices and maps, string-encoded numbers.
func TestWriteJSONAsEncodingJSON(t *testing.T) {
	type value struct {
		S  string          `json:"s"`
		F  float64         `json:"f"`
		M  map[string]int  `json:"m"`
		N  []int           `json:"n"`
		E  []int           `json:"e,omitempty"`
		Tm time.Time       `json:"tm"`
		Tz time.Time       `json:"tz,omitzero"`
		R  json.RawMessage `json:"r"`
		B  []byte          `json:"b"`
		P  *int            `json:"p"`
		I  any             `json:"i"`
		MM map[string]any  `json:"mm"`
		U  uint64          `json:"u,string"`
	}
	full := value{S: "<a&b>\u2028 é \x01", F: 1e21, M: map[string]int{"b": 1, "a": 2},
		Tm: time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600)), R: json.RawMessage(`{"z":1,"a":[1, 2]}`),
		B: []byte("hi"), I: 3.5, MM: map[string]any{"x": nil}, U: math.MaxUint64, N: []int{}}
	for _, v := range []any{full, value{}, []value{}, []value(nil), map[string]value{"k": full}} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		writeJSON(rec, 200, v)
		if !bytes.Equal(rec.Body.Bytes(), want.Bytes()) {
			t.Errorf("writeJSON(%T) wrote\n%s\nencoding/json writes\n%s", v, rec.Body, want.Bytes())
		}
	}
}
