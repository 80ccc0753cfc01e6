package policy

import (
	"fmt"
	"math"
	"net/url"
	"regexp"

	"go.yaml.in/yaml/v3"
)

// targetNameRE is the rule for target names in honuad.yaml, which waves
// refer to.
var targetNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// checkNameRE is the rule for analysis check names.
var checkNameRE = targetNameRE

// rollout parses an environment's rollout; nil when it has problems.
func (p *parser) rollout(n *yaml.Node, field string) *Rollout {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		p.at(n, "%s must be a mapping with waves and optionally analysis", field)
		return nil
	}
	before := len(p.problems)
	r := &Rollout{}
	var waves *yaml.Node
	p.mapping(n, field, []string{"waves", "analysis"}, func(key string, k, v *yaml.Node) {
		switch key {
		case "waves":
			waves = v
			r.Waves = p.waves(v, field+".waves")
		case "analysis":
			r.Analysis = p.analysis(v, field+".analysis")
		}
	})
	if waves == nil {
		p.at(n, "%s.waves is missing: a rollout needs at least one wave", field)
	}
	if len(p.problems) > before {
		return nil
	}
	return r
}

func (p *parser) waves(n *yaml.Node, field string) []Wave {
	n = resolveAlias(n)
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		p.at(n, "%s must list at least one wave, such as [{targets: [canary], bake: 2m}]", field)
		return nil
	}
	if len(n.Content) > MaxWaves {
		p.at(n, "%s lists %d waves; at most %d", field, len(n.Content), MaxWaves)
		return nil
	}
	seen := map[string]*yaml.Node{}
	var out []Wave
	p.sequence(n, field, func(item *yaml.Node, path string) {
		var w Wave
		var targets *yaml.Node
		p.mapping(item, path, []string{"targets", "bake", "maxParallel"}, func(key string, k, v *yaml.Node) {
			switch key {
			case "targets":
				targets = v
				w.Targets, w.at = p.targetNames(v, path+".targets", seen)
			case "bake":
				p.duration(v, path+".bake", &w.Bake)
			case "maxParallel":
				p.approvals(v, path+".maxParallel", &w.MaxParallel)
			}
		})
		if targets == nil {
			p.at(item, "%s.targets is missing", path)
		}
		if w.MaxParallel == 0 || w.MaxParallel > len(w.Targets) {
			w.MaxParallel = len(w.Targets)
		}
		out = append(out, w)
	})
	return out
}

// targetNames parses a wave's targets: valid names, none in an earlier
// wave (seen).
func (p *parser) targetNames(n *yaml.Node, field string, seen map[string]*yaml.Node) ([]string, []Problem) {
	n = resolveAlias(n)
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		p.at(n, "%s must list at least one target name, such as [canary]", field)
		return nil, nil
	}
	if len(n.Content) > MaxWaveTargets {
		p.at(n, "%s lists %d targets; at most %d", field, len(n.Content), MaxWaveTargets)
		return nil, nil
	}
	var names []string
	var at []Problem
	for i, item := range n.Content {
		path := fmt.Sprintf("%s[%d]", field, i)
		s, ok := p.str(item, path)
		if !ok {
			continue
		}
		item = resolveAlias(item)
		if !targetNameRE.MatchString(s) {
			p.at(item, "%s: %q is not a target name: want 1-63 lowercase letters, digits and '-'", path, s)
			continue
		}
		if first, dup := seen[s]; dup {
			p.at(item, "%s: target %q is already in the wave at line %d: a target belongs to one wave", path, s, first.Line)
			continue
		}
		seen[s] = item
		names = append(names, s)
		at = append(at, Problem{File: p.file, Line: item.Line, Column: item.Column})
	}
	return names, at
}

