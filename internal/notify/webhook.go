package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
)

// WebhookConfig configures a generic JSON webhook.
type WebhookConfig struct {
	// URL is where the Message is POSTed (http or https).
	URL string
	// Secret, when set, signs every body: X-Honua-Signature-256 carries
	// "sha256=" and the hex HMAC-SHA256 of the body under Secret, as
	// GitHub's X-Hub-Signature-256 does.
	Secret []byte
	// Client sends the request; nil means a client with DefaultTimeout.
	// Its CheckRedirect is replaced (redirects are never followed) and a
	// zero Timeout becomes DefaultTimeout; the Client itself is not
	// modified.
	Client *http.Client
}

// Webhook POSTs each Message as JSON to one URL. It is a Sender.
type Webhook struct {
	http   *httpSender
	secret []byte
}

// NewWebhook checks c and returns its Webhook. Errors show the URL's
// scheme and host at most.
func NewWebhook(c WebhookConfig) (*Webhook, error) {
	name := "webhook"
	if u, err := url.Parse(c.URL); err == nil && u.Host != "" {
		name = "webhook " + redactURL(u)
	}
	h, err := newHTTPSender(c.URL, name, c.Client)
	if err != nil {
		return nil, err
	}
	return &Webhook{http: h, secret: slices.Clone(c.Secret)}, nil
}

// signature is the value of X-Honua-Signature-256 for body under secret:
// "sha256=" and the hex HMAC-SHA256. A receiver computes the same over the
// raw body it received and compares with hmac.Equal.
func signature(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Send POSTs m as JSON with the headers X-Honua-Event, X-Honua-Delivery
// (m.ID) and, when the webhook has a secret, X-Honua-Signature-256.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	if err := checkMessage(m); err != nil {
		return fmt.Errorf("%s: %w", w.http.name, err)
	}
	m = bounded(m)
	body, err := json.Marshal(m)
	if err != nil {
		return permanent(fmt.Errorf("%s: encode: %w", w.http.name, err))
	}
	headers := map[string]string{
		"X-Honua-Event":    m.Event,
		"X-Honua-Delivery": m.ID,
	}
	if len(w.secret) > 0 {
		headers["X-Honua-Signature-256"] = signature(w.secret, body)
	}
	return w.http.post(ctx, body, headers)
}
