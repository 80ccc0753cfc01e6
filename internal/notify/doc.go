// Package notify owns rendering and sending one notification to one
// channel: a signed JSON webhook, a Slack incoming webhook (Block Kit), a
// Microsoft Teams Workflows webhook (an Adaptive Card) or an email over
// SMTP. It knows nothing of the replicated outbox, the routes or the
// retry schedule: the leader's delivery loop builds a Message, picks the
// Sender of the route's channel, calls Send, and decides from the error
// whether to try again.
//
// # Guarantees
//
// Every Sender puts the Message's ID where a receiver can drop a duplicate:
// the webhook's X-Honua-Delivery header, the email's Message-ID. A retry
// of the same notification, by the same leader or a new one, carries the
// same ID, so delivery is at least once and a careful receiver makes it
// exactly once.
//
// Sizes are bounded before rendering (see Message): a Reason is cut to
// MaxReason bytes, every other free-form field to a few hundred, so a long
// rejection reason or commit subject never makes Slack or Teams refuse
// the payload. Header values (the email's subject and X-Honua-* headers,
// the webhook's headers) lose their control characters, so no field can
// inject a header.
//
// # Failures
//
// Send returns nil only when the receiver accepted the message: an HTTP
// 2xx, or the SMTP server's 250 after DATA. An error that retrying cannot
// fix (an HTTP 4xx other than 408 and 429, an SMTP 5xx reply, a template
// that fails on the message) is marked so that IsPermanent reports it;
// every other error (a 5xx, 408, 429, a redirect, a timeout, a refused
// connection, an SMTP 4xx) is worth retrying. Redirects are never
// followed: the error names where the receiver pointed.
//
// Errors never carry a secret. Slack and Teams webhook URLs are secrets in
// themselves, so their errors say "slack webhook" or "teams webhook" and
// the status; a generic webhook's URL is shown as its scheme and host
// only, and an SMTP password never appears.
//
// # Email templates
//
// The subject and the text part are text/template templates, the HTML
// part an html/template template; the defaults are embedded
// (templates/*.tmpl) and LoadTemplates reads an operator's own. Each is
// executed with the bounded Message as its data, with two functions:
//
//	short   the first 7 characters of a commit id ({{short .Commit}})
//	plan    a plan summary in words ({{plan .Plan}}: "3 added, 1 modified, 0 removed, breaking")
//
// The subject is then flattened to one line and encoded for the header.
package notify
