package target

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// FencingTokenHeader carries the bundle's fencing token on an http target's
// request.
const FencingTokenHeader = "X-Honua-Fencing-Token"

// DeploymentIDHeader carries the bundle's deployment id on an http
// target's request.
const DeploymentIDHeader = "X-Honua-Deployment-Id"

// CommitHeader carries the commit the bundle was built from on an http
// target's request (the manifest has it too).
const CommitHeader = "X-Honua-Commit"

// bodyLimit is how much of an error answer's body is kept.
const bodyLimit = 512

// httpTarget PUTs the bundle as one JSON document; see the package
// documentation for its shape.
type httpTarget struct {
	url        string
	name       string // "http " and the URL without its password
	timeout    time.Duration
	backoffMin time.Duration
	backoffMax time.Duration
	tokenFile  string // the bearer token, read for each request; "" for none
	client     http.Client
	log        *slog.Logger
}

// String implements Target; a password in the URL is masked.
func (h *httpTarget) String() string { return h.name }

// Current returns nil: an http target cannot tell what the server serves.
func (h *httpTarget) Current(context.Context) (*Manifest, error) { return nil, nil }

// Apply PUTs the bundle, retrying server and connection errors with
// exponential backoff until ctx ends.
func (h *httpTarget) Apply(ctx context.Context, b *Bundle) error {
	if err := b.Validate(); err != nil {
		return &Error{Target: h.name, Op: "validate bundle", Err: err}
	}
	body, err := encodeDocument(b)
	if err != nil {
		return &Error{Target: h.name, Op: "encode bundle", Err: err}
	}
	delay := h.backoffMin
	// answer is the last error the server itself gave (an HTTP status),
	// kept so that an attempt cut short by the deadline does not hide it.
	var answer error
	for attempt := 1; ; attempt++ {
		err := h.put(ctx, b, body)
		if err == nil {
			h.log.Info("applied", "bundle", b.Manifest.BundleID(), "attempts", attempt)
			return nil
		}
		if !err.Retryable {
			return err
		}
		if ctx.Err() == nil || answer == nil {
			answer = err.Err
		}
		if ctx.Err() != nil {
			return &Error{Target: h.name, Op: "put", Retryable: true,
				Err: fmt.Errorf("%w after %d attempts; last error: %w", ctx.Err(), attempt, answer)}
		}
		h.log.Info("put failed, retrying", "attempt", attempt, "in", delay, "error", err.Err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return &Error{Target: h.name, Op: "put", Retryable: true,
				Err: fmt.Errorf("%w after %d attempts; last error: %w", ctx.Err(), attempt, answer)}
		case <-t.C:
		}
		delay = min(2*delay, h.backoffMax)
	}
}

// put makes one attempt. It returns nil on a 2xx answer; the error's
// Retryable says whether another attempt may succeed.
func (h *httpTarget) put(ctx context.Context, b *Bundle, body []byte) *Error {
	fail := func(retryable bool, err error) *Error {
		return &Error{Target: h.name, Op: "put", Retryable: retryable, Err: err}
	}
	actx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPut, h.url, bytes.NewReader(body))
	if err != nil {
		return fail(false, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(FencingTokenHeader, strconv.FormatUint(b.Manifest.FencingToken, 10))
	req.Header.Set(DeploymentIDHeader, b.Manifest.DeploymentID)
	req.Header.Set(CommitHeader, b.Manifest.Commit)
	if err := h.authorize(req); err != nil {
		return fail(false, err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		err = unwrapURLError(err)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("no answer within %v: %w", h.timeout, err)
		}
		var cert *tls.CertificateVerificationError
		return fail(!errors.As(err, &cert), err)
	}
	detail, answer := readAnswer(resp)
	if err := redirected(resp); err != nil {
		return fail(false, err)
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusConflict || code == http.StatusPreconditionFailed:
		return fail(false, &FencedError{Token: b.Manifest.FencingToken, Detail: detail, Highest: highestIn(answer, b.Manifest.FencingToken)})
	case code == http.StatusInsufficientStorage:
		// No room for the bundle (a target agent's full disk): waiting
		// rarely makes room; fail, so the deployment rolls back.
		return fail(false, errors.New(detail))
	case code >= 500:
		return fail(true, errors.New(detail))
	default:
		return fail(false, errors.New(detail))
	}
}

// authorize sets the request's bearer token, read from the token file.
func (h *httpTarget) authorize(req *http.Request) error {
	if h.tokenFile == "" {
		return nil
	}
	data, err := os.ReadFile(h.tokenFile)
	if err != nil {
		return fmt.Errorf("read the bearer token: %w", err)
	}
	token := strings.TrimSpace(string(data))
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return fmt.Errorf("read the bearer token: %s holds no token (one line, no spaces)", h.tokenFile)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return nil
}

// noRedirect is the CheckRedirect of every client here: a redirect is
// never followed, so a bundle, its fencing token, a reload or a health
// check only ever reaches the URL configured. The 3xx answer is returned
// as it is, for redirected to describe.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// redirected returns an error matching ErrRedirected for a 3xx answer
// that names a Location: its status and where it points (resolved
// against the request's URL, any password masked). It returns nil for any
// other answer, a 304 Not Modified among them.
func redirected(resp *http.Response) error {
	if resp.StatusCode < 300 || resp.StatusCode > 399 {
		return nil
	}
	loc, err := resp.Location()
	if err != nil {
		return nil
	}
	return fmt.Errorf("%s to %s: %w", resp.Status, loc.Redacted(), ErrRedirected)
}

// readDetail returns an answer's status and the first bodyLimit bytes of
// its body, and closes the body.
func readDetail(resp *http.Response) string {
	detail, _ := readAnswer(resp)
	return detail
}

// readAnswer is readDetail that also returns the body's first bodyLimit
// bytes.
func readAnswer(resp *http.Response) (string, []byte) {
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, bodyLimit))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	detail := resp.Status
	if s := strings.TrimSpace(strings.ToValidUTF8(string(data), "\uFFFD")); s != "" {
		detail += ": " + s
	}
	return detail, data
}

// highestIn reads the highest token a server says it accepted from a
// refusal's JSON body ({"highestFencingToken": N}, as a target agent
// answers), 0 when it says none or one not above token (then it is not
// why token was refused).
func highestIn(body []byte, token uint64) uint64 {
	var ans struct {
		Highest uint64 `json:"highestFencingToken"`
	}
	if json.Unmarshal(body, &ans) != nil || ans.Highest <= token {
		return 0
	}
	return ans.Highest
}

// unwrapURLError drops the *url.Error around a client error: the caller
// names the URL already.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
