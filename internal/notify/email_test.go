package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	netsmtp "net/smtp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/honua-io/honua-gitops/internal/certs"
)

// smtpMode is how the test server speaks TLS.
type smtpMode int

const (
	modeStartTLS smtpMode = iota
	modeImplicit
	modePlain // no TLS at all, AUTH still offered (AllowInsecureAuth)
)

// delivery is one message the test server accepted.
type delivery struct {
	from string
	to   []string
	data []byte
}

// smtpServer is a real SMTP server (emersion/go-smtp) for one test.
type smtpServer struct {
	host string
	port int
	ca   *x509.CertPool

	mu        sync.Mutex
	auths     []string // "user:pass" of every AUTH PLAIN attempt
	tlsOnAuth []bool
	failRcpt  *smtp.SMTPError // answer to RCPT when set

	got chan delivery
}

// testCerts makes a CA and a server certificate for 127.0.0.1, once.
var testCerts = sync.OnceValues(func() (tls.Certificate, *x509.CertPool) {
	caPEM, caKey, err := certs.CreateCA("notify test ca", time.Hour)
	if err != nil {
		panic(err)
	}
	certPEM, keyPEM, err := certs.CreateCert(caPEM, caKey, certs.CertOptions{Name: "smtp", Server: true, Validity: time.Hour / 2})
	if err != nil {
		panic(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return cert, pool
})

func startSMTP(t *testing.T, mode smtpMode) *smtpServer {
	t.Helper()
	cert, pool := testCerts()
	s := &smtpServer{host: "127.0.0.1", ca: pool, got: make(chan delivery, 4)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{srv: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 1 << 20
	logger := &testLogger{t: t}
	srv.ErrorLog = logger
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case modeStartTLS:
		srv.TLSConfig = tlsConfig
	case modeImplicit:
		l = tls.NewListener(l, tlsConfig)
	case modePlain:
		srv.AllowInsecureAuth = true
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { logger.stop(); srv.Close(); <-done })
	return s
}

// testLogger logs the server's errors to the test until the test's
// cleanup; go-smtp's Close does not wait for its connection goroutines,
// which may still log (a client's failed TLS handshake) afterwards.
type testLogger struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (l *testLogger) Printf(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Logf("smtp server: "+format, v...)
	}
}

func (l *testLogger) Println(v ...any) { l.Printf("%s", fmt.Sprintln(v...)) }

func (l *testLogger) stop() {
	l.mu.Lock()
	l.done = true
	l.mu.Unlock()
}

type smtpSession struct {
	srv  *smtpServer
	conn *smtp.Conn
	from string
	to   []string
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		_, isTLS := s.conn.TLSConnectionState()
		s.srv.mu.Lock()
		s.srv.auths = append(s.srv.auths, username+":"+password)
		s.srv.tlsOnAuth = append(s.srv.tlsOnAuth, isTLS)
		s.srv.mu.Unlock()
		if username != "honua" || password != "s3cret" {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.srv.mu.Lock()
	fail := s.srv.failRcpt
	s.srv.mu.Unlock()
	if fail != nil {
		return fail
	}
	s.to = append(s.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.got <- delivery{from: s.from, to: s.to, data: b}
	return nil
}

func (s *smtpSession) Reset()        { s.from, s.to = "", nil }
func (s *smtpSession) Logout() error { return nil }

// config is an EmailConfig for s with the test's credentials.
func (s *smtpServer) config(mode smtpMode) EmailConfig {
	return EmailConfig{
		Host: s.host, Port: s.port,
		StartTLS: mode == modeStartTLS, ImplicitTLS: mode == modeImplicit,
		TLS:      &tls.Config{RootCAs: s.ca},
		Username: "honua", Password: "s3cret",
		From: "Honua GitOps <gitops@example.com>",
		To:   []string{"ops@example.com", "Ünïcode Approver <approver@example.com>"},
	}
}

// parsed is a received email taken apart as a mail client would.
type parsed struct {
	header     mail.Header
	subject    string
	text, html string
}

func parseEmail(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parse received message: %v\n%s", err, data)
	}
	var p parsed
	p.header = msg.Header
	if p.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatalf("decode subject %q: %v", msg.Header.Get("Subject"), err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v); want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for i := 0; ; i++ {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			if i != 2 {
				t.Fatalf("%d parts; want 2", i)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if cte := part.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
			t.Errorf("part %d: Content-Transfer-Encoding %q; want quoted-printable", i, cte)
		}
		b, err := io.ReadAll(quotedprintable.NewReader(part))
		if err != nil {
			t.Fatal(err)
		}
		switch ct := part.Header.Get("Content-Type"); ct {
		case "text/plain; charset=utf-8":
			p.text = string(b)
		case "text/html; charset=utf-8":
			p.html = string(b)
		default:
			t.Errorf("part %d: Content-Type %q", i, ct)
		}
	}
	return p
}

func TestEmailDelivery(t *testing.T) {
	for _, mode := range []smtpMode{modeStartTLS, modeImplicit} {
		name := map[smtpMode]string{modeStartTLS: "starttls", modeImplicit: "implicit tls"}[mode]
		t.Run(name, func(t *testing.T) {
			s := startSMTP(t, mode)
			e, err := NewEmail(s.config(mode))
			if err != nil {
				t.Fatal(err)
			}
			m := testMessage("ApprovalRequired")
			m.Environment = "prödüction"
			m.Reason = "line one\r\nBcc: evil@example.com\n" + strings.Repeat("ß", MaxReason)
			if err := e.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			d := <-s.got
			if d.from != "gitops@example.com" || strings.Join(d.to, ",") != "ops@example.com,approver@example.com" {
				t.Errorf("envelope from %q to %v", d.from, d.to)
			}
			s.mu.Lock()
			if len(s.auths) != 1 || s.auths[0] != "honua:s3cret" || !s.tlsOnAuth[0] {
				t.Errorf("auth attempts %v over tls %v; want one, honua:s3cret over TLS", s.auths, s.tlsOnAuth)
			}
			s.mu.Unlock()
			p := parseEmail(t, d.data)
			if want := "[Honua GitOps] ApprovalRequired - prödüction - d-42"; p.subject != want {
				t.Errorf("subject %q; want %q", p.subject, want)
			}
			if raw := p.header.Get("Subject"); !strings.HasPrefix(raw, "=?utf-8?q?") {
				t.Errorf("raw subject %q is not Q-encoded", raw)
			}
			if id := p.header.Get("Message-Id"); id != "<n-ApprovalRequired-d-42@example.com>" {
				t.Errorf("Message-ID %q; want <n-ApprovalRequired-d-42@example.com>", id)
			}
			if date, err := p.header.Date(); err != nil || !date.Equal(m.Time) {
				t.Errorf("Date %v (%v); want %v", date, err, m.Time)
			}
			if from := p.header.Get("From"); from != `"Honua GitOps" <gitops@example.com>` {
				t.Errorf("From %q", from)
			}
			to, err := p.header.AddressList("To")
			if err != nil || len(to) != 2 || to[1].Name != "Ünïcode Approver" {
				t.Errorf("To %v (%v)", to, err)
			}
			if p.header.Get("Bcc") != "" || p.header.Get("X-Honua-Delivery") != m.ID || p.header.Get("X-Honua-Event") != m.Event {
				t.Errorf("headers %v", p.header)
			}
			for _, want := range []string{"ApprovalRequired", "d-42", "prödüction", "9fceb02", "Raise the tile cache", "3 added, 1 modified, 2 removed, breaking", m.URL, "line one"} {
				if !strings.Contains(p.text, want) || !strings.Contains(p.html, want) {
					t.Errorf("a part lacks %q\ntext:\n%s\nhtml:\n%s", want, p.text, p.html)
				}
			}
			if !strings.Contains(p.html, `<a href="`+m.URL+`">`) {
				t.Errorf("html part lacks the link")
			}
			if n := strings.Count(p.text, "ß"); n*2 > MaxReason {
				t.Errorf("text part carries %d bytes of reason; want at most %d", n*2, MaxReason)
			}
		})
	}
}

func TestEmailMessageIDStable(t *testing.T) {
	s := startSMTP(t, modeStartTLS)
	e, err := NewEmail(s.config(modeStartTLS))
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage("Rejected")
	m.ID = "deploy/d-42 Rejected <route 1>" // not a dot-atom: hashed
	var ids []string
	for range 2 {
		if err := e.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, parseEmail(t, (<-s.got).data).header.Get("Message-Id"))
	}
	if ids[0] != ids[1] || !strings.HasSuffix(ids[0], "@example.com>") || strings.ContainsAny(ids[0], " /") {
		t.Errorf("Message-IDs of two sends of one notification: %q, %q; want the same, safe", ids[0], ids[1])
	}
	m.ID = "another"
	if got := messageID(m.ID, "example.com"); got == ids[0] {
		t.Errorf("two notifications share Message-ID %s", got)
	}
}

func TestEmailReplies(t *testing.T) {
	tests := []struct {
		name      string
		reply     *smtp.SMTPError
		permanent bool
	}{
		{"550 mailbox unavailable", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}, true},
		{"451 try again", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "greylisted"}, false},
	}
	for _, tt := range tests {
		s := startSMTP(t, modeStartTLS)
		s.failRcpt = tt.reply
		e, err := NewEmail(s.config(modeStartTLS))
		if err != nil {
			t.Fatal(err)
		}
		err = e.Send(context.Background(), testMessage("Approved"))
		if err == nil || IsPermanent(err) != tt.permanent {
			t.Errorf("%s: Send = %v, permanent %v; want an error, permanent %v", tt.name, err, IsPermanent(err), tt.permanent)
		}
		if err != nil && (strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), strconv.Itoa(tt.reply.Code))) {
			t.Errorf("%s: error %q shows the password or lacks the code", tt.name, err)
		}
	}

	// Wrong credentials: a 535, permanent.
	s := startSMTP(t, modeStartTLS)
	c := s.config(modeStartTLS)
	c.Password = "wrong"
	e, err := NewEmail(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Send(context.Background(), testMessage("Approved")); !IsPermanent(err) || strings.Contains(err.Error(), "wrong") {
		t.Errorf("bad password: %v; want a permanent error without the password", err)
	}
}

