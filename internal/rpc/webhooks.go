package rpc

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
)

// WebhookSecrets are the shared secrets of the webhook endpoints. An empty
// secret means that endpoint accepts unsigned deliveries.
type WebhookSecrets struct {
	GitHub  []byte
	GitLab  []byte
	Generic []byte
}

// maxWebhookBody is the largest delivery accepted.
const maxWebhookBody = 1 << 20

// webhookError is a refused delivery: its status, code and metric result.
type webhookError struct {
	status int
	code   string
	result string
	msg    string
}

func (e *webhookError) Error() string { return e.msg }

func unauthorized(msg string) *webhookError {
	return &webhookError{http.StatusUnauthorized, "unauthorized", "unauthorized", msg}
}

// handleWebhook accepts a push notification from GitHub, GitLab or any
// other system, checks its signature, and turns a push to the watched
// branch into an immediate poll on the leader. Nothing from a delivery that
// failed its check is logged.
func (s *Server) handleWebhook(w http.ResponseWriter, r *http.Request) {
	source := r.PathValue("source")
	var verify func(*http.Request, []byte) (delivery, *webhookError)
	switch source {
	case "github":
		verify = s.verifyGitHub
	case "gitlab":
		verify = s.verifyGitLab
	case "generic":
		verify = s.verifyGeneric
	default:
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no webhook %q (use github, gitlab or generic)", source))
		return
	}
	refuse := func(e *webhookError) {
		s.metrics.webhooks.WithLabelValues(source, e.result).Inc()
		if e.result == "unauthorized" {
			s.log(r).Warn("webhook refused", "source", source, "remote", r.RemoteAddr, "reason", e.msg)
		}
		writeError(w, e.status, e.code, e.msg)
	}
	if s.cfg.Pipeline == nil || s.cfg.Repository == nil {
		refuse(&webhookError{http.StatusServiceUnavailable, "no_repository", "unavailable",
			"this cluster watches no repository (no repository section in its configuration)"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			refuse(&webhookError{http.StatusRequestEntityTooLarge, "too_large", "too_large",
				fmt.Sprintf("webhook body over %d bytes", maxWebhookBody)})
			return
		}
		refuse(&webhookError{http.StatusBadRequest, "bad_request", "bad_request", "read webhook body: " + err.Error()})
		return
	}
	d, werr := verify(r, body)
	if werr != nil {
		refuse(werr)
		return
	}
	want := "refs/heads/" + s.cfg.Repository.Branch
	if d.ignore == "" && d.ref != "" && d.ref != want {
		d.ignore = fmt.Sprintf("%s is not the watched branch %s", d.ref, want)
	}
	switch {
	case d.ping:
		s.metrics.webhooks.WithLabelValues(source, "ignored").Inc()
		writeJSON(w, http.StatusOK, map[string]string{"status": "pong"})
	case d.ignore != "":
		s.metrics.webhooks.WithLabelValues(source, "ignored").Inc()
		writeJSON(w, http.StatusOK, map[string]string{"status": "ignored", "reason": d.ignore})
	default:
		s.pollOnLeader(w, r, source, body, d.commit)
	}
}

// pollOnLeader starts a poll on the leader: here when this node leads,
// otherwise by forwarding the delivery, which the leader checks again (and
// reads the pushed commit from again).
func (s *Server) pollOnLeader(w http.ResponseWriter, r *http.Request, source string, body []byte, commit string) {
	if s.cfg.Cluster.IsLeader() {
		s.cfg.Pipeline.PollCommit("webhook "+source, commit)
		s.metrics.webhooks.WithLabelValues(source, "accepted").Inc()
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted", "node": s.cfg.Cluster.ID()})
		return
	}
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	s.forwardBody(rec, r, body)
	result := "forwarded"
	if rec.code >= 500 {
		result = "unavailable"
	}
	s.metrics.webhooks.WithLabelValues(source, result).Inc()
}

// delivery is what an authenticated webhook asks for.
type delivery struct {
	ref string // the pushed ref; "" means the watched branch
	// commit is the commit the push says the ref now holds ("" when it
	// names none, or not as a full hash): a hint that lets the leader
	// fetch at once, never what it deploys.
	commit string
	ping   bool
	ignore string // why the delivery triggers nothing
}

// pushRef reads the "ref" of a push payload, and its "after", the commit
// GitHub's and GitLab's pushes say the ref now holds.
func pushRef(body []byte) (delivery, *webhookError) {
	var p struct {
		Ref   string `json:"ref"`
		After string `json:"after"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return delivery{}, &webhookError{http.StatusBadRequest, "bad_request", "bad_request", "push payload is not JSON: " + err.Error()}
	}
	d := delivery{ref: p.Ref}
	if pushedCommit.MatchString(p.After) && strings.Trim(p.After, "0") != "" {
		// All zeros is a deleted branch: no commit to fetch.
		d.commit = strings.ToLower(p.After)
	}
	return d, nil
}

// pushedCommit is a full SHA-1 commit hash.
var pushedCommit = regexp.MustCompile(`^[0-9a-fA-F]{40}$`)

// verifyGitHub checks X-Hub-Signature-256 (HMAC-SHA256 of the raw body,
// "sha256=<hex>"); the SHA-1 X-Hub-Signature alone is refused.
func (s *Server) verifyGitHub(r *http.Request, body []byte) (delivery, *webhookError) {
	if secret := s.cfg.Webhooks.GitHub; len(secret) > 0 {
		sig := r.Header.Get("X-Hub-Signature-256")
		if sig == "" && r.Header.Get("X-Hub-Signature") != "" {
			return delivery{}, unauthorized("only an X-Hub-Signature (SHA-1) header was sent; SHA-1 signatures are not accepted: send X-Hub-Signature-256")
		}
		if sig == "" {
			return delivery{}, unauthorized("missing X-Hub-Signature-256 header")
		}
		if !validHMAC(secret, body, sig) {
			return delivery{}, unauthorized("X-Hub-Signature-256 does not match the body and the configured secret")
		}
	}
	switch event := r.Header.Get("X-GitHub-Event"); event {
	case "ping":
		return delivery{ping: true}, nil
	case "push":
		return pushRef(body)
	default:
		return delivery{ignore: fmt.Sprintf("event %q is not a push", event)}, nil
	}
}

// verifyGitLab checks X-Gitlab-Token against the configured token.
func (s *Server) verifyGitLab(r *http.Request, body []byte) (delivery, *webhookError) {
	if token := s.cfg.Webhooks.GitLab; len(token) > 0 {
		got := r.Header.Get("X-Gitlab-Token")
		if got == "" {
			return delivery{}, unauthorized("missing X-Gitlab-Token header")
		}
		if subtle.ConstantTimeCompare([]byte(got), token) != 1 {
			return delivery{}, unauthorized("X-Gitlab-Token does not match the configured token")
		}
	}
	switch event := r.Header.Get("X-Gitlab-Event"); event {
	case "Push Hook":
		return pushRef(body)
	default:
		return delivery{ignore: fmt.Sprintf("event %q is not a push", event)}, nil
	}
}

// verifyGeneric checks X-Honua-Signature ("sha256=<hex>" HMAC-SHA256 of the
// body). The body may name a "ref" and, as "after", the commit it now
// holds; an empty body means the watched branch.
func (s *Server) verifyGeneric(r *http.Request, body []byte) (delivery, *webhookError) {
	if secret := s.cfg.Webhooks.Generic; len(secret) > 0 {
		sig := r.Header.Get("X-Honua-Signature")
		if sig == "" {
			return delivery{}, unauthorized("missing X-Honua-Signature header")
		}
		if !validHMAC(secret, body, sig) {
			return delivery{}, unauthorized("X-Honua-Signature does not match the body and the configured secret")
		}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return delivery{}, nil
	}
	return pushRef(body)
}

// validHMAC reports whether sig ("sha256=<hex>") is the HMAC-SHA256 of body
// under secret, compared in constant time.
func validHMAC(secret, body []byte, sig string) bool {
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}
