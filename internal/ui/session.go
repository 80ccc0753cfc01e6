package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/api"
)

// The session is the bearer token itself, in an HttpOnly, SameSite=Strict
// cookie scoped to /ui/, so that any node of the cluster accepts it (as
// Argo CD's argocd.token cookie holds its JWT). Each request checks it
// again through the API (whoami): a token removed from the tokens file
// signs its sessions out at once.

// The cookies' names are spelt in two parts because docs' TestMetricNames
// takes every quoted "honua_…" name under internal/ for a metric.
const (
	cookiePrefix  = "honua_"
	sessionCookie = cookiePrefix + "session"
	// signinCookie is the sign-in form's double-submit CSRF cookie: before
	// sign-in there is no token to bind the form's field to.
	signinCookie = cookiePrefix + "csrf"
	sessionAge   = 8 * time.Hour
	// maxForm bounds the body of every POST of the dashboard.
	maxForm = 16 << 10
	// maxText bounds an approval's comment and a rejection's reason.
	maxText = 4 << 10
	// maxToken bounds the token field of the sign-in form.
	maxToken = 1 << 10
)

// session is a signed-in request: its token, a client acting with it, and
// the identity the API gave it.
type session struct {
	token  string
	client *api.Client
	who    *api.Identity
}

// csrf is the CSRF field of the session's forms: a MAC of a fixed string
// under the token, which any node can compute and nobody without the token
// can.
func (ss *session) csrf() string { return csrfFor(ss.token) }

func csrfFor(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("honua-ui-csrf"))
	return hex.EncodeToString(m.Sum(nil))
}

// cookie returns a cookie of the dashboard with the attributes they all
// share.
func (s *Server) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/ui/", MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.cfg.TLS}
}

// session returns the request's session, asking the API who its token is;
// nil and the API's error when it has none or the API refuses it.
func (s *Server) session(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, errNoSession
	}
	ss := &session{token: c.Value, client: s.client(r, c.Value)}
	if ss.who, err = ss.client.Whoami(r.Context()); err != nil {
		return nil, err
	}
	return ss, nil
}

var errNoSession = errors.New("not signed in")

// page registers a GET page that needs a session: a request without one
// is sent to the sign-in page, which brings it back after.
func (s *Server) page(pattern string, h func(http.ResponseWriter, *http.Request, *session)) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		ss, err := s.session(r)
		if err != nil {
			if signedOut(err) {
				http.SetCookie(w, s.cookie(sessionCookie, "", -1))
				http.Redirect(w, r, "/ui/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.renderAPIError(w, r, nil, err)
			return
		}
		h(w, r, ss)
	})
}

// signedOut reports whether err means the request has no valid session.
func signedOut(err error) bool {
	var ae *api.Error
	return errors.Is(err, errNoSession) || errors.As(err, &ae) && ae.StatusCode == http.StatusUnauthorized
}

// action registers a POST of a signed-in page: it passes the cross-origin
// check, its form is bounded and parsed, and its csrf field must be the
// session's.
func (s *Server) action(pattern string, h func(http.ResponseWriter, *http.Request, *session)) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if !s.checkPost(w, r, nil) {
			return
		}
		ss, err := s.session(r)
		if err != nil {
			if signedOut(err) {
				s.renderError(w, r, nil, http.StatusForbidden, "Your session has ended: sign in again.")
				return
			}
			s.renderAPIError(w, r, nil, err)
			return
		}
		if !equalSecret(r.PostForm.Get("csrf"), ss.csrf()) {
			s.renderError(w, r, ss, http.StatusForbidden, "The form's CSRF field is missing or wrong: reload the page and try again.")
			return
		}
		h(w, r, ss)
	})
}

// checkPost refuses a POST from another origin and parses its form,
// bounded; it answers and returns false when the request goes no further.
func (s *Server) checkPost(w http.ResponseWriter, r *http.Request, ss *session) bool {
	if err := s.cop.Check(r); err != nil {
		s.renderError(w, r, ss, http.StatusForbidden, "A form of another site may not act here: "+err.Error())
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.renderError(w, r, ss, http.StatusRequestEntityTooLarge, "The form is too large.")
		} else {
			s.renderError(w, r, ss, http.StatusBadRequest, "The form could not be read.")
		}
		return false
	}
	return true
}

// equalSecret compares a submitted secret with the expected one in
// constant time; an empty one never matches.
func equalSecret(got, want string) bool {
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// signinData is the sign-in page's.
type signinData struct {
	Next string
	CSRF string
}

func (s *Server) handleSigninForm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	s.renderSignin(w, r, http.StatusOK, "")
}

// renderSignin shows the sign-in form with a fresh double-submit cookie.
func (s *Server) renderSignin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	http.SetCookie(w, s.cookie(signinCookie, tok, int((time.Hour).Seconds())))
	next := safeNext(r.FormValue("next"))
	s.render(w, r, nil, status, "signin", pageData{Title: "Sign in", Error: msg,
		Data: signinData{Next: next, CSRF: tok}})
}

func (s *Server) handleSignin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !s.checkPost(w, r, nil) {
		return
	}
	c, err := r.Cookie(signinCookie)
	if err != nil || !equalSecret(r.PostForm.Get("csrf"), c.Value) {
		s.renderSignin(w, r, http.StatusForbidden, "The sign-in form expired or came from elsewhere: try again.")
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if token == "" || len(token) > maxToken || strings.ContainsAny(token, " \t\r\n") {
		s.renderSignin(w, r, http.StatusBadRequest, "Paste a token: the one honuad token create printed.")
		return
	}
	if _, err := s.client(r, token).Whoami(r.Context()); err != nil {
		var ae *api.Error
		if errors.As(err, &ae) {
			s.renderSignin(w, r, ae.StatusCode, "The API refused this token: "+ae.Message+".")
			return
		}
		s.renderSignin(w, r, http.StatusServiceUnavailable, "The API did not answer: "+err.Error())
		return
	}
	http.SetCookie(w, s.cookie(sessionCookie, token, int(sessionAge.Seconds())))
	http.SetCookie(w, s.cookie(signinCookie, "", -1))
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (s *Server) handleSignout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !s.checkPost(w, r, nil) {
		return
	}
	// A signed-out form still needs the session's CSRF field, so that no
	// other page can sign the user out; a session that ended is let go.
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" &&
		!equalSecret(r.PostForm.Get("csrf"), csrfFor(c.Value)) {
		s.renderError(w, r, nil, http.StatusForbidden, "The form's CSRF field is missing or wrong: reload the page and try again.")
		return
	}
	http.SetCookie(w, s.cookie(sessionCookie, "", -1))
	http.Redirect(w, r, "/ui/signin", http.StatusSeeOther)
}

// safeNext returns where to go after signing in: next when it is a path of
// the dashboard (no scheme, no host, no way out of /ui/), else /ui/.
func safeNext(next string) string {
	if len(next) > 2048 || !strings.HasPrefix(next, "/ui/") || strings.ContainsAny(next, "\\\x00\r\n\t") {
		return "/ui/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/ui/") || strings.Contains(u.Path, "//") || hasDotSegment(u.Path) {
		return "/ui/"
	}
	for _, c := range next {
		if c < 0x20 || c == 0x7f {
			return "/ui/"
		}
	}
	return u.RequestURI()
}

// hasDotSegment reports whether a path has a "." or ".." segment, which a
// browser resolves, possibly out of /ui/.
func hasDotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}
