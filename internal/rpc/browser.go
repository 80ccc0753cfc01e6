package rpc

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// The API serves no web pages and answers no CORS preflight, so no page may
// use it. A browser still sends some requests without asking the server
// first ("simple requests": GET, or a POST with no body or a text/plain,
// form or multipart one) and marks them with Origin and Sec-Fetch-Site. So
// that a page the user happens to visit cannot act on the API:
//
//   - a JSON body is read only with Content-Type: application/json (a page
//     cannot send that without a preflight), and a backup only as
//     application/octet-stream;
//   - a write (any method but GET and HEAD) from another origin is
//     refused, token or not;
//   - without a tokens file a request needs no secret at all, and a page can
//     even reach a loopback API as its own origin by pointing its name at
//     127.0.0.1 (DNS rebinding), so every request a page makes is refused,
//     reads too; an address the user typed (Sec-Fetch-Site: none) is served.
//
// Clients that are not browsers (honuactl, curl, the Go client) send none of
// these headers and are not affected.

// errUnsupportedMediaType is a body whose Content-Type the endpoint does not
// read.
var errUnsupportedMediaType = errors.New("unsupported media type")

// checkBrowser refuses a request a browser made for a web page, as the
// comment above says; authOff is true without a tokens file.
func checkBrowser(r *http.Request, authOff bool) error {
	origin, site := r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site")
	if authOff {
		if origin != "" || (site != "" && site != "none") {
			return fmt.Errorf("without a tokens file this API serves no request made by a web page (Origin %q, Sec-Fetch-Site %q): "+
				"use honuactl or another client that is not a browser", origin, site)
		}
		return nil
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	if site != "" && site != "same-origin" && site != "none" {
		return fmt.Errorf("%s %s from a web page of another origin (Sec-Fetch-Site: %s) is refused", r.Method, r.URL.Path, site)
	}
	if origin != "" && !sameOrigin(origin, r.Host) {
		return fmt.Errorf("%s %s from a web page of another origin (Origin: %s, not %s) is refused", r.Method, r.URL.Path, origin, r.Host)
	}
	return nil
}

// sameOrigin reports whether an Origin header names the host and port the
// request was sent to. "null" (an opaque origin) names none.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		(u.Path == "" || u.Path == "/") && strings.EqualFold(u.Host, host)
}

// checkMediaType refuses a body whose Content-Type is not want (parameters,
// such as charset, are allowed).
func checkMediaType(r *http.Request, want string) error {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == want {
		return nil
	}
	return fmt.Errorf("%s %s takes a body of Content-Type %s, not %q: %w", r.Method, r.URL.Path, want, ct, errUnsupportedMediaType)
}
