package notify

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"
)

// EmailConfig configures an email channel: an SMTP server and the
// addresses.
type EmailConfig struct {
	// Host and Port are the SMTP server's (Port usually 587 with StartTLS,
	// 465 with ImplicitTLS, 25).
	Host string
	Port int
	// StartTLS requires the server to offer STARTTLS and upgrades the
	// connection before anything else is sent; a server that does not
	// offer it is an error.
	StartTLS bool
	// ImplicitTLS speaks TLS from the first byte (port 465).
	ImplicitTLS bool
	// TLS configures either; nil means the system's roots with
	// ServerName Host. A TLS with no ServerName gets Host.
	TLS *tls.Config
	// Username and Password authenticate with AUTH PLAIN, only ever over
	// TLS: credentials without StartTLS or ImplicitTLS are refused.
	Username, Password string
	// From is the sender's address; To the recipients'.
	From string
	To   []string
	// Subject and Text (text/template) and HTML (html/template) render
	// the message; nil means the embedded default (see LoadTemplates).
	Subject, Text *texttemplate.Template
	HTML          *htmltemplate.Template
}

// Email sends each Message as one email to the configured recipients. It
// is a Sender.
type Email struct {
	c    EmailConfig
	addr string
	from *mail.Address
	to   []*mail.Address
	tls  *tls.Config
	name string // what errors call the server: "smtp host:port"
}

// NewEmail checks c and returns its Email sender.
func NewEmail(c EmailConfig) (*Email, error) {
	if c.Host == "" {
		return nil, errors.New("email: smtp host is empty")
	}
	if c.Port <= 0 || c.Port > 65535 {
		return nil, fmt.Errorf("email: smtp port %d is not in 1-65535", c.Port)
	}
	if c.StartTLS && c.ImplicitTLS {
		return nil, errors.New("email: choose startTLS or implicit TLS, not both")
	}
	if (c.Username != "" || c.Password != "") && !c.StartTLS && !c.ImplicitTLS {
		return nil, errors.New("email: refusing to send smtp credentials without TLS; set startTLS or implicit TLS")
	}
	e := &Email{c: c, addr: net.JoinHostPort(c.Host, strconv.Itoa(c.Port))}
	e.name = "smtp " + e.addr
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return nil, fmt.Errorf("email: from %q: %w", c.From, err)
	}
	e.from = from
	if len(c.To) == 0 {
		return nil, errors.New("email: no recipient (to is empty)")
	}
	for i, t := range c.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("email: to[%d] %q: %w", i, t, err)
		}
		e.to = append(e.to, a)
	}
	if c.TLS != nil {
		e.tls = c.TLS.Clone()
	} else {
		e.tls = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if e.tls.ServerName == "" {
		e.tls.ServerName = c.Host
	}
	if e.c.Subject == nil {
		e.c.Subject = defaultSubject
	}
	if e.c.Text == nil {
		e.c.Text = defaultText
	}
	if e.c.HTML == nil {
		e.c.HTML = defaultHTML
	}
	return e, nil
}

// Send renders m and delivers it over one SMTP session. An SMTP 5xx reply
// is permanent, a 4xx reply and any network or TLS failure retryable.
func (e *Email) Send(ctx context.Context, m Message) error {
	if err := checkMessage(m); err != nil {
		return fmt.Errorf("email: %w", err)
	}
	msg, err := e.compose(bounded(m), time.Now)
	if err != nil {
		return fmt.Errorf("email: %w", err)
	}
	if err := e.deliver(ctx, msg); err != nil {
		return fmt.Errorf("%s: %w", e.name, err)
	}
	return nil
}

// deliver runs one SMTP session: connect (TLS at once or by STARTTLS),
// authenticate, MAIL, RCPT, DATA, QUIT. The connection's deadline is
// ctx's or DefaultTimeout from now, whichever is earlier, and ctx's end
// closes it.
func (e *Email) deliver(ctx context.Context, msg []byte) (err error) {
	deadline := time.Now().Add(DefaultTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var d net.Dialer
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", e.addr)
	if err != nil {
		return classify(err)
	}
	stop := context.AfterFunc(dctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	if e.c.ImplicitTLS {
		tc := tls.Client(conn, e.tls)
		if err := tc.HandshakeContext(dctx); err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, e.c.Host)
	if err != nil {
		return classify(err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return classify(err)
	}
	if e.c.StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("the server does not offer STARTTLS, which is required; nothing was sent")
		}
		if err := c.StartTLS(e.tls); err != nil {
			return fmt.Errorf("starttls: %w", classify(err))
		}
	}
	if e.c.Username != "" || e.c.Password != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("the server offers no AUTH; credentials were not sent")
		}
		if err := c.Auth(tlsOnlyPlain{smtp.PlainAuth("", e.c.Username, e.c.Password, e.c.Host)}); err != nil {
			return fmt.Errorf("auth: %w", classify(err))
		}
	}
	if err := c.Mail(e.from.Address); err != nil {
		return fmt.Errorf("mail from: %w", classify(err))
	}
	for _, to := range e.to {
		if err := c.Rcpt(to.Address); err != nil {
			return fmt.Errorf("rcpt to %s: %w", to.Address, classify(err))
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", classify(err))
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("data: %w", classify(err))
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("data: %w", classify(err))
	}
	// The message is accepted; a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// classify marks an SMTP 5xx reply permanent; everything else stays
// retryable.
func classify(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 && te.Code < 600 {
		return permanent(err)
	}
	return err
}

// tlsOnlyPlain is PLAIN authentication that refuses to run over a
// connection without TLS, even to localhost (net/smtp's PlainAuth allows
// that).
type tlsOnlyPlain struct{ smtp.Auth }

// Start refuses a connection without TLS, then starts PLAIN.
func (a tlsOnlyPlain) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS {
		return "", nil, errors.New("refusing to send credentials without TLS")
	}
	return a.Auth.Start(server)
}

// messageID is the Message-ID of m's email: derived from m.ID alone, so
// that every retry of a notification carries the same one and a receiver
// can drop duplicates. An id that is not a plain dot-atom is hashed.
func messageID(id, fromDomain string) string {
	local := id
	if !isDotAtom(id) {
		sum := sha256.Sum256([]byte(id))
		local = hex.EncodeToString(sum[:16])
	}
	if !isDotAtom(fromDomain) {
		fromDomain = "honua-gitops.invalid"
	}
	return "<" + local + "@" + fromDomain + ">"
}

// isDotAtom reports whether s is safe as either side of a Message-ID:
// letters, digits and . _ - + only, neither starting nor ending with a
// dot, nor too long.
func isDotAtom(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-+", r)) {
			return false
		}
	}
	return true
}
