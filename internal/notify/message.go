package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxReason is the most bytes of a Message's Reason any rendering carries:
// a longer reason is cut at a character boundary and ends with "…".
const MaxReason = 2048

// maxSubject bounds the commit's subject line, maxField every other
// string of a Message, in bytes (the same cut as Reason's).
const (
	maxSubject = 512
	maxField   = 256
	maxURL     = 2048
)

// Message is one notification, as every channel renders it. Its JSON form
// (lowerCamel keys, every key always present) is the webhook's body and
// is kept stable for receivers.
type Message struct {
	// ID is the notification's id: the same on every retry and after a
	// leader failover, so a receiver can drop duplicates by it.
	ID string `json:"id"`
	// Event is what happened: "DeploymentCreated", "ApprovalRequired",
	// "Approved", "Rejected", "DeploymentScheduled", "DeploymentStarted",
	// "DeploymentCompleted", "DeploymentFailed", "RolledBack" or
	// "RollbackFailed". An unknown event is rendered in a neutral colour.
	Event string `json:"event"`
	// DeploymentID is the deployment the event belongs to.
	DeploymentID string `json:"deploymentId"`
	// Environment is the deployment's environment.
	Environment string `json:"environment"`
	// Commit is the full commit id the deployment applies.
	Commit string `json:"commit"`
	// Subject is the commit's subject line.
	Subject string `json:"subject"`
	// State is the deployment's state after the event.
	State string `json:"state"`
	// Risk is the plan's risk level.
	Risk string `json:"risk"`
	// Plan summarises what the deployment changes.
	Plan PlanSummary `json:"plan"`
	// Actor is who approved, rejected or rolled back; empty for events
	// no person caused.
	Actor string `json:"actor"`
	// Reason is why (a rejection's or a failure's reason); at most
	// MaxReason bytes of it are sent.
	Reason string `json:"reason"`
	// URL links to the deployment: the configured base URL +
	// "/deployments/" + its id; empty when no base URL is configured.
	URL string `json:"url"`
	// Time is when the event happened.
	Time time.Time `json:"time"`
}

// PlanSummary counts what a deployment's plan changes.
type PlanSummary struct {
	// Added, Modified and Removed count the resources the plan adds,
	// changes and deletes.
	Added    int `json:"added"`
	Modified int `json:"modified"`
	Removed  int `json:"removed"`
	// Breaking says the plan holds a breaking change.
	Breaking bool `json:"breaking"`
}

// Sender sends one Message to one channel.
type Sender interface {
	// Send delivers m and returns nil only once the receiver accepted it.
	// An error for which IsPermanent is true will fail again however
	// often it is retried; any other error is worth retrying. Send is
	// bounded in time by ctx and by the channel's own timeout.
	Send(ctx context.Context, m Message) error
}

// Every channel is a Sender.
var (
	_ Sender = (*Webhook)(nil)
	_ Sender = (*Slack)(nil)
	_ Sender = (*Teams)(nil)
	_ Sender = (*Email)(nil)
)

// DefaultTimeout bounds one Send when ctx has no earlier deadline: an
// email's whole SMTP session, or an HTTP request when the channel's
// configuration gives no client or one without a timeout.
const DefaultTimeout = 30 * time.Second

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// permanent marks err as one that retrying cannot fix.
func permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, returned by a Sender, will recur
// however often the Message is sent again: the receiver refused it (an
// HTTP 4xx other than 408 and 429, an SMTP 5xx), or it cannot be rendered.
// Any other error is worth retrying.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// bounded returns m with every string cut to its bound, so that no
// rendering exceeds a receiver's limits.
func bounded(m Message) Message {
	m.ID = cut(m.ID, maxField)
	m.Event = cut(m.Event, maxField)
	m.DeploymentID = cut(m.DeploymentID, maxField)
	m.Environment = cut(m.Environment, maxField)
	m.Commit = cut(m.Commit, maxField)
	m.Subject = cut(m.Subject, maxSubject)
	m.State = cut(m.State, maxField)
	m.Risk = cut(m.Risk, maxField)
	m.Actor = cut(m.Actor, maxField)
	m.Reason = cut(m.Reason, MaxReason)
	if len(m.URL) > maxURL {
		m.URL = "" // a cut link leads nowhere; better none
	}
	return m
}

// ellipsis ends a string that cut shortened.
const ellipsis = "…"

// cut returns s when it is at most max bytes, else its longest prefix
// ending at a character boundary that, with an ellipsis, fits in max.
// Invalid UTF-8 is replaced first, so that every rendering is valid text.
func cut(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	n := max - len(ellipsis)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + ellipsis
}

// shortCommit is a commit id's first 7 characters, as git shows it.
func shortCommit(c string) string {
	if len(c) > 7 {
		return c[:7]
	}
	return c
}

// oneLine returns s with every control character (CR and LF included)
// replaced by a space and runs of spaces collapsed, so that it is safe in
// a header or a title.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' || r == '\u0085' {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// checkMessage refuses a Message no channel can deliver meaningfully: one
// without an id (a receiver could not drop its duplicates) or an event.
func checkMessage(m Message) error {
	if strings.TrimSpace(m.ID) == "" {
		return permanent(errors.New("notification has no id"))
	}
	if strings.TrimSpace(m.Event) == "" {
		return permanent(errors.New("notification has no event"))
	}
	return nil
}

// colour is the event's colour in Slack's attachment bar (and, through
// style, Teams' title): blue for progress, orange for attention, green for
// success, red for failure, grey for an event this package does not know.
func colour(event string) string {
	switch event {
	case "DeploymentCreated", "DeploymentStarted", "DeploymentScheduled":
		return "#1f6feb"
	case "ApprovalRequired", "RolledBack", "DriftDetected":
		return "#d29922"
	case "Approved", "DeploymentCompleted":
		return "#2da44e"
	case "Rejected", "DeploymentFailed", "RollbackFailed":
		return "#cf222e"
	}
	return "#8c959f"
}

// planText is a plan summary in words: "3 added, 1 modified, 0 removed,
// breaking".
func planText(p PlanSummary) string {
	s := fmt.Sprintf("%d added, %d modified, %d removed", p.Added, p.Modified, p.Removed)
	if p.Breaking {
		s += ", breaking"
	}
	return s
}
