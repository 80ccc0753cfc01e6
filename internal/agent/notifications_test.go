package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A notifications section is checked at start like the rest of the
// configuration: each mistake is refused naming its field and why, and a
// complete section passes.
func TestNotificationsConfig(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	secret := file("hook-secret", "s3cret\n")
	slackURL := file("slack-url", "https://hooks.slack.example/services/T0/B0/x\n")
	teamsURL := file("teams-url", "https://example.webhook.office.example/workflows/1\n")
	plainURL := file("plain-url", "http://hooks.example/x\n")
	blank := file("blank", "  \n")
	user, pass := file("smtp-user", "gitops\n"), file("smtp-pass", "pw\n")
	missing := filepath.Join(dir, "missing")

	good := func() NotificationsConfig {
		return NotificationsConfig{
			BaseURL: "https://gitops.example.com",
			Channels: []ChannelConfig{
				{Name: "ops-hook", Type: "webhook", URL: "http://127.0.0.1:9/hook", SecretFile: secret},
				{Name: "team", Type: "slack", URLFile: slackURL},
				{Name: "teams", Type: "teams", URLFile: teamsURL},
				{Name: "approvers-mail", Type: "email", To: []string{"ops@example.com"},
					SMTP: SMTPConfig{Host: "smtp.example.com", Port: 587, StartTLS: true, UsernameFile: user, PasswordFile: pass, From: "gitops@example.com"}},
			},
			Routes: []NotificationRoute{
				{Events: []string{"ApprovalRequired"}, Environments: []string{"production"}, Channels: []string{"approvers-mail", "team"}},
				{Events: []string{"DeploymentFailed", "RolledBack", "DeploymentCompleted"}, Channels: []string{"ops-hook"}},
			},
		}
	}
	cfg := testConfig(t)
	cfg.Notifications = good()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("a complete notifications section: %v", err)
	}
	if r := cfg.Notifications.Retry; r.MaxAttempts != DefaultNotificationAttempts ||
		time.Duration(r.InitialInterval) != DefaultNotificationInitial || time.Duration(r.MaxInterval) != DefaultNotificationMax {
		t.Errorf("retry after Validate = %+v; want the defaults", r)
	}

	for _, tt := range []struct {
		name        string
		change      func(n *NotificationsConfig)
		field, want string
	}{
		{"base URL", func(n *NotificationsConfig) { n.BaseURL = "gitops.example.com" },
			"notifications.baseURL", "http(s) URL"},
		{"unknown channel in a route", func(n *NotificationsConfig) { n.Routes[1].Channels = []string{"pager"} },
			"notifications.routes[1].channels[0]", "is not a channel"},
		{"unknown event", func(n *NotificationsConfig) { n.Routes[0].Events = []string{"Deployed"} },
			"notifications.routes[0].events[0]", "ApprovalRequired"},
		{"route without channels", func(n *NotificationsConfig) { n.Routes[0].Channels = nil },
			"notifications.routes[0].channels", "at least one"},
		{"bad environment", func(n *NotificationsConfig) { n.Routes[0].Environments = []string{"Prod"} },
			"notifications.routes[0].environments[0]", "environment name"},
		{"missing secret file", func(n *NotificationsConfig) { n.Channels[0].SecretFile = missing },
			"notifications.channels[0].secretFile", "cannot be read"},
		{"blank secret file", func(n *NotificationsConfig) { n.Channels[0].SecretFile = blank },
			"notifications.channels[0].secretFile", "only whitespace"},
		{"bad webhook URL", func(n *NotificationsConfig) { n.Channels[0].URL = "ftp://x/hook" },
			"notifications.channels[0].url", "http(s) URL"},
		{"webhook URL with a password", func(n *NotificationsConfig) { n.Channels[0].URL = "https://u:p@hooks.example/x" },
			"notifications.channels[0].url", "credentials"},
		{"slack URL in the configuration", func(n *NotificationsConfig) { n.Channels[1].URL = "https://hooks.slack.example/x" },
			"notifications.channels[1].url", "is a secret"},
		{"slack without urlFile", func(n *NotificationsConfig) { n.Channels[1].URLFile = "" },
			"notifications.channels[1].urlFile", "is required"},
		{"teams URL not https", func(n *NotificationsConfig) { n.Channels[2].URLFile = plainURL },
			"notifications.channels[2].urlFile", "https URL"},
		{"duplicate channel", func(n *NotificationsConfig) { n.Channels[2].Name = "team" },
			"notifications.channels[2].name", "another channel"},
		{"bad channel name", func(n *NotificationsConfig) { n.Channels[0].Name = "Ops Hook" },
			"notifications.channels[0].name", "lowercase"},
		{"unknown type", func(n *NotificationsConfig) { n.Channels[0].Type = "pager" },
			"notifications.channels[0].type", "webhook, slack, teams, email"},
		{"email without host", func(n *NotificationsConfig) { n.Channels[3].SMTP.Host = "" },
			"notifications.channels[3].smtp.host", "is required"},
		{"email bad port", func(n *NotificationsConfig) { n.Channels[3].SMTP.Port = 0 },
			"notifications.channels[3].smtp.port", "1 to 65535"},
		{"email credentials without TLS", func(n *NotificationsConfig) { n.Channels[3].SMTP.StartTLS = false },
			"notifications.channels[3].smtp", "only over TLS"},
		{"email half credentials", func(n *NotificationsConfig) { n.Channels[3].SMTP.PasswordFile = "" },
			"notifications.channels[3].smtp", "go together"},
		{"email bad from", func(n *NotificationsConfig) { n.Channels[3].SMTP.From = "gitops" },
			"notifications.channels[3].smtp.from", "mail address"},
		{"email no recipient", func(n *NotificationsConfig) { n.Channels[3].To = nil },
			"notifications.channels[3].to", "at least one"},
		{"retry attempts", func(n *NotificationsConfig) { n.Retry.MaxAttempts = -1 },
			"notifications.retry.maxAttempts", "1 to 1000"},
		{"retry interval too short", func(n *NotificationsConfig) { n.Retry.InitialInterval = Duration(time.Millisecond) },
			"notifications.retry.initialInterval", "at least 10ms"},
		{"retry max below initial", func(n *NotificationsConfig) {
			n.Retry.InitialInterval, n.Retry.MaxInterval = Duration(time.Minute), Duration(time.Second)
		}, "notifications.retry.maxInterval", "below initialInterval"},
		{"email missing template", func(n *NotificationsConfig) { n.Channels[3].Templates.HTMLFile = missing },
			"notifications.channels[3].templates.htmlFile", "cannot be read"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			n := good()
			tt.change(&n)
			cfg.Notifications = n
			err := cfg.Validate()
			if err == nil {
				t.Fatal("Validate = nil; want a refusal")
			}
			if msg := err.Error(); !strings.Contains(msg, tt.field) || !strings.Contains(msg, tt.want) {
				t.Errorf("Validate = %q; want it to name %s and say %q", msg, tt.field, tt.want)
			}
			for _, s := range []string{"s3cret", "hooks.slack.example/services", "u:p@"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("Validate = %q; it shows a secret (%s)", err, s)
				}
			}
		})
	}
}
