package notify

import (
	"bytes"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"
)

// maxSubjectRunes bounds an email's subject before it is encoded.
const maxSubjectRunes = 200

// compose renders m (bounded) as a complete RFC 5322 message with CRLF
// line ends: headers, then a multipart/alternative body with a text/plain
// and a text/html part, each quoted-printable. now gives the Date when m
// has no Time.
func (e *Email) compose(m Message, now func() time.Time) ([]byte, error) {
	subject, text, html, err := render(e.c.Subject, e.c.Text, e.c.HTML, m)
	if err != nil {
		return nil, err
	}
	date := m.Time
	if date.IsZero() {
		date = now()
	}
	_, domain, _ := strings.Cut(e.from.Address, "@")

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, part := range []struct{ ctype, content string }{
		{"text/plain; charset=utf-8", text},
		{"text/html; charset=utf-8", html},
	} {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", part.ctype)
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		pw, err := mw.CreatePart(h)
		if err != nil {
			return nil, err
		}
		qw := quotedprintable.NewWriter(pw)
		if _, err := qw.Write([]byte(part.content)); err != nil {
			return nil, err
		}
		if err := qw.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}

	to := make([]string, len(e.to))
	for i, a := range e.to {
		to[i] = a.String()
	}
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", e.from.String())
	header("To", fold(strings.Join(to, ", ")))
	header("Subject", encodeHeader(subject))
	header("Date", date.Format(time.RFC1123Z))
	header("Message-ID", messageID(m.ID, domain))
	header("MIME-Version", "1.0")
	header("Content-Type", fmt.Sprintf("multipart/alternative; boundary=%q", mw.Boundary()))
	header("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies
	header("X-Honua-Event", encodeHeader(m.Event))
	header("X-Honua-Delivery", encodeHeader(m.ID))
	b.WriteString("\r\n")
	b.Write(body.Bytes())
	return b.Bytes(), nil
}

// encodeHeader makes s a safe header value: one line (control characters
// become spaces), at most maxSubjectRunes characters, RFC 2047 Q-encoded
// when not ASCII, folded at spaces so that no line is longer than 78.
func encodeHeader(s string) string {
	s = oneLine(s)
	if utf8.RuneCountInString(s) > maxSubjectRunes {
		s = string([]rune(s)[:maxSubjectRunes-1]) + ellipsis
	}
	return fold(mime.QEncoding.Encode("utf-8", s))
}

// fold breaks a header value at spaces so that lines stay short (RFC 5322
// §2.2.3); a word longer than a line stays whole.
func fold(v string) string {
	words := strings.Split(v, " ")
	var b strings.Builder
	line := 0
	for i, w := range words {
		if i > 0 {
			if line+1+len(w) > 76 {
				b.WriteString("\r\n ")
				line = 1
			} else {
				b.WriteString(" ")
				line++
			}
		}
		b.WriteString(w)
		line += len(w)
	}
	return b.String()
}
