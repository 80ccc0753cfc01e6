package analysis

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/policy"
	"github.com/honua-io/honua-gitops/test/honuaserver"
	"github.com/honua-io/honua-gitops/test/promserver"
)

// errorRateQuery is the share of a target's requests that failed over the
// last 5s.
const errorRateQuery = `sum(rate(http_requests_total{status="500",target="{{.Target}}"}[5s])) / sum(rate(http_requests_total{target="{{.Target}}"}[5s]))`

// analysisOf parses a policy whose production rollout has the given
// analysis and returns it.
func analysisOf(t *testing.T, url, onError string) *policy.Analysis {
	t.Helper()
	src := fmt.Sprintf(`apiVersion: honua.io/v1
kind: DeploymentPolicy
environments:
  production:
    rollout:
      waves: [{targets: [canary, stable]}]
      analysis:
        prometheus: {url: %q}
        checks:
          - {name: error-rate, query: %q, max: 0.01}
          - {name: up, query: 'sum(up{target="{{.Target}}"})', min: 1}
        onError: %s
`, url, errorRateQuery, onError)
	p, err := policy.Parse([]byte(src), "policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p.For("production").Rollout.Analysis
}

// TestEvaluateWithPrometheus runs a real Prometheus scraping two stand-in
// Honua servers: the stable one passes, the one failing half its requests
// fails error-rate with the value measured, and once Prometheus is gone a
// check fails under onError fail and errors (counted neither way) under
// onError ignore.
func TestEvaluateWithPrometheus(t *testing.T) {
	canary, stable := honuaserver.New(t, "canary"), honuaserver.New(t, "stable")
	canary.SetErrorRate(0.5)
	prom := promserver.Start(t, map[string]string{"canary": canary.MetricsAddr(), "stable": stable.MetricsAddr()})
	a := analysisOf(t, prom.URL, "fail")
	c := &Client{}
	ctx := context.Background()

	// Wait for enough scrapes that both rates exist.
	deadline := time.Now().Add(60 * time.Second)
	var res []Result
	var ok bool
	for {
		res, ok = c.Evaluate(ctx, a, "stable")
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Evaluate(stable) never passed: %+v", res)
		}
		waitFor(t, 200*time.Millisecond)
	}
	if res[0].Value != 0 || res[1].Value != 1 || res[0].Status != Passed {
		t.Errorf("Evaluate(stable) = %+v; want error-rate 0 and up 1, passed", res)
	}
	for {
		res, ok = c.Evaluate(ctx, a, "canary")
		if res[0].Error == "" || time.Now().After(deadline) {
			break
		}
		waitFor(t, 200*time.Millisecond)
	}
	if ok || res[0].Status != Failed || math.Abs(res[0].Value-0.5) > 0.01 || res[1].Status != Passed {
		t.Errorf("Evaluate(canary) = %+v, %v; want error-rate failed at 0.5, up passed", res, ok)
	}

	// A target Prometheus does not scrape has no sample: failed.
	if res, ok := c.Evaluate(ctx, a, "ghost"); ok || res[0].Status != Failed || !strings.Contains(res[0].Error, "no sample") {
		t.Errorf("Evaluate(ghost) = %+v, %v; want failed: no sample", res, ok)
	}

	prom.Stop()
	if res, ok := c.Evaluate(ctx, a, "stable"); ok || res[0].Status != Failed || !strings.Contains(res[0].Error, "prometheus did not answer") {
		t.Errorf("Evaluate with Prometheus gone, onError fail = %+v, %v; want failed", res, ok)
	}
	ignore := analysisOf(t, prom.URL, "ignore")
	if res, ok := c.Evaluate(ctx, ignore, "stable"); !ok || res[0].Status != Errored || res[1].Status != Errored {
		t.Errorf("Evaluate with Prometheus gone, onError ignore = %+v, %v; want errored, counted neither way", res, ok)
	}
}

// waitFor blocks for d, as the poll interval of a loop with a deadline.
func waitFor(t *testing.T, d time.Duration) {
	t.Helper()
	<-time.After(d)
}
