package fsm_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// TestDocumentKeepsItsJSON: a document gives back the bytes it was made of,
// compressed or not, in JSON too; a large, repetitive one is held in fewer
// bytes than its JSON; the zero document is none, and encodes as null.
func TestDocumentKeepsItsJSON(t *testing.T) {
	plan := `{"plan":{"added":3,"layers":[` + strings.Repeat(`{"name":"roads","title":"Roads","source":"postgis"},`, 40) + `{}]}}`
	for name, raw := range map[string]string{
		"a plan":                      plan,
		"a short report (kept as is)": `{"valid":true,"problems":[]}`,
		"HTML and U+2028, as given":   `{"m":"<a href=\"x\">&</a>\u2028"}`,
		"a number":                    `3`,
		"a document of one byte":      `7`,
		"spaces":                      `{ "a" : 1 }`,
	} {
		d := fsm.NewDocument([]byte(raw))
		if d.IsZero() || string(d.JSON()) != raw || d.String() != raw {
			t.Errorf("%s: NewDocument(%s).JSON() = %s (zero %v); want the same bytes", name, raw, d.JSON(), d.IsZero())
		}
		// In JSON, as json.RawMessage was: encoding/json compacts it and
		// escapes HTML.
		var back fsm.Document
		b, err := json.Marshal(d)
		want, _ := json.Marshal(json.RawMessage(raw))
		if err != nil || string(b) != string(want) || json.Unmarshal(b, &back) != nil || string(back.JSON()) != string(want) {
			t.Errorf("%s: JSON %s, %v, back %s; want %s and back", name, b, err, back, want)
		}
	}
	big := fsm.NewDocument([]byte(plan))
	if size := len(big.String()); size != len(plan) {
		t.Fatalf("the plan reads back as %d bytes; want %d", size, len(plan))
	}
	if got := fsm.DocumentSize(big); got >= len(plan)/4 {
		t.Errorf("a %d-byte repetitive plan is held in %d bytes; want under a quarter", len(plan), got)
	}
	if short := `{"valid":true}`; fsm.DocumentSize(fsm.NewDocument([]byte(short))) > len(short)+1 {
		t.Errorf("a short document is held in more than its bytes and a tag")
	}
	var zero fsm.Document
	if !zero.IsZero() || zero.JSON() != nil || !fsm.NewDocument(nil).IsZero() || !fsm.NewDocument([]byte{}).IsZero() {
		t.Errorf("the zero document, or one of no bytes, is not none")
	}
	if b, err := json.Marshal(zero); err != nil || string(b) != "null" {
		t.Errorf("json.Marshal(zero Document) = %s, %v; want null", b, err)
	}
	d := fsm.Deployment{ID: "p-1", Plan: big}
	if b, _ := json.Marshal(&d); bytes.Contains(b, []byte(`"validation"`)) || !bytes.Contains(b, []byte(`"plan":{"plan":`)) {
		t.Errorf("a deployment with a plan and no report encodes as %s; want the plan and no validation member", b)
	}
	var null fsm.Document
	if err := json.Unmarshal([]byte("null"), &null); err != nil || !null.IsZero() {
		t.Errorf("null decodes to %v, %v; want no document", null, err)
	}
}

// TestInstantIsATimeInUTC: an instant encodes as the time.Time in UTC it
// holds, to the nanosecond, keeps order, holds the zero time, and clamps
// what it cannot hold.
func TestInstantIsATimeInUTC(t *testing.T) {
	at := time.Date(2026, 12, 3, 14, 5, 6, 789012345, time.UTC)
	for _, tm := range []time.Time{at, at.Truncate(time.Second), time.Unix(0, 0).UTC(), time.Unix(0, -1).UTC(), {}} {
		i := fsm.InstantOf(tm)
		if !i.Time().Equal(tm) || i.Time().Location() != time.UTC {
			t.Errorf("InstantOf(%v).Time() = %v; want the same instant in UTC", tm, i.Time())
		}
		want, _ := json.Marshal(tm)
		got, err := json.Marshal(i)
		var back fsm.Instant
		if err != nil || string(got) != string(want) || json.Unmarshal(got, &back) != nil || back != i {
			t.Errorf("InstantOf(%v) in JSON: %s, %v, back %v; want %s and back", tm, got, err, back, want)
		}
	}
	if fsm.InstantOf(time.Time{}) != 0 {
		t.Errorf("the zero time is not the zero Instant")
	}
	if a, b := fsm.InstantOf(time.Unix(0, -1)), fsm.InstantOf(time.Unix(0, 1)); !(a < b) || !(fsm.InstantOf(at) > b) {
		t.Errorf("instants do not keep the order of their times")
	}
	zone := time.FixedZone("CET", 3600)
	if got, _ := json.Marshal(fsm.InstantOf(at.In(zone))); string(got) != `"2026-12-03T14:05:06.789012345Z"` {
		t.Errorf("a time in CET encodes as %s; want it in UTC", got)
	}
	for _, tm := range []time.Time{time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)} {
		i := fsm.InstantOf(tm)
		if y := i.Time().Year(); y != 1677 && y != 2262 || i == 0 {
			t.Errorf("InstantOf(%v) = %v; want it clamped to 1677 or 2262", tm, i.Time())
		}
	}
	var bad fsm.Instant
	if err := json.Unmarshal([]byte(`"yesterday"`), &bad); err == nil {
		t.Errorf(`"yesterday" decodes as an instant; want an error`)
	}
}
