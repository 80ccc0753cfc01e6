package kubernetes

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

// The alerts the issue asks for, and one on the node certificate's expiry
// (the pods run with TLS).
var wantAlerts = []string{
	"HonuaNoLeader",
	"HonuaMemberDown",
	"HonuaDeploymentFailed",
	"HonuaApprovalPendingTooLong",
	"HonuaGitPollingFailing",
	"HonuaCertificateExpiringSoon",
	"HonuaEnvironmentDrifted",
}

// alerts returns the PrometheusRule's alerting rules by name.
func alerts(t *testing.T, b *built) map[string]monitoringv1.Rule {
	t.Helper()
	pr := one(t, "PrometheusRule", b.rules)
	out := map[string]monitoringv1.Rule{}
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out[r.Alert] = r
			}
		}
	}
	return out
}

func alertExpr(t *testing.T, b *built, name string) string {
	t.Helper()
	r, ok := alerts(t, b)[name]
	if !ok {
		t.Fatalf("the PrometheusRule has no alert %s", name)
	}
	return r.Expr.String()
}

// selector is one metric selector of a PromQL expression: a honua_ (or
// process_) metric and its label matchers.
type selector struct {
	metric   string
	matchers []matcher
}

type matcher struct{ label, op, value string }

var (
	selectorRE = regexp.MustCompile(`\b((?:honua|process)_[a-z0-9_]+)\b(\{[^}]*\})?`)
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
)

// selectors finds the honua_ and process_ metric selectors of a PromQL
// expression. It is no PromQL parser, but the rules' selectors are plain.
func selectors(expr string) []selector {
	var out []selector
	for _, m := range selectorRE.FindAllStringSubmatch(expr, -1) {
		s := selector{metric: m[1]}
		for _, mm := range matcherRE.FindAllStringSubmatch(m[2], -1) {
			s.matchers = append(s.matchers, matcher{mm[1], mm[2], mm[3]})
		}
		out = append(out, s)
	}
	return out
}

func TestPrometheusRuleAlerts(t *testing.T) {
	b := build(t)
	got := alerts(t, b)
	for _, name := range wantAlerts {
		r, ok := got[name]
		if !ok {
			t.Errorf("no alert %s", name)
			continue
		}
		if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("%s: want a severity label and summary and description annotations", name)
		}
		sels := selectors(r.Expr.String())
		if len(sels) == 0 {
			t.Errorf("%s uses no metric: %s", name, r.Expr.String())
		}
		for _, s := range sels {
			if !slices.Contains(s.matchers, matcher{"job", "=", "honuad"}) {
				t.Errorf("%s: selector of %s lacks job=\"honuad\" (the ServiceMonitor's job)", name, s.metric)
			}
		}
	}
	if r := got["HonuaApprovalPendingTooLong"]; r.For == nil || *r.For != "24h" {
		t.Errorf("HonuaApprovalPendingTooLong for = %s; want 24h", val(r.For))
	}
	if r := got["HonuaEnvironmentDrifted"]; r.For == nil || *r.For != "15m" {
		t.Errorf("HonuaEnvironmentDrifted for = %s; want 15m", val(r.For))
	}
	if r := got["HonuaMemberDown"]; r.For == nil || *r.For != "5m" {
		t.Errorf("HonuaMemberDown for = %s; want 5m", val(r.For))
	}
}

// TestPrometheusRuleWithPromtool checks the rules' PromQL and runs the
// alert unit tests of testdata/alerts_test.yaml with promtool, when it is
// on PATH (Debian package "prometheus").
func TestPrometheusRuleWithPromtool(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		msg := "promtool is not on PATH: the alerts' PromQL is not parsed nor unit-tested " +
			"(Debian package \"prometheus\" ships promtool)"
		fmt.Fprintln(os.Stderr, "SKIP:", msg)
		t.Skip(msg)
	}
	b := build(t)
	pr := one(t, "PrometheusRule", b.rules)
	dir := t.TempDir()
	write := func(name string, v any) {
		t.Helper()
		doc, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// check rules sees the annotations' templates; the unit tests compare
	// labels only, so they get the rules without annotations.
	write("honuad.full.rules.yaml", pr.Spec)
	bare := pr.Spec.DeepCopy()
	for i := range bare.Groups {
		for j := range bare.Groups[i].Rules {
			bare.Groups[i].Rules[j].Annotations = nil
		}
	}
	write("honuad.rules.yaml", bare)
	tests, err := os.ReadFile(filepath.Join("testdata", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"check", "rules", "honuad.full.rules.yaml"},
		{"test", "rules", "alerts_test.yaml"},
	} {
		cmd := exec.Command("promtool", args...)
		cmd.Dir = dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
	}
}