func (p *parser) analysis(n *yaml.Node, field string) *Analysis {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		p.at(n, "%s must be a mapping with prometheus and checks", field)
		return nil
	}
	a := &Analysis{Interval: DefaultAnalysisInterval}
	var prom, checks *yaml.Node
	p.mapping(n, field, []string{"prometheus", "checks", "interval", "failureLimit", "onError"}, func(key string, k, v *yaml.Node) {
		path := field + "." + key
		switch key {
		case "prometheus":
			prom = v
			a.PrometheusURL = p.prometheus(v, path)
		case "checks":
			checks = v
			a.Checks = p.checks(v, path)
		case "interval":
			p.duration(v, path, &a.Interval)
			if a.Interval < MinAnalysisInterval {
				p.at(resolveAlias(v), "%s: %v is shorter than %v", path, a.Interval, MinAnalysisInterval)
			}
		case "failureLimit":
			v := resolveAlias(v)
			var i int
			if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" || v.Decode(&i) != nil || i < 0 || i > 1000 {
				p.at(v, "%s: %q is not a whole number from 0 to 1000", path, v.Value)
				return
			}
			a.FailureLimit = i
		case "onError":
			if s, ok := p.str(v, path); ok {
				switch s {
				case "fail":
					a.OnError = OnErrorFail
				case "ignore":
					a.OnError = OnErrorIgnore
				default:
					p.at(resolveAlias(v), "%s: %q is not fail or ignore", path, s)
				}
			}
		}
	})
	if prom == nil {
		p.at(n, "%s.prometheus is missing", field)
	}
	if checks == nil {
		p.at(n, "%s.checks is missing", field)
	}
	return a
}

func (p *parser) prometheus(n *yaml.Node, field string) string {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		p.at(n, "%s must be a mapping such as {url: http://prometheus:9090}", field)
		return ""
	}
	var out string
	var found bool
	p.mapping(n, field, []string{"url"}, func(key string, k, v *yaml.Node) {
		found = true
		s, ok := p.str(v, field+".url")
		if !ok {
			return
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			p.at(resolveAlias(v), "%s.url: %q is not an http(s) URL without credentials", field, s)
			return
		}
		out = s
	})
	if !found {
		p.at(n, "%s.url is missing", field)
	}
	return out
}

func (p *parser) checks(n *yaml.Node, field string) []Check {
	n = resolveAlias(n)
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		p.at(n, "%s must list at least one check", field)
		return nil
	}
	if len(n.Content) > MaxChecks {
		p.at(n, "%s lists %d checks; at most %d", field, len(n.Content), MaxChecks)
		return nil
	}
	seen := map[string]int{}
	var out []Check
	p.sequence(n, field, func(item *yaml.Node, path string) {
		var c Check
		var name, query *yaml.Node
		p.mapping(item, path, []string{"name", "query", "max", "min"}, func(key string, k, v *yaml.Node) {
			switch key {
			case "name":
				name = v
				if s, ok := p.str(v, path+".name"); ok {
					if !checkNameRE.MatchString(s) {
						p.at(resolveAlias(v), "%s.name: %q is not a name: want 1-63 lowercase letters, digits and '-'", path, s)
					} else if line, dup := seen[s]; dup {
						p.at(resolveAlias(v), "%s.name: %q repeats the check at line %d", path, s, line)
					} else {
						seen[s] = resolveAlias(v).Line
					}
					c.Name = s
				}
			case "query":
				query = v
				if s, ok := p.str(v, path+".query"); ok {
					switch t, err := parseQuery(s); {
					case s == "":
						p.at(resolveAlias(v), "%s.query is empty", path)
					case len(s) > MaxQueryLength:
						p.at(resolveAlias(v), "%s.query is %d bytes; at most %d", path, len(s), MaxQueryLength)
					case err != nil:
						p.at(resolveAlias(v), "%s.query is not a template in which only {{.Target}} may appear: %v", path, err)
					default:
						c.Query, c.tmpl = s, t
					}
				}
			case "max":
				c.Max = p.float(v, path+".max")
			case "min":
				c.Min = p.float(v, path+".min")
			}
		})
		if name == nil {
			p.at(item, "%s.name is missing", path)
		}
		if query == nil {
			p.at(item, "%s.query is missing", path)
		}
		switch {
		case c.Max == nil && c.Min == nil:
			p.at(item, "%s needs max, min or both", path)
		case c.Max != nil && c.Min != nil && *c.Min > *c.Max:
			p.at(item, "%s: min %v is above max %v", path, *c.Min, *c.Max)
		}
		out = append(out, c)
	})
	return out
}

// float parses a finite number.
func (p *parser) float(n *yaml.Node, field string) *float64 {
	n = resolveAlias(n)
	var f float64
	tag := n.ShortTag()
	if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		p.at(n, "%s: %q is not a finite number", field, n.Value)
		return nil
	}
	return &f
}
