package agent

import (
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/outbox"
)

// NotificationsConfig is the notifications section: where deployment
// events are sent (channels) and which events go where (routes). Secrets
// (a webhook's signing secret, Slack's and Teams' webhook URLs, SMTP
// credentials) are read from files, never written in the configuration.
type NotificationsConfig struct {
	// BaseURL prefixes a deployment's path in the links notifications
	// carry ("https://gitops.example.com" gives
	// https://gitops.example.com/deployments/<id>).
	BaseURL  string              `yaml:"baseURL"`
	Channels []ChannelConfig     `yaml:"channels"`
	Routes   []NotificationRoute `yaml:"routes"`
	Retry    RetryConfig         `yaml:"retry"`
}

// RetryConfig shapes how the leader retries a notification its channel
// did not take: exponentially from InitialInterval, doubling up to
// MaxInterval with ±50% jitter, MaxAttempts times in all.
type RetryConfig struct {
	MaxAttempts     int      `yaml:"maxAttempts"`
	InitialInterval Duration `yaml:"initialInterval"`
	MaxInterval     Duration `yaml:"maxInterval"`
}

// Defaults of notifications.retry.
const (
	DefaultNotificationAttempts = outbox.DefaultMaxAttempts
	DefaultNotificationInitial  = outbox.DefaultInitialInterval
	DefaultNotificationMax      = outbox.DefaultMaxInterval
)

// maxNotificationAttempts bounds notifications.retry.maxAttempts.
const maxNotificationAttempts = 1000

// ChannelConfig is one place notifications are sent to.
type ChannelConfig struct {
	// Name is how routes name the channel: lowercase letters, digits and
	// '-'.
	Name string `yaml:"name"`
	// Type is webhook, slack, teams or email.
	Type string `yaml:"type"`
	// URL is a webhook channel's address (not a secret: the secret is
	// SecretFile).
	URL string `yaml:"url"`
	// URLFile holds a Slack or Teams webhook URL, which is a secret.
	URLFile string `yaml:"urlFile"`
	// SecretFile holds a webhook channel's signing secret (optional).
	SecretFile string `yaml:"secretFile"`
	// SMTP and To are an email channel's server and recipients.
	SMTP      SMTPConfig      `yaml:"smtp"`
	To        []string        `yaml:"to"`
	Templates TemplatesConfig `yaml:"templates"`
}

// SMTPConfig is an email channel's mail server.
type SMTPConfig struct {
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// StartTLS requires STARTTLS; ImplicitTLS speaks TLS from the first
	// byte (port 465). One of them is required with credentials.
	StartTLS     bool   `yaml:"startTLS"`
	ImplicitTLS  bool   `yaml:"implicitTLS"`
	UsernameFile string `yaml:"usernameFile"`
	PasswordFile string `yaml:"passwordFile"`
	From         string `yaml:"from"`
}

// TemplatesConfig names files that replace an email channel's default
// templates (Go text/template for the subject and text part, html/template
// for the HTML part).
type TemplatesConfig struct {
	SubjectFile string `yaml:"subjectFile"`
	TextFile    string `yaml:"textFile"`
	HTMLFile    string `yaml:"htmlFile"`
}

// NotificationRoute sends the events it names, of the environments it
// names (all when none), to its channels.
type NotificationRoute struct {
	Events       []string `yaml:"events"`
	Environments []string `yaml:"environments"`
	Channels     []string `yaml:"channels"`
}

// channelTypes are the kinds of channel honuad can send to.
var channelTypes = []string{"webhook", "slack", "teams", "email"}

