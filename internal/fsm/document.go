package fsm

import (
	"encoding/json"

	"github.com/klauspost/compress/s2"
)

// Document is a planner's document as a deployment keeps it: a plan or a
// validation report, JSON the FSM stores verbatim and never reads. It is
// held compressed (S2, of github.com/klauspost/compress, which the metrics
// endpoint already uses) when that makes it smaller: plans are most of what
// a deployment holds and are read rarely (a deployment's record, a
// notification's summary, the next plan's base). On the bench's 100k state
// a plan is 1.2 KB of JSON and 0.48 KB compressed, in 2.2 µs; DEFLATE made
// it 0.37 KB but took 27 µs, which a restore of 20,000 plans felt. Its JSON,
// in snapshots and wherever it is encoded, is the document's own bytes.
//
// A Document is immutable, so copies share it. The zero value is no
// document.
type Document struct {
	// b is the tag byte docRaw followed by the JSON, or docS2 followed by
	// the JSON compressed (an S2 block); "" for no document.
	b string
}

const (
	docRaw = 'r'
	docS2  = 's'
)

// NewDocument returns a document holding raw, which must be JSON (a
// command's and a snapshot's decoder check it is). Empty raw is no
// document.
func NewDocument(raw []byte) Document {
	if len(raw) == 0 {
		return Document{}
	}
	if n := s2.MaxEncodedLen(len(raw)); n > 0 {
		buf := make([]byte, 1+n)
		z := s2.EncodeBetter(buf[1:], raw) // at the start of buf[1:]
		if len(z) < len(raw) {
			buf[0] = docS2
			return Document{b: string(buf[:1+len(z)])}
		}
	}
	return Document{b: string(append([]byte{docRaw}, raw...))}
}

// IsZero reports whether there is no document.
func (d Document) IsZero() bool { return d.b == "" }

// JSON returns a copy of the document's JSON; nil for no document.
func (d Document) JSON() json.RawMessage {
	if d.b == "" {
		return nil
	}
	if d.b[0] == docRaw {
		return json.RawMessage(d.b[1:])
	}
	raw, err := s2.Decode(nil, []byte(d.b[1:]))
	if err != nil {
		// Only NewDocument makes a Document, from what S2 wrote, so this
		// is not reached; nil is what a dropped document reads as.
		return nil
	}
	return raw
}

// MarshalJSON returns the document's JSON, null for none.
func (d Document) MarshalJSON() ([]byte, error) {
	if d.b == "" {
		return []byte("null"), nil
	}
	return d.JSON(), nil
}

// UnmarshalJSON sets d to the document data; null is none. A decoder gives
// a method only one whole, valid JSON value.
func (d *Document) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*d = Document{}
		return nil
	}
	*d = NewDocument(data)
	return nil
}

// String returns the document's JSON.
func (d Document) String() string { return string(d.JSON()) }
