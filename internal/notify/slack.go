package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// SlackConfig configures a Slack incoming webhook.
type SlackConfig struct {
	// URL is the incoming webhook's URL. It is a secret: it never appears
	// in an error or a log.
	URL string
	// Client sends the request, as WebhookConfig.Client.
	Client *http.Client
}

// Slack posts each Message to a Slack incoming webhook as Block Kit
// blocks in an attachment coloured by the event, with a plain text
// fallback. It is a Sender.
type Slack struct{ http *httpSender }

// NewSlack checks c and returns its Slack sender.
func NewSlack(c SlackConfig) (*Slack, error) {
	h, err := newHTTPSender(c.URL, "slack webhook", c.Client)
	if err != nil {
		return nil, err
	}
	return &Slack{http: h}, nil
}

// Send posts m's Slack payload.
func (s *Slack) Send(ctx context.Context, m Message) error {
	if err := checkMessage(m); err != nil {
		return fmt.Errorf("slack webhook: %w", err)
	}
	body, err := json.Marshal(slackPayload(bounded(m)))
	if err != nil {
		return permanent(fmt.Errorf("slack webhook: encode: %w", err))
	}
	return s.http.post(ctx, body, nil)
}

// Slack's Block Kit types, as much of them as the payload uses.
type (
	slackMessage struct {
		Text        string            `json:"text"`
		Attachments []slackAttachment `json:"attachments"`
	}
	slackAttachment struct {
		Color    string       `json:"color"`
		Fallback string       `json:"fallback"`
		Blocks   []slackBlock `json:"blocks"`
	}
	slackBlock struct {
		Type     string         `json:"type"`
		Text     *slackText     `json:"text,omitempty"`
		Fields   []slackText    `json:"fields,omitempty"`
		Elements []slackElement `json:"elements,omitempty"`
	}
	slackText struct {
		Type string `json:"type"` // "plain_text" or "mrkdwn"
		Text string `json:"text"`
	}
	slackElement struct {
		Type string    `json:"type"` // "button"
		Text slackText `json:"text"`
		URL  string    `json:"url"`
	}
)

// Slack's limits on the texts the payload fills.
const (
	slackHeaderMax = 150  // a header block's plain_text
	slackFieldMax  = 2000 // a section field
	slackTextMax   = 3000 // a section's text
)

// slackPayload renders m (bounded) as an incoming webhook's payload.
func slackPayload(m Message) slackMessage {
	title := cut(oneLine(m.Event+" - "+m.Environment), slackHeaderMax)
	field := func(name, value string) slackText {
		return slackText{Type: "mrkdwn", Text: cut("*"+name+"*\n"+slackEscape(value), slackFieldMax)}
	}
	fields := []slackText{
		field("Deployment", m.DeploymentID),
		field("Environment", m.Environment),
		field("Commit", strings.TrimSpace(shortCommit(m.Commit)+" "+m.Subject)),
		field("State", m.State),
		field("Risk", m.Risk),
		field("Plan", planText(m.Plan)),
	}
	if m.Actor != "" {
		fields = append(fields, field("Actor", m.Actor))
	}
	blocks := []slackBlock{
		{Type: "header", Text: &slackText{Type: "plain_text", Text: title}},
		{Type: "section", Fields: fields},
	}
	if m.Reason != "" {
		blocks = append(blocks, slackBlock{Type: "section",
			Text: &slackText{Type: "mrkdwn", Text: cut("*Reason*\n"+slackEscape(m.Reason), slackTextMax)}})
	}
	if m.URL != "" {
		blocks = append(blocks, slackBlock{Type: "actions", Elements: []slackElement{{
			Type: "button", Text: slackText{Type: "plain_text", Text: "View deployment"}, URL: m.URL,
		}}})
	}
	text := fallbackText(m)
	return slackMessage{
		Text:        text,
		Attachments: []slackAttachment{{Color: colour(m.Event), Fallback: text, Blocks: blocks}},
	}
}

// fallbackText is a Message in one line, for clients that show no blocks
// (and notifications on phones).
func fallbackText(m Message) string {
	s := fmt.Sprintf("[Honua GitOps] %s - %s - %s (%s, risk %s)", m.Event, m.Environment, m.DeploymentID, m.State, m.Risk)
	if m.Actor != "" {
		s += " by " + m.Actor
	}
	return oneLine(s)
}

// slackEscape escapes the three characters Slack's mrkdwn gives meaning
// to, so that a commit subject or a reason cannot form a link or a
// mention.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
