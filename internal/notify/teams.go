package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// TeamsConfig configures a Microsoft Teams Workflows webhook.
type TeamsConfig struct {
	// URL is the workflow's webhook URL. It is a secret: it never appears
	// in an error or a log.
	URL string
	// Client sends the request, as WebhookConfig.Client.
	Client *http.Client
}

// Teams posts each Message to a Teams Workflows webhook as an Adaptive
// Card (version 1.4). It is a Sender.
type Teams struct{ http *httpSender }

// NewTeams checks c and returns its Teams sender.
func NewTeams(c TeamsConfig) (*Teams, error) {
	h, err := newHTTPSender(c.URL, "teams webhook", c.Client)
	if err != nil {
		return nil, err
	}
	return &Teams{http: h}, nil
}

// Send posts m's Adaptive Card.
func (t *Teams) Send(ctx context.Context, m Message) error {
	if err := checkMessage(m); err != nil {
		return fmt.Errorf("teams webhook: %w", err)
	}
	body, err := json.Marshal(teamsPayload(bounded(m)))
	if err != nil {
		return permanent(fmt.Errorf("teams webhook: encode: %w", err))
	}
	return t.http.post(ctx, body, nil)
}

// The Workflows webhook's message and the Adaptive Card elements it uses.
type (
	teamsMessage struct {
		Type        string            `json:"type"` // "message"
		Attachments []teamsAttachment `json:"attachments"`
	}
	teamsAttachment struct {
		ContentType string    `json:"contentType"`
		Content     teamsCard `json:"content"`
	}
	teamsCard struct {
		Schema  string         `json:"$schema"`
		Type    string         `json:"type"` // "AdaptiveCard"
		Version string         `json:"version"`
		Body    []teamsElement `json:"body"`
		Actions []teamsOpenURL `json:"actions,omitempty"`
	}
	teamsElement struct {
		Type   string      `json:"type"` // "TextBlock" or "FactSet"
		Text   string      `json:"text,omitempty"`
		Size   string      `json:"size,omitempty"`
		Weight string      `json:"weight,omitempty"`
		Color  string      `json:"color,omitempty"`
		Wrap   bool        `json:"wrap,omitempty"`
		Facts  []teamsFact `json:"facts,omitempty"`
	}
	teamsFact struct {
		Title string `json:"title"`
		Value string `json:"value"`
	}
	teamsOpenURL struct {
		Type  string `json:"type"` // "Action.OpenUrl"
		Title string `json:"title"`
		URL   string `json:"url"`
	}
)

// teamsColor is the title's colour by event, Teams' nearest to Slack's.
func teamsColor(event string) string {
	switch colour(event) {
	case "#1f6feb":
		return "Accent"
	case "#d29922":
		return "Warning"
	case "#2da44e":
		return "Good"
	case "#cf222e":
		return "Attention"
	}
	return "Default"
}

// teamsPayload renders m (bounded) as a Workflows webhook message.
func teamsPayload(m Message) teamsMessage {
	facts := []teamsFact{
		{"Deployment", m.DeploymentID},
		{"Environment", m.Environment},
		{"Commit", strings.TrimSpace(shortCommit(m.Commit) + " " + m.Subject)},
		{"State", m.State},
		{"Risk", m.Risk},
		{"Plan", planText(m.Plan)},
	}
	if m.Actor != "" {
		facts = append(facts, teamsFact{"Actor", m.Actor})
	}
	if m.Reason != "" {
		facts = append(facts, teamsFact{"Reason", m.Reason})
	}
	card := teamsCard{
		Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
		Type:    "AdaptiveCard",
		Version: "1.4",
		Body: []teamsElement{
			{Type: "TextBlock", Text: oneLine(m.Event + " - " + m.Environment), Size: "Medium", Weight: "Bolder",
				Color: teamsColor(m.Event), Wrap: true},
			{Type: "FactSet", Facts: facts},
		},
	}
	if m.URL != "" {
		card.Actions = []teamsOpenURL{{Type: "Action.OpenUrl", Title: "View deployment", URL: m.URL}}
	}
	return teamsMessage{Type: "message", Attachments: []teamsAttachment{{
		ContentType: "application/vnd.microsoft.card.adaptive", Content: card,
	}}}
}