func TestEmailRequiresStartTLS(t *testing.T) {
	s := startSMTP(t, modePlain) // offers AUTH PLAIN in clear, no STARTTLS
	e, err := NewEmail(s.config(modeStartTLS))
	if err != nil {
		t.Fatal(err)
	}
	err = e.Send(context.Background(), testMessage("Approved"))
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("Send to a server without STARTTLS = %v; want an error saying so", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.auths) != 0 {
		t.Errorf("credentials sent without TLS: %v", s.auths)
	}
	select {
	case d := <-s.got:
		t.Errorf("a message was delivered: %s", d.data)
	default:
	}
}

func TestEmailTLSVerified(t *testing.T) {
	s := startSMTP(t, modeImplicit)
	c := s.config(modeImplicit)
	c.TLS = nil // system roots: the test CA is unknown
	e, err := NewEmail(c)
	if err != nil {
		t.Fatal(err)
	}
	err = e.Send(context.Background(), testMessage("Approved"))
	var uerr x509.UnknownAuthorityError
	if !errors.As(err, &uerr) {
		t.Errorf("Send to a server with an unknown CA = %v; want x509.UnknownAuthorityError", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.auths) != 0 {
		t.Errorf("credentials sent to an unverified server: %v", s.auths)
	}
}

func TestNewEmailRefuses(t *testing.T) {
	good := EmailConfig{Host: "smtp.example.com", Port: 587, StartTLS: true, From: "a@example.com", To: []string{"b@example.com"}}
	tests := []struct {
		name string
		edit func(*EmailConfig)
		want string
	}{
		{"no host", func(c *EmailConfig) { c.Host = "" }, "host"},
		{"bad port", func(c *EmailConfig) { c.Port = 0 }, "port"},
		{"both tls", func(c *EmailConfig) { c.ImplicitTLS = true }, "not both"},
		{"credentials in clear", func(c *EmailConfig) { c.StartTLS = false; c.Username, c.Password = "u", "p" }, "without TLS"},
		{"bad from", func(c *EmailConfig) { c.From = "not an address" }, "from"},
		{"no to", func(c *EmailConfig) { c.To = nil }, "recipient"},
		{"bad to", func(c *EmailConfig) { c.To = []string{"b@example.com", "x\r\nBcc: y@z"} }, "to[1]"},
	}
	if _, err := NewEmail(good); err != nil {
		t.Fatalf("NewEmail(good) = %v", err)
	}
	for _, tt := range tests {
		c := good
		tt.edit(&c)
		if _, err := NewEmail(c); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: NewEmail = %v; want an error saying %q", tt.name, err, tt.want)
		}
	}
}

// TestPlainAuthNeedsTLS: net/smtp's PlainAuth sends credentials in clear
// to 127.0.0.1; ours never does.
func TestPlainAuthNeedsTLS(t *testing.T) {
	a := tlsOnlyPlain{netsmtp.PlainAuth("", "honua", "s3cret", "127.0.0.1")}
	if _, resp, err := a.Start(&netsmtp.ServerInfo{Name: "127.0.0.1", TLS: false, Auth: []string{"PLAIN"}}); err == nil {
		t.Errorf("Start without TLS = %q; want a refusal", resp)
	}
	if _, resp, err := a.Start(&netsmtp.ServerInfo{Name: "127.0.0.1", TLS: true, Auth: []string{"PLAIN"}}); err != nil || string(resp) != "\x00honua\x00s3cret" {
		t.Errorf("Start with TLS = %q, %v; want the PLAIN response", resp, err)
	}
}
