// Package ui owns the web dashboard every honuad node serves at /ui/ on its
// API listener: the session (sign-in with a bearer token kept in an
// HttpOnly, SameSite=Strict cookie, sign-out, CSRF), the pages
// (html/template, with their CSS and scripts embedded in the binary), the
// actions (approve, reject, roll back, sync), and the live updates (a
// server-sent event stream proxied from the API's /v1/events).
//
// The dashboard holds no state and decides nothing itself: every read and
// every action is a call of the public API client (package api) carried in
// process to the node's own API handler (transport.go), with the session's
// token and the browser's address, so it passes the same authentication,
// role checks, rate limits and forwarding to the leader as honuactl. It
// asks the API which actions a token may take (whoami, an environment's
// approvers, a deployment's approval groups) only to decide which buttons
// to show; the API checks each action again and its refusal is what the
// user sees. For the cluster page it asks every member's own API over the
// peer TLS configuration the node forwards with.
//
// Security: a strict Content-Security-Policy on every answer (no inline
// script or style; connect-src only this node and the other members'
// APIs), a CSRF field bound to the token on every form, net/http's
// CrossOriginProtection on every POST, and the token never in a URL or a
// log line. Without a tokens file the API refuses every request a browser
// makes (internal/rpc/browser.go), so the dashboard then serves only a page
// that says it needs one.
//
// The rendering of the plan diff, the validation problems, the history
// chart, the transition timeline and the risk badge belongs to package
// ui/view; parts.go holds the one function per part the pages call.
package ui
