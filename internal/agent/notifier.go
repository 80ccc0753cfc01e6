package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/notify"
	"github.com/honua-io/honua-gitops/internal/outbox"
)

// readSecret reads a secret file without surrounding whitespace.
func readSecret(field, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// senders builds a sender for every channel of the notifications section,
// reading its secrets from their files.
func senders(n NotificationsConfig) (map[string]notify.Sender, error) {
	out := map[string]notify.Sender{}
	for i, ch := range n.Channels {
		field := fmt.Sprintf("notifications.channels[%d]", i)
		s, err := sender(field, ch)
		if err != nil {
			return nil, err
		}
		out[ch.Name] = s
	}
	return out, nil
}

func sender(field string, ch ChannelConfig) (notify.Sender, error) {
	switch ch.Type {
	case "webhook":
		var secret string
		if ch.SecretFile != "" {
			var err error
			if secret, err = readSecret(field+".secretFile", ch.SecretFile); err != nil {
				return nil, err
			}
		}
		return senderOf(notify.NewWebhook(notify.WebhookConfig{URL: ch.URL, Secret: []byte(secret)}))
	case "slack", "teams":
		url, err := readSecret(field+".urlFile", ch.URLFile)
		if err != nil {
			return nil, err
		}
		if ch.Type == "slack" {
			return senderOf(notify.NewSlack(notify.SlackConfig{URL: url}))
		}
		return senderOf(notify.NewTeams(notify.TeamsConfig{URL: url}))
	case "email":
		s := ch.SMTP
		ec := notify.EmailConfig{Host: s.Host, Port: s.Port, StartTLS: s.StartTLS, ImplicitTLS: s.ImplicitTLS,
			From: s.From, To: ch.To}
		var err error
		if s.UsernameFile != "" {
			if ec.Username, err = readSecret(field+".smtp.usernameFile", s.UsernameFile); err != nil {
				return nil, err
			}
			if ec.Password, err = readSecret(field+".smtp.passwordFile", s.PasswordFile); err != nil {
				return nil, err
			}
		}
		t := ch.Templates
		if t.SubjectFile != "" || t.TextFile != "" || t.HTMLFile != "" {
			if ec.Subject, ec.Text, ec.HTML, err = notify.LoadTemplates(t.SubjectFile, t.TextFile, t.HTMLFile); err != nil {
				return nil, fmt.Errorf("%s.templates: %w", field, err)
			}
		}
		return senderOf(notify.NewEmail(ec))
	}
	return nil, fmt.Errorf("%s.type: unknown channel type %q", field, ch.Type)
}

// senderOf returns s as a Sender, or the error (never a typed nil).
func senderOf[S notify.Sender](s S, err error) (notify.Sender, error) {
	if err != nil {
		return nil, err
	}
	return s, nil
}

// routesOf converts the configuration's routes to the FSM's.
func routesOf(n NotificationsConfig) []fsm.NotificationRoute {
	var out []fsm.NotificationRoute
	for _, r := range n.Routes {
		fr := fsm.NotificationRoute{Environments: r.Environments, Channels: r.Channels}
		for _, e := range r.Events {
			fr.Events = append(fr.Events, fsm.NotificationEvent(e))
		}
		out = append(out, fr)
	}
	return out
}

// routesWork makes the replicated routes this configuration's when a node
// becomes leader, if they differ: the FSM records notifications by the
// routes it holds.
func routesWork(node *cluster.Node, routes []fsm.NotificationRoute, logger *slog.Logger) func(context.Context) {
	return func(ctx context.Context) {
		for ctx.Err() == nil {
			if sameRoutes(node.FSM().NotificationRoutes(), routes) {
				return
			}
			_, err := node.Apply(ctx, &fsm.SetNotificationRoutes{Routes: routes})
			if err == nil {
				return
			}
			logger.Warn("apply the notification routes", "error", err)
			t := time.NewTimer(time.Second)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// newDeliverer builds the leader's notification deliverer from cfg.
func newDeliverer(cfg Config, node *cluster.Node, subject func(string) string, reg prometheus.Registerer, logger *slog.Logger) (*outbox.Deliverer, error) {
	ss, err := senders(cfg.Notifications)
	if err != nil {
		return nil, &ConfigError{err}
	}
	r := cfg.Notifications.Retry
	return outbox.New(outbox.Config{Cluster: node, State: node.FSM(), Senders: ss, BaseURL: cfg.Notifications.BaseURL,
		Subject: subject, Metrics: outbox.NewMetrics(reg), Logger: logger.With("component", "notifications"),
		MaxAttempts: r.MaxAttempts, InitialInterval: time.Duration(r.InitialInterval), MaxInterval: time.Duration(r.MaxInterval)}), nil
}

// routesWait bounds how long a new leader's reconciler waits for the
// notification routes to be replicated before it starts anyway.
const routesWait = 10 * time.Second

// afterRoutes runs work once the replicated notification routes are
// routes, or after routesWait: the routes are applied by another leader
// work, and a deployment the reconciler moved before them would raise no
// notification.
func afterRoutes(f *fsm.FSM, routes []fsm.NotificationRoute, logger *slog.Logger, work func(context.Context)) func(context.Context) {
	return func(ctx context.Context) {
		t := time.NewTimer(routesWait)
		defer t.Stop()
	wait:
		for {
			changed := f.Changed()
			if sameRoutes(f.NotificationRoutes(), routes) {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				logger.Warn("the notification routes are not replicated yet; deploying without waiting for them")
				break wait
			case <-changed:
			}
		}
		work(ctx)
	}
}

// sameRoutes reports whether a and b route alike (a nil list is an empty
// one).
func sameRoutes(a, b []fsm.NotificationRoute) bool {
	return slices.EqualFunc(a, b, func(x, y fsm.NotificationRoute) bool {
		return slices.Equal(x.Events, y.Events) && slices.Equal(x.Environments, y.Environments) && slices.Equal(x.Channels, y.Channels)
	})
}
