package notify

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzRender renders arbitrary Messages through every channel's renderer:
// nothing panics, the JSON payloads are valid, and the email's header
// block is exactly the expected headers, each on CRLF-ended lines with no
// CR or LF from a field, whatever the subject, id or event hold.
func FuzzRender(f *testing.F) {
	m := testMessage("ApprovalRequired")
	f.Add(m.ID, m.Event, m.DeploymentID, m.Environment, m.Commit, m.Subject, m.State, m.Risk, m.Actor, m.Reason, m.URL, 3, -1, 2, true, int64(0))
	f.Add("id\r\nBcc: x@y", "Ev\nX-Evil: 1", "d\r", "prödüction", "", "subj\r\n\r\nbody", "", "", "", strings.Repeat("ß", 3000), "", 0, 0, 0, false, int64(1<<62))
	f.Add("", "", "", "", "", "=?utf-8?q?=0D=0A?=", "", "", "", "", "javascript:alert(1)", 0, 0, 0, false, int64(-1))
	e, err := NewEmail(EmailConfig{Host: "smtp.example.com", Port: 587, StartTLS: true,
		From: "Honua <gitops@example.com>", To: []string{"ops@example.com"}})
	if err != nil {
		f.Fatal(err)
	}
	wantKeys := []string{"Auto-Submitted", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject",
		"To", "X-Honua-Delivery", "X-Honua-Event"}
	f.Fuzz(func(t *testing.T, id, event, dep, env, commit, subject, state, risk, actor, reason, url string,
		added, modified, removed int, breaking bool, unix int64) {
		m := Message{ID: id, Event: event, DeploymentID: dep, Environment: env, Commit: commit, Subject: subject,
			State: state, Risk: risk, Plan: PlanSummary{added, modified, removed, breaking}, Actor: actor,
			Reason: reason, URL: url, Time: time.Unix(unix%(1<<36), 0).UTC()}
		b := bounded(m)
		if len(b.Reason) > MaxReason || !utf8.ValidString(b.Reason) {
			t.Fatalf("bounded reason: %d bytes, valid %v", len(b.Reason), utf8.ValidString(b.Reason))
		}
		for _, v := range []any{b, slackPayload(b), teamsPayload(b)} {
			if raw, err := json.Marshal(v); err != nil || !json.Valid(raw) {
				t.Fatalf("json %T: %v", v, err)
			}
		}
		for _, h := range []string{oneLine(b.Event), oneLine(b.ID)} {
			if strings.ContainsAny(h, "\r\n\x00") {
				t.Fatalf("webhook header value %q holds a control character", h)
			}
		}
		raw, err := e.compose(b, time.Now)
		if err != nil {
			t.Fatalf("compose: %v", err)
		}
		head, _, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
		if !ok {
			t.Fatal("no blank line after the headers")
		}
		for _, line := range strings.Split(string(head), "\r\n") {
			if strings.ContainsAny(line, "\r\n") || len(line) > 998 {
				t.Fatalf("header line %q: a bare CR or LF, or longer than 998", line)
			}
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("parse: %v\n%s", err, head)
		}
		var keys []string
		for k, v := range msg.Header {
			if len(v) != 1 {
				t.Fatalf("header %s appears %d times", k, len(v))
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, wantKeys) {
			t.Fatalf("headers %v; want %v\n%s", keys, wantKeys, head)
		}
		s, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			t.Fatalf("subject %q: %v", msg.Header.Get("Subject"), err)
		}
		if strings.ContainsAny(s, "\r\n") {
			t.Fatalf("decoded subject %q holds CR or LF", s)
		}
		mid := msg.Header.Get("Message-Id")
		if !strings.HasPrefix(mid, "<") || !strings.HasSuffix(mid, "@example.com>") || strings.ContainsAny(mid, " \t") {
			t.Fatalf("Message-ID %q", mid)
		}
	})
}
