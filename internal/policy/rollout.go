package policy

import (
	"bytes"
	"fmt"
	"slices"
	"text/template"
	"time"
)

// Limits on a rollout, so a policy file cannot make the deployment record
// it drives unbounded (docs/domain.md#rollouts).
const (
	// MaxWaves is how many waves a rollout may have.
	MaxWaves = 16
	// MaxWaveTargets is how many targets one wave may name.
	MaxWaveTargets = 32
	// MaxChecks is how many analysis checks a rollout may have.
	MaxChecks = 8
	// MaxQueryLength bounds an analysis query, in bytes.
	MaxQueryLength = 4096
	// MinAnalysisInterval is the shortest interval between analyses.
	MinAnalysisInterval = time.Second
	// DefaultAnalysisInterval is the interval when the file leaves it out.
	DefaultAnalysisInterval = 30 * time.Second
)

// OnError says what an analysis query that cannot be answered (Prometheus
// unreachable, a query error, no sample) counts as. The zero value is
// OnErrorFail.
type OnError int

// The onError choices.
const (
	// OnErrorFail counts an unanswered query as a failed check.
	OnErrorFail OnError = iota
	// OnErrorIgnore records the error but counts the check as neither
	// passed nor failed.
	OnErrorIgnore
)

var onErrorNames = [...]string{OnErrorFail: "fail", OnErrorIgnore: "ignore"}

// String returns the choice as the file spells it: fail or ignore.
func (o OnError) String() string {
	if o < 0 || int(o) >= len(onErrorNames) {
		return fmt.Sprintf("OnError(%d)", int(o))
	}
	return onErrorNames[o]
}

// Rollout is an environment's progressive delivery: its targets receive a
// bundle wave by wave, and each wave bakes while Analysis judges it.
type Rollout struct {
	// Waves are applied in order; together they name each target at most
	// once.
	Waves []Wave
	// Analysis judges each wave during its bake; nil means health checks
	// only.
	Analysis *Analysis
}

// Wave is one step of a rollout.
type Wave struct {
	// Targets names the targets of the wave (their name in honuad.yaml).
	Targets []string
	// Bake is how long the wave is watched after its targets pass their
	// health checks, before the next wave starts; 0 means no bake (the
	// analysis still runs once).
	Bake time.Duration
	// MaxParallel is how many of the wave's targets receive the bundle at
	// once; at least 1, and no more than len(Targets).
	MaxParallel int
	// at holds where each of Targets is written, for CheckTargets.
	at []Problem
}

// Analysis is the metrics a wave is judged by.
type Analysis struct {
	// PrometheusURL is the base URL of the Prometheus HTTP API.
	PrometheusURL string
	// Checks are evaluated for each target of the wave, every Interval.
	Checks []Check
	// Interval is the time between analyses during a bake.
	Interval time.Duration
	// FailureLimit is how many failed analyses a wave tolerates: the
	// failure after the FailureLimit-th aborts the rollout.
	FailureLimit int
	// OnError is what an unanswered query counts as.
	OnError OnError
}

// Check is one query with the bounds its value must stay within.
type Check struct {
	// Name names the check in the deployment record.
	Name string
	// Query is a PromQL expression, a text/template in which {{.Target}}
	// is the name of the target being judged.
	Query string
	// Max and Min bound the value (inclusive); nil means unbounded. At
	// least one is set.
	Max, Min *float64

	tmpl *template.Template
}

// QueryFor returns c's query for the target named target.
func (c Check) QueryFor(target string) (string, error) {
	t := c.tmpl
	if t == nil {
		var err error
		if t, err = parseQuery(c.Query); err != nil {
			return "", err
		}
	}
	var b bytes.Buffer
	if err := t.Execute(&b, QueryData{Target: target}); err != nil {
		return "", fmt.Errorf("check %s: %w", c.Name, err)
	}
	return b.String(), nil
}

// Passes reports whether v is within c's bounds.
func (c Check) Passes(v float64) bool {
	if v != v { // NaN, e.g. 0/0 when a target serves no request
		return false
	}
	return (c.Max == nil || v <= *c.Max) && (c.Min == nil || v >= *c.Min)
}

// QueryData is what a check's query template is executed with.
type QueryData struct {
	// Target is the name of the target being judged.
	Target string
}

func parseQuery(q string) (*template.Template, error) {
	t, err := template.New("query").Option("missingkey=error").Parse(q)
	if err != nil {
		return nil, err
	}
	// Execute once to refuse fields other than .Target and functions that
	// fail, at parse time rather than during a bake.
	if err := t.Execute(new(bytes.Buffer), QueryData{Target: "t"}); err != nil {
		return nil, err
	}
	return t, nil
}

// Targets returns every target the rollout names, in wave order.
func (r *Rollout) Targets() []string {
	if r == nil {
		return nil
	}
	var out []string
	for _, w := range r.Waves {
		out = append(out, w.Targets...)
	}
	return out
}

// CheckTargets returns a problem, at the place in the file that names it,
// for every target of the rollout that is not in known (the names of the
// environment's targets in honuad.yaml), and for every known target no
// wave names: a rollout covers all of its environment's targets.
func (r *Rollout) CheckTargets(known []string) []Problem {
	if r == nil {
		return nil
	}
	var out []Problem
	named := map[string]bool{}
	for _, w := range r.Waves {
		for i, t := range w.Targets {
			named[t] = true
			if slices.Contains(known, t) {
				continue
			}
			p := Problem{Message: fmt.Sprintf("rollout names target %q, which this environment does not have (its targets: %v)", t, known)}
			if i < len(w.at) {
				p.File, p.Line, p.Column = w.at[i].File, w.at[i].Line, w.at[i].Column
			}
			out = append(out, p)
		}
	}
	for _, k := range known {
		if !named[k] {
			p := Problem{Message: fmt.Sprintf("rollout: no wave names target %q; every target of the environment must be in one wave", k)}
			if len(r.Waves) > 0 && len(r.Waves[0].at) > 0 {
				p.File, p.Line, p.Column = r.Waves[0].at[0].File, r.Waves[0].at[0].Line, r.Waves[0].at[0].Column
			}
			out = append(out, p)
		}
	}
	return out
}

// clone returns a deep copy of r.
func (r *Rollout) clone() *Rollout {
	if r == nil {
		return nil
	}
	c := &Rollout{Waves: slices.Clone(r.Waves)}
	for i := range c.Waves {
		c.Waves[i].Targets = slices.Clone(c.Waves[i].Targets)
	}
	if r.Analysis != nil {
		a := *r.Analysis
		a.Checks = slices.Clone(a.Checks)
		for i := range a.Checks {
			a.Checks[i].Max, a.Checks[i].Min = cloneFloat(a.Checks[i].Max), cloneFloat(a.Checks[i].Min)
		}
		c.Analysis = &a
	}
	return c
}

func cloneFloat(f *float64) *float64 {
	if f == nil {
		return nil
	}
	v := *f
	return &v
}