// validateNotifications checks the notifications section: every channel
// complete and its files readable, every route naming known events,
// environments and channels.
func (c *Config) validateNotifications() []error {
	n := &c.Notifications
	var errs []error
	bad := func(field string, v any, why string) {
		errs = append(errs, &cluster.FieldError{Field: field, Value: v, Why: why})
	}
	r := &n.Retry
	if r.MaxAttempts == 0 {
		r.MaxAttempts = DefaultNotificationAttempts
	} else if r.MaxAttempts < 1 || r.MaxAttempts > maxNotificationAttempts {
		bad("notifications.retry.maxAttempts", r.MaxAttempts, fmt.Sprintf("must be 1 to %d", maxNotificationAttempts))
	}
	if r.InitialInterval == 0 {
		r.InitialInterval = Duration(DefaultNotificationInitial)
	}
	if r.MaxInterval == 0 {
		r.MaxInterval = Duration(DefaultNotificationMax)
	}
	switch {
	case r.InitialInterval < Duration(10*time.Millisecond):
		bad("notifications.retry.initialInterval", time.Duration(r.InitialInterval).String(), "must be at least 10ms")
	case r.MaxInterval < r.InitialInterval:
		bad("notifications.retry.maxInterval", time.Duration(r.MaxInterval).String(), "must not be below initialInterval")
	}
	if n.BaseURL != "" {
		if u, err := url.Parse(n.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("notifications.baseURL", n.BaseURL, "must be an http(s) URL")
		}
	}
	readable := func(field, path string, required bool) {
		switch {
		case path == "" && required:
			bad(field, "", "is required")
		case path == "":
		default:
			if b, err := os.ReadFile(path); err != nil {
				bad(field, path, "cannot be read: "+err.Error())
			} else if why := noSecret(b); why != "" {
				bad(field, path, why)
			}
		}
	}
	names := map[string]bool{}
	for i, ch := range n.Channels {
		field := fmt.Sprintf("notifications.channels[%d]", i)
		switch {
		case !fsm.ValidChannelName(ch.Name):
			bad(field+".name", ch.Name, fmt.Sprintf("must be lowercase letters, digits and '-', at most %d", fsm.MaxChannelName))
		case names[ch.Name]:
			bad(field+".name", ch.Name, "is the name of another channel")
		}
		names[ch.Name] = true
		switch ch.Type {
		case "webhook":
			if u, err := url.Parse(ch.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(field+".url", ch.URL, "must be an http(s) URL for a webhook channel")
			} else if u.User != nil {
				bad(field+".url", "(redacted)", "must not carry credentials; sign with secretFile")
			}
			readable(field+".secretFile", ch.SecretFile, false)
		case "slack", "teams":
			if ch.URL != "" {
				bad(field+".url", "(redacted)", "a "+ch.Type+" webhook URL is a secret: put it in a file named by urlFile")
			}
			readable(field+".urlFile", ch.URLFile, true)
			if ch.URLFile != "" {
				if b, err := os.ReadFile(ch.URLFile); err == nil {
					if u, err := url.Parse(strings.TrimSpace(string(b))); err != nil || u.Scheme != "https" || u.Host == "" {
						bad(field+".urlFile", ch.URLFile, "must hold an https URL")
					}
				}
			}
		case "email":
			s := ch.SMTP
			if s.Host == "" {
				bad(field+".smtp.host", "", "is required for an email channel")
			}
			if s.Port < 1 || s.Port > 65535 {
				bad(field+".smtp.port", s.Port, "must be a port, 1 to 65535")
			}
			if s.StartTLS && s.ImplicitTLS {
				bad(field+".smtp.implicitTLS", true, "and startTLS cannot both be set")
			}
			if (s.UsernameFile == "") != (s.PasswordFile == "") {
				bad(field+".smtp", "", "usernameFile and passwordFile go together")
			}
			if s.UsernameFile != "" && !s.StartTLS && !s.ImplicitTLS {
				bad(field+".smtp", "", "credentials are sent only over TLS: set startTLS or implicitTLS")
			}
			readable(field+".smtp.usernameFile", s.UsernameFile, false)
			readable(field+".smtp.passwordFile", s.PasswordFile, false)
			if _, err := mail.ParseAddress(s.From); err != nil {
				bad(field+".smtp.from", s.From, "must be a mail address: "+err.Error())
			}
			if len(ch.To) == 0 {
				bad(field+".to", "", "needs at least one address")
			}
			for j, to := range ch.To {
				if _, err := mail.ParseAddress(to); err != nil {
					bad(fmt.Sprintf("%s.to[%d]", field, j), to, "must be a mail address: "+err.Error())
				}
			}
			for _, t := range []struct{ field, path string }{
				{".templates.subjectFile", ch.Templates.SubjectFile},
				{".templates.textFile", ch.Templates.TextFile},
				{".templates.htmlFile", ch.Templates.HTMLFile},
			} {
				if t.path != "" {
					if _, err := os.Stat(t.path); err != nil {
						bad(field+t.field, t.path, "cannot be read: "+err.Error())
					}
				}
			}
		default:
			bad(field+".type", ch.Type, "must be "+strings.Join(channelTypes, ", "))
		}
		if ch.Type != "email" && (ch.SMTP != SMTPConfig{} || len(ch.To) > 0) {
			bad(field, ch.Name, "smtp and to are for email channels")
		}
	}
	if len(n.Routes) > fsm.MaxNotificationRoutes {
		bad("notifications.routes", len(n.Routes), fmt.Sprintf("are at most %d", fsm.MaxNotificationRoutes))
	}
	for i, r := range n.Routes {
		field := fmt.Sprintf("notifications.routes[%d]", i)
		if len(r.Channels) > fsm.MaxRouteChannels {
			bad(field+".channels", len(r.Channels), fmt.Sprintf("are at most %d", fsm.MaxRouteChannels))
		}
		if len(r.Environments) > fsm.MaxRouteEnvironments {
			bad(field+".environments", len(r.Environments), fmt.Sprintf("are at most %d", fsm.MaxRouteEnvironments))
		}
		if len(r.Events) > len(fsm.AllNotificationEvents) {
			bad(field+".events", len(r.Events), fmt.Sprintf("are at most %d", len(fsm.AllNotificationEvents)))
		}
		if len(r.Events) == 0 {
			bad(field+".events", "", "needs at least one event")
		}
		for j, e := range r.Events {
			if !slices.Contains(fsm.AllNotificationEvents, fsm.NotificationEvent(e)) {
				bad(fmt.Sprintf("%s.events[%d]", field, j), e, "is not an event: "+eventNames())
			}
		}
		for j, env := range r.Environments {
			if !fsm.ValidEnvironmentName(env) {
				bad(fmt.Sprintf("%s.environments[%d]", field, j), env, "is not a valid environment name")
			}
		}
		if len(r.Channels) == 0 {
			bad(field+".channels", "", "needs at least one channel")
		}
		for j, ch := range r.Channels {
			if !names[ch] {
				bad(fmt.Sprintf("%s.channels[%d]", field, j), ch, "is not a channel of notifications.channels")
			}
		}
	}
	return errs
}

// eventNames lists the events a route may name.
func eventNames() string {
	var s []string
	for _, e := range fsm.AllNotificationEvents {
		s = append(s, string(e))
	}
	return strings.Join(s, ", ")
}
