package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// issueRollout is the rollout of issue 16 and docs/domain.md#rollouts.
const issueRollout = header + `    rollout:
      waves:
        - { targets: [canary], bake: 2m }
        - { targets: [eu-1, eu-2], bake: 1m }
        - { targets: [us-1, us-2, us-3], maxParallel: 2 }
      analysis:
        prometheus: { url: http://prometheus:9090 }
        checks:
          - name: error-rate
            query: sum(rate(honua_http_requests_total{status=~"5..",target="{{.Target}}"}[1m])) / sum(rate(honua_http_requests_total{target="{{.Target}}"}[1m]))
            max: 0.01
          - { name: p95-latency, query: 'histogram_quantile(0.95, rate(x{target="{{.Target}}"}[1m]))', max: 0.5, min: 0 }
        interval: 10s
        failureLimit: 2
        onError: ignore
`

func TestParseRollout(t *testing.T) {
	p := mustParse(t, issueRollout)
	r := p.For("production").Rollout
	if r == nil {
		t.Fatal("For(production).Rollout = nil; want the rollout")
	}
	wantWaves := []struct {
		targets []string
		bake    time.Duration
		par     int
	}{{[]string{"canary"}, 2 * time.Minute, 1}, {[]string{"eu-1", "eu-2"}, time.Minute, 2}, {[]string{"us-1", "us-2", "us-3"}, 0, 2}}
	if len(r.Waves) != len(wantWaves) {
		t.Fatalf("waves = %+v; want %d", r.Waves, len(wantWaves))
	}
	for i, w := range wantWaves {
		g := r.Waves[i]
		if !slices.Equal(g.Targets, w.targets) || g.Bake != w.bake || g.MaxParallel != w.par {
			t.Errorf("wave %d = %v bake %v maxParallel %d; want %v %v %d", i, g.Targets, g.Bake, g.MaxParallel, w.targets, w.bake, w.par)
		}
	}
	a := r.Analysis
	if a == nil || a.PrometheusURL != "http://prometheus:9090" || a.Interval != 10*time.Second || a.FailureLimit != 2 || a.OnError != OnErrorIgnore || len(a.Checks) != 2 {
		t.Fatalf("analysis = %+v", a)
	}
	q, err := a.Checks[0].QueryFor("canary")
	if err != nil || !strings.Contains(q, `status=~"5..",target="canary"`) || strings.Contains(q, "{{") {
		t.Errorf("QueryFor(canary) = %q, %v", q, err)
	}
	if c := a.Checks[1]; *c.Max != 0.5 || *c.Min != 0 || !c.Passes(0.5) || c.Passes(0.51) || c.Passes(-1) {
		t.Errorf("check %s bounds wrong: max %v min %v", c.Name, *c.Max, *c.Min)
	}
	if a.Checks[0].Passes(nan()) {
		t.Error("Passes(NaN) = true; want false: no value is no evidence of health")
	}
	// For returns a copy.
	r.Waves[0].Targets[0] = "x"
	*a.Checks[0].Max = 9
	if again := p.For("production").Rollout; again.Waves[0].Targets[0] != "canary" || *again.Analysis.Checks[0].Max != 0.01 {
		t.Error("For shares the rollout with the policy")
	}
	if got := mustParse(t, header+"    requiredApprovals: 1\n").For("production").Rollout; got != nil {
		t.Errorf("an environment without rollout has %+v; want nil", got)
	}
	d := mustParse(t, header+"    rollout: {waves: [{targets: [a]}], analysis: {prometheus: {url: http://p:9090}, checks: [{name: e, query: up, min: 1}]}}\n").For("production").Rollout
	if d.Analysis.Interval != DefaultAnalysisInterval || d.Analysis.OnError != OnErrorFail || d.Analysis.FailureLimit != 0 {
		t.Errorf("defaults: %+v; want interval %v, onError fail, failureLimit 0", d.Analysis, DefaultAnalysisInterval)
	}
}

func nan() float64 { var z float64; return z / z }

