package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"
)

// maxErrorBody is how much of a refusing receiver's body an error quotes.
const maxErrorBody = 200

// httpSender posts a JSON body to one URL; the webhook, Slack and Teams
// senders are built on it.
type httpSender struct {
	url     string
	name    string   // what errors call the receiver; never holds a secret
	secrets []string // strings that must never appear in an error: the URL and its parts that may hold a token
	client  *http.Client
}

// newHTTPSender checks rawURL (an absolute http or https URL with a host)
// and prepares a client that never follows a redirect and always has a
// timeout. name is what errors call the receiver. A URL error never
// quotes the URL: for Slack and Teams it is the secret.
func newHTTPSender(rawURL, name string, client *http.Client) (*httpSender, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%s: the url does not parse", name)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%s: the url's scheme must be http or https", name)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%s: the url has no host", name)
	}
	c := &http.Client{Timeout: DefaultTimeout}
	if client != nil {
		cp := *client
		c = &cp
		if c.Timeout <= 0 {
			c.Timeout = DefaultTimeout
		}
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	// A receiver may echo the request's path in its answer: scrub every
	// form of the URL's parts that could carry a token, longest first.
	var secrets []string
	for _, p := range []string{rawURL, u.RequestURI(), u.EscapedPath(), u.Path, u.RawQuery, u.User.String()} {
		if len(p) > 1 && !slices.Contains(secrets, p) {
			secrets = append(secrets, p)
		}
	}
	return &httpSender{url: rawURL, name: name, secrets: secrets, client: c}, nil
}

// post sends body with headers (Content-Type is always application/json)
// and classifies the answer: nil on 2xx, a permanent error on a 4xx other
// than 408 and 429, a retryable one otherwise.
func (s *httpSender) post(ctx context.Context, body []byte, headers map[string]string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return permanent(fmt.Errorf("%s: build request: %s", s.name, s.scrub(err.Error())))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "honua-gitops-notify")
	for k, v := range headers {
		req.Header.Set(k, oneLine(v))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// *url.Error quotes the URL: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("%s: %w", s.name, ctxErr)
		}
		return fmt.Errorf("%s: %s", s.name, s.scrub(err.Error()))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return nil
	case code >= 300 && code < 400:
		where := "no Location"
		if loc, err := resp.Location(); err == nil {
			where = "to " + redactURL(loc)
		}
		return fmt.Errorf("%s: status %d, redirected %s (redirects are not followed; configure the final url)", s.name, code, where)
	}
	err = fmt.Errorf("%s: status %d%s", s.name, code, s.quote(snippet))
	if code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests {
		return permanent(err)
	}
	return err
}

// quote is a refusing receiver's body, for an error: printable, one line,
// short, and without the secret.
func (s *httpSender) quote(body []byte) string {
	t := strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(body), ""))
	t = s.scrub(strings.TrimSpace(oneLine(t)))
	if t == "" {
		return ""
	}
	return ": " + t
}

// scrub removes the URL and its parts from msg.
func (s *httpSender) scrub(msg string) string {
	for _, p := range s.secrets {
		msg = strings.ReplaceAll(msg, p, "[redacted]")
	}
	return msg
}

// redactURL shows a URL as its scheme and host only: its user
// information, path and query may hold a token.
func redactURL(u *url.URL) string {
	r := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		r += "/…"
	}
	return r
}
