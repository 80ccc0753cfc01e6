package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
)

// received is what a webhook receiver got.
type received struct {
	header http.Header
	body   []byte
	msg    Message
	sigOK  bool
}

// webhookReceiver is a receiver as a user would write it: it reads the raw
// body, verifies X-Honua-Signature-256 with hmac.Equal, decodes the JSON
// strictly and answers 204.
func webhookReceiver(t *testing.T, secret []byte, got chan<- received) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rec := received{header: r.Header.Clone(), body: body}
		if secret != nil {
			mac := hmac.New(sha256.New, secret)
			mac.Write(body)
			want := []byte("sha256=" + hex.EncodeToString(mac.Sum(nil)))
			rec.sigOK = hmac.Equal([]byte(r.Header.Get("X-Honua-Signature-256")), want)
			// The check the api package offers receivers agrees.
			if api.ValidNotificationSignature(secret, body, r.Header.Get(api.NotificationSignatureHeader)) != rec.sigOK {
				t.Errorf("api.ValidNotificationSignature disagrees with the receiver's own check of %q", body)
			}
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec.msg); err != nil {
			t.Errorf("receiver: decode %s: %v", body, err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- rec
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestWebhookSignedDelivery(t *testing.T) {
	secret := []byte("hook-secret")
	got := make(chan received, 1)
	srv := webhookReceiver(t, secret, got)
	w, err := NewWebhook(WebhookConfig{URL: srv.URL + "/hook", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage("DeploymentFailed")
	m.Reason = strings.Repeat("x", MaxReason+100)
	if err := w.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	rec := <-got
	if !rec.sigOK {
		t.Errorf("signature %q does not verify over the raw body", rec.header.Get("X-Honua-Signature-256"))
	}
	for k, want := range map[string]string{
		"Content-Type":     "application/json",
		"X-Honua-Event":    "DeploymentFailed",
		"X-Honua-Delivery": m.ID,
	} {
		if v := rec.header.Get(k); v != want {
			t.Errorf("header %s = %q; want %q", k, v, want)
		}
	}
	wantMsg := bounded(m)
	if len(rec.msg.Reason) > MaxReason {
		t.Errorf("reason is %d bytes; want at most %d", len(rec.msg.Reason), MaxReason)
	}
	if !rec.msg.Time.Equal(wantMsg.Time) {
		t.Errorf("time = %v; want %v", rec.msg.Time, wantMsg.Time)
	}
	rec.msg.Time = wantMsg.Time
	if rec.msg != wantMsg {
		t.Errorf("received %+v;\nwant %+v", rec.msg, wantMsg)
	}
	// The JSON keys are the stable lowerCamel ones, each always present.
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(rec.body, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "event", "deploymentId", "environment", "commit", "subject", "state", "risk",
		"plan", "actor", "reason", "url", "time"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("body lacks key %q: %s", k, rec.body)
		}
	}
	if len(keys) != 13 {
		t.Errorf("body has %d keys; want 13: %s", len(keys), rec.body)
	}
	if !strings.Contains(string(rec.body), `"plan":{"added":3,"modified":1,"removed":2,"breaking":true}`) {
		t.Errorf("plan not in its stable form: %s", rec.body)
	}
}

func TestWebhookUnsigned(t *testing.T) {
	got := make(chan received, 1)
	srv := webhookReceiver(t, nil, got)
	w, err := NewWebhook(WebhookConfig{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Send(context.Background(), testMessage("Approved")); err != nil {
		t.Fatal(err)
	}
	if rec := <-got; rec.header.Get("X-Honua-Signature-256") != "" {
		t.Errorf("unsigned webhook sent X-Honua-Signature-256 %q", rec.header.Get("X-Honua-Signature-256"))
	}
}

func TestWebhookRedirectNotFollowed(t *testing.T) {
	var followed atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		followed.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/new-hook?token=t0psecret", http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	w, err := NewWebhook(WebhookConfig{URL: redirector.URL + "/hook?token=0ldsecret"})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Send(context.Background(), testMessage("Approved"))
	if err == nil {
		t.Fatal("Send through a redirect succeeded; want an error")
	}
	if followed.Load() != 0 {
		t.Errorf("the redirect was followed %d times", followed.Load())
	}
	host := strings.TrimPrefix(target.URL, "http://")
	if !strings.Contains(err.Error(), "307") || !strings.Contains(err.Error(), host) {
		t.Errorf("error %q does not name the status and the Location's host %s", err, host)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q shows a token", err)
	}
}

func TestWebhookBoundedTime(t *testing.T) {
	release := make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select { // never answers; the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer stuck.Close()
	defer close(release) // before Close, which waits for the handlers

	// The client's timeout ends a Send whose ctx has no deadline.
	w, err := NewWebhook(WebhookConfig{URL: stuck.URL, Client: &http.Client{Timeout: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Send(context.Background(), testMessage("Approved")); err == nil || IsPermanent(err) {
		t.Errorf("Send to a receiver that never answers = %v; want a retryable error", err)
	}

	// A cancelled ctx ends it too, with a client that has no timeout of its own.
	w, err = NewWebhook(WebhookConfig{URL: stuck.URL, Client: &http.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := w.Send(ctx, testMessage("Approved")); err == nil || IsPermanent(err) || ctx.Err() == nil {
		t.Errorf("Send with an expiring ctx = %v; want a retryable error after the ctx ended", err)
	}
}

func TestWebhookRefusesBadConfigAndMessage(t *testing.T) {
	for _, u := range []string{"", "ftp://example.com/x", "http://", "://bad", "/relative"} {
		if _, err := NewWebhook(WebhookConfig{URL: u}); err == nil {
			t.Errorf("NewWebhook(%q) succeeded; want an error", u)
		}
	}
	w, err := NewWebhook(WebhookConfig{URL: "http://127.0.0.1:1/hook"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []Message{{Event: "Approved"}, {ID: "n-1"}} {
		if err := w.Send(context.Background(), m); !IsPermanent(err) {
			t.Errorf("Send(%+v) = %v; want a permanent error", m, err)
		}
	}
}
