package agent

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/time/rate"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/rpc"
)

// APILimits are the limits the API's handlers are given.
func APILimits(cfg Config) rpc.Limits {
	return rpc.Limits{ReadTimeout: time.Duration(cfg.HTTPReadTimeout), WriteTimeout: time.Duration(cfg.HTTPWriteTimeout),
		MaxClientRequests: cfg.HTTPMaxClientRequests,
		WebhookRate:       cfg.HTTPWebhookRate.Limit(), WebhookBurst: cfg.HTTPWebhookBurst,
		AuthFailureRate: cfg.HTTPAuthFailureRate.Limit(), AuthFailureBurst: cfg.HTTPAuthFailureBurst,
		MaxForwarded: cfg.HTTPMaxForwarded}
}

// Rate is a number of events per second, written as events per unit of
// time: "10/s", "5/m", "90/h", "1/10s" (the unit is a Go duration; s, m
// and h alone mean one of them), or "off" (+Inf: no limit).
type Rate float64

// RateOff is the Rate that limits nothing.
var RateOff = Rate(math.Inf(1))

// ParseRate parses a Rate.
func ParseRate(s string) (Rate, error) {
	if s == "off" {
		return RateOff, nil
	}
	bad := fmt.Errorf("%q is not a rate like 10/s, 5/m or off", s)
	n, unit, ok := strings.Cut(s, "/")
	if !ok {
		return 0, bad
	}
	events, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
	if err != nil || events <= 0 || math.IsInf(events, 0) {
		return 0, bad
	}
	unit = strings.TrimSpace(unit)
	if unit != "" && (unit[0] < '0' || unit[0] > '9') && unit[0] != '.' {
		unit = "1" + unit
	}
	per, err := time.ParseDuration(unit)
	if err != nil || per <= 0 {
		return 0, bad
	}
	return Rate(events / per.Seconds()), nil
}

// String writes the rate per second, minute or hour, the first in which
// it is a whole number, or per second.
func (r Rate) String() string {
	if math.IsInf(float64(r), 1) {
		return "off"
	}
	for _, u := range []struct {
		name string
		secs float64
	}{{"s", 1}, {"m", 60}, {"h", 3600}} {
		v := float64(r) * u.secs
		if math.Abs(v-math.Round(v)) < 1e-9 && math.Round(v) >= 1 {
			return fmt.Sprintf("%d/%s", int64(math.Round(v)), u.name)
		}
	}
	return strconv.FormatFloat(float64(r), 'g', -1, 64) + "/s"
}

// Limit is the rate as golang.org/x/time/rate takes it.
func (r Rate) Limit() rate.Limit {
	if math.IsInf(float64(r), 1) {
		return rate.Inf
	}
	return rate.Limit(r)
}

// UnmarshalText implements encoding.TextUnmarshaler: a flag's or an
// environment variable's value.
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	if err := r.UnmarshalText([]byte(n.Value)); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// validateAbuseLimits checks the rates and bounds of the API's abuse
// limits.
func (c *Config) validateAbuseLimits() []error {
	var errs []error
	bad := func(field string, v any, why string) {
		errs = append(errs, &cluster.FieldError{Field: field, Value: v, Why: why})
	}
	for _, r := range []struct {
		field string
		v     Rate
	}{{"http-webhook-rate", c.HTTPWebhookRate}, {"http-auth-failure-rate", c.HTTPAuthFailureRate}} {
		if !(r.v > 0) {
			bad(r.field, r.v.String(), "must be a positive rate like 10/s, or off")
		}
	}
	for _, b := range []struct {
		field string
		v     int
	}{{"http-webhook-burst", c.HTTPWebhookBurst}, {"http-auth-failure-burst", c.HTTPAuthFailureBurst}, {"http-max-forwarded", c.HTTPMaxForwarded}} {
		if b.v < 1 {
			bad(b.field, b.v, "must be at least 1")
		}
	}
	return errs
}