func TestParseRolloutErrors(t *testing.T) {
	type problem struct {
		line, col int
		msg       string
	}
	ro := header + "    rollout:\n"
	tests := []struct {
		name string
		in   string
		want []problem
	}{
		{"no waves", ro + "      analysis: {prometheus: {url: http://p}, checks: [{name: e, query: up, max: 1}]}\n",
			[]problem{{6, 7, "rollout.waves is missing"}}},
		{"empty waves", ro + "      waves: []\n", []problem{{6, 14, "must list at least one wave"}}},
		{"unknown wave key", ro + "      waves: [{targets: [a], soak: 1m}]\n", []problem{{6, 30, `unknown key "soak"`}}},
		{"target in two waves", ro + "      waves: [{targets: [a]}, {targets: [b, a]}]\n",
			[]problem{{6, 45, `target "a" is already in the wave at line 6`}}},
		{"bad target name", ro + "      waves: [{targets: [Canary_1]}]\n", []problem{{6, 26, `"Canary_1" is not a target name`}}},
		{"wave without targets", ro + "      waves: [{bake: 1m}]\n", []problem{{6, 15, "waves[0].targets is missing"}}},
		{"bad bake and maxParallel", ro + "      waves: [{targets: [a], bake: soon, maxParallel: 0}]\n",
			[]problem{{6, 36, `bake: "soon" is not a duration`}, {6, 55, "maxParallel: 0 is less than 1"}}},
		{"analysis without prometheus or checks", ro + "      waves: [{targets: [a]}]\n      analysis: {interval: 10s}\n",
			[]problem{{7, 17, "analysis.prometheus is missing"}, {7, 17, "analysis.checks is missing"}}},
		{"prometheus url with credentials", ro + "      waves: [{targets: [a]}]\n      analysis: {prometheus: {url: 'http://u:p@p:9090'}, checks: [{name: e, query: up, max: 1}]}\n",
			[]problem{{7, 36, "is not an http(s) URL without credentials"}}},
		{"check without bounds", ro + "      waves: [{targets: [a]}]\n      analysis: {prometheus: {url: http://p}, checks: [{name: e, query: up}]}\n",
			[]problem{{7, 56, "needs max, min or both"}}},
		{"min above max", ro + "      waves: [{targets: [a]}]\n      analysis: {prometheus: {url: http://p}, checks: [{name: e, query: up, max: 1, min: 2}]}\n",
			[]problem{{7, 56, "min 2 is above max 1"}}},
		{"query with a field other than Target", ro + "      waves: [{targets: [a]}]\n      analysis: {prometheus: {url: http://p}, checks: [{name: e, query: '{{.Env}}', max: 1}]}\n",
			[]problem{{7, 73, "only {{.Target}} may appear"}}},
		{"bad template", ro + "      waves: [{targets: [a]}]\n      analysis: {prometheus: {url: http://p}, checks: [{name: e, query: '{{.Target', max: 1}]}\n",
			[]problem{{7, 73, "only {{.Target}} may appear"}}},
		{"repeated check name", ro + "      waves: [{targets: [a]}]\n      analysis: {prometheus: {url: http://p}, checks: [{name: e, query: up, max: 1}, {name: e, query: up, max: 1}]}\n",
			[]problem{{7, 93, `"e" repeats the check at line 7`}}},
		{"bad numbers", ro + "      waves: [{targets: [a]}]\n      analysis: {prometheus: {url: http://p}, checks: [{name: e, query: up, max: .nan}], failureLimit: -1, interval: 10ms, onError: skip}\n",
			[]problem{{7, 82, `max: ".nan" is not a finite number`}, {7, 56, "needs max, min or both"}, {7, 104, "is not a whole number from 0 to 1000"}, {7, 118, "is shorter than 1s"}, {7, 133, `"skip" is not fail or ignore`}}},
		{"rollout not a mapping", ro + "      - canary\n", []problem{{6, 7, "rollout must be a mapping"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in), "policy.yaml")
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) = %v; want a *ParseError", tt.in, err)
			}
			got := pe.Problems
			slices.SortStableFunc(tt.want, func(a, b problem) int {
				if a.line != b.line {
					return a.line - b.line
				}
				return a.col - b.col
			})
			ok := len(got) == len(tt.want)
			for i := 0; ok && i < len(got); i++ {
				w := tt.want[i]
				ok = got[i].Line == w.line && got[i].Column == w.col && strings.Contains(got[i].Message, w.msg)
			}
			if !ok {
				t.Errorf("Parse problems:\n%v\nwant %v", err, tt.want)
			}
		})
	}
}

func TestRolloutCheckTargets(t *testing.T) {
	r := mustParse(t, issueRollout).For("production").Rollout
	if got := r.CheckTargets([]string{"canary", "eu-1", "eu-2", "us-1", "us-2", "us-3"}); len(got) != 0 {
		t.Errorf("CheckTargets(all) = %v; want none", got)
	}
	got := r.CheckTargets([]string{"canary", "eu-1", "eu-2", "us-1", "us-2", "ap-1"})
	if len(got) != 2 || got[0].Line != 9 || got[0].Column != 35 || !strings.Contains(got[0].Message, `"us-3"`) ||
		!strings.Contains(got[1].Message, `no wave names target "ap-1"`) || got[0].File != Path {
		t.Errorf("CheckTargets = %v; want us-3 unknown at %s:9:35 and ap-1 in no wave", got, Path)
	}
	var none *Rollout
	if got := none.CheckTargets([]string{"a"}); got != nil {
		t.Errorf("nil rollout CheckTargets = %v; want nil", got)
	}
}
