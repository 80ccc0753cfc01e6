package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/honua-io/honua-gitops/internal/plan"
)

// ErrInvalid is what every *ParseError is (errors.Is): the policy file is
// not a valid policy.
var ErrInvalid = errors.New("invalid deployment policy")

// Problem is one thing wrong with a policy file, at a 1-based line and
// column (0 when the position is unknown).
type Problem struct {
	File    string
	Line    int
	Column  int
	Message string
}

// String returns the problem as file:line:column: message.
func (p Problem) String() string {
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Message)
}

// ParseError lists every problem Parse found, in file order.
type ParseError struct {
	Problems []Problem
}

// Error returns the problems one to a line.
func (e *ParseError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns ErrInvalid.
func (e *ParseError) Unwrap() error { return ErrInvalid }

// Parse parses a policy file; file names it in problems. Unset fields
// take their environment's defaults (see For). Parse reports every problem
// it finds, not only the first, as a *ParseError: unknown or repeated keys,
// a wrong apiVersion or kind, bad values, and environment names that
// break docs/domain.md#repository's rule.
func Parse(data []byte, file string) (*Policy, error) {
	p := &parser{file: file}
	pol := p.document(data)
	if len(p.problems) > 0 {
		slices.SortStableFunc(p.problems, func(a, b Problem) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Column - b.Column
		})
		return nil, &ParseError{Problems: p.problems}
	}
	return pol, nil
}

// parser collects problems as it walks the YAML node tree.
type parser struct {
	file     string
	problems []Problem
}

func (p *parser) at(n *yaml.Node, format string, args ...any) {
	p.problems = append(p.problems, Problem{File: p.file, Line: n.Line, Column: n.Column, Message: fmt.Sprintf(format, args...)})
}

// yamlLineRE finds the line in the YAML library's syntax errors.
var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (p *parser) document(data []byte) *Policy {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc, extra yaml.Node
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		p.syntax(err)
		return nil
	}
	if err := dec.Decode(&extra); err == nil {
		// An empty document after a trailing "---" is harmless.
		if len(extra.Content) > 0 && !isNull(extra.Content[0]) {
			p.at(&extra, "the file holds more than one YAML document")
		}
	} else if err != io.EOF {
		p.syntax(err)
	}
	// A file of only "---" holds a document with nothing in it.
	if doc.Kind == 0 || len(doc.Content) == 0 || (isNull(doc.Content[0]) && doc.Content[0].Value == "") {
		p.at(&yaml.Node{Line: 1, Column: 1}, "the file is empty: want apiVersion %s and kind %s", APIVersion, Kind)
		return nil
	}
	root := resolveAlias(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		p.at(root, "the file must be a mapping with apiVersion, kind and environments")
		return nil
	}
	pol := &Policy{environments: map[string]Environment{}}
	var apiVersion, kind *yaml.Node
	p.mapping(root, "", []string{"apiVersion", "kind", "environments"}, func(key string, k, v *yaml.Node) {
		switch key {
		case "apiVersion":
			apiVersion = v
			if s, ok := p.str(v, key); ok && s != APIVersion {
				p.at(v, "apiVersion %q is not %s", s, APIVersion)
			}
		case "kind":
			kind = v
			if s, ok := p.str(v, key); ok && s != Kind {
				p.at(v, "kind %q is not %s", s, Kind)
			}
		case "environments":
			p.environments(v, pol)
		}
	})
	if apiVersion == nil {
		p.at(root, "apiVersion is missing: want %s", APIVersion)
	}
	if kind == nil {
		p.at(root, "kind is missing: want %s", Kind)
	}
	return pol
}

// syntax reports a YAML syntax error, at its line when it gives one.
func (p *parser) syntax(err error) {
	pr := Problem{File: p.file, Message: strings.TrimPrefix(err.Error(), "yaml: ")}
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		pr.Line, _ = strconv.Atoi(m[1])
		pr.Message = m[2]
	}
	p.problems = append(p.problems, pr)
}

// envNameRE is docs/domain.md#repository's rule for environment names.
var envNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func (p *parser) environments(n *yaml.Node, pol *Policy) {
	n = resolveAlias(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.at(n, "environments must be a mapping from environment name to its policy")
		return
	}
	p.mapping(n, "environments", nil, func(name string, k, v *yaml.Node) {
		switch {
		case name == "common":
			p.at(k, "environments: %q is not an environment: it holds the configuration shared by all of them", name)
		case !envNameRE.MatchString(name):
			p.at(k, "environments: %q is not a valid environment name: want 1-63 lowercase letters, digits and '-', not starting or ending with '-'", name)
		}
		pol.environments[name] = p.environment(v, name)
	})
}

// environment parses one environment's entry over its defaults.
func (p *parser) environment(n *yaml.Node, name string) Environment {
	e := defaults(name)
	n = resolveAlias(n)
	if isNull(n) {
		return e
	}
	path := "environments." + name
	if n.Kind != yaml.MappingNode {
		p.at(n, "%s must be a mapping", path)
		return e
	}
	known := []string{
		"requireApproval", "minimumRiskForApproval", "breakingChangesRequireApproval",
		"requiredApprovals", "approvers", "approvalTimeout", "autoRollback",
		"rollbackRequiresApproval", "healthCheckTimeout", "deploymentWindows", "blackoutPeriods", "selfHeal", "rollout",
	}
	p.mapping(n, path, known, func(key string, k, v *yaml.Node) {
		field := path + "." + key
		switch key {
		case "requireApproval":
			if s, ok := p.str(v, field); ok {
				if m, err := ParseMode(s); err != nil {
					p.at(resolveAlias(v), "%s: %v", field, err)
				} else {
					e.RequireApproval = m
				}
			}
		case "minimumRiskForApproval":
			p.risk(v, field, &e.MinimumRiskForApproval)
		case "breakingChangesRequireApproval":
			p.bool(v, field, &e.BreakingChangesRequireApproval)
		case "requiredApprovals":
			p.approvals(v, field, &e.RequiredApprovals)
		case "approvers":
			e.Approvers = p.strings(v, field)
		case "approvalTimeout":
			p.duration(v, field, &e.ApprovalTimeout)
		case "autoRollback":
			p.bool(v, field, &e.AutoRollback)
		case "rollbackRequiresApproval":
			p.bool(v, field, &e.RollbackRequiresApproval)
		case "healthCheckTimeout":
			p.duration(v, field, &e.HealthCheckTimeout)
		case "deploymentWindows":
			e.DeploymentWindows = p.windows(v, field)
		case "blackoutPeriods":
			e.BlackoutPeriods = p.blackouts(v, field)
		case "selfHeal":
			p.bool(v, field, &e.SelfHeal)
		case "rollout":
			e.Rollout = p.rollout(v, field)
		}
	})
	return e
}

// mapping calls f for each key of the mapping n, in order, after
// reporting keys that repeat, are not strings, or are not in known (when
// known is not nil). path names n in problems.
func (p *parser) mapping(n *yaml.Node, path string, known []string, f func(key string, k, v *yaml.Node)) {
	seen := map[string]*yaml.Node{}
	in := ""
	if path != "" {
		in = " in " + path
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolveAlias(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.at(k, "keys%s must be names", in)
			continue
		}
		if first, ok := seen[k.Value]; ok {
			p.at(k, "key %q%s repeats the one at line %d", k.Value, in, first.Line)
			continue
		}
		seen[k.Value] = k
		if known != nil && !slices.Contains(known, k.Value) {
			p.at(k, "unknown key %q%s: want one of %s", k.Value, in, strings.Join(known, ", "))
			continue
		}
		f(k.Value, k, v)
	}
}

// str returns the string value of a scalar node.
func (p *parser) str(n *yaml.Node, field string) (string, bool) {
	n = resolveAlias(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		p.at(n, "%s must be a string", field)
		return "", false
	}
	return n.Value, true
}

func (p *parser) bool(n *yaml.Node, field string, out *bool) {
	n = resolveAlias(n)
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		p.at(n, "%s: %q is not true or false", field, n.Value)
		return
	}
	*out = b
}

func (p *parser) approvals(n *yaml.Node, field string, out *int) {
	n = resolveAlias(n)
	var i int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
		p.at(n, "%s: %q is not a whole number", field, n.Value)
		return
	}
	if i < 1 {
		p.at(n, "%s: %d is less than 1", field, i)
		return
	}
	*out = i
}

func (p *parser) risk(n *yaml.Node, field string, out *plan.Risk) {
	s, ok := p.str(n, field)
	if !ok {
		return
	}
	r, err := plan.ParseRisk(s)
	if err != nil {
		p.at(resolveAlias(n), "%s: %v", field, err)
		return
	}
	*out = r
}

func (p *parser) duration(n *yaml.Node, field string, out *time.Duration) {
	s, ok := p.str(n, field)
	if !ok {
		return
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		p.at(resolveAlias(n), "%s: %q is not a duration such as 30s, 2m or 24h", field, s)
	case d <= 0:
		p.at(resolveAlias(n), "%s: %q is not positive", field, s)
	default:
		*out = d
	}
}

// strings returns a sequence of non-empty strings.
func (p *parser) strings(n *yaml.Node, field string) []string {
	n = resolveAlias(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.at(n, "%s must be a list such as [devops-team, platform-admin]", field)
		return nil
	}
	var out []string
	for i, item := range n.Content {
		s, ok := p.str(item, fmt.Sprintf("%s[%d]", field, i))
		if !ok {
			continue
		}
		if s == "" {
			p.at(resolveAlias(item), "%s[%d] is empty", field, i)
			continue
		}
		out = append(out, s)
	}
	return out
}

// sequence calls f for each item of the sequence n with its path.
func (p *parser) sequence(n *yaml.Node, field string, f func(item *yaml.Node, path string)) {
	n = resolveAlias(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		p.at(n, "%s must be a list", field)
		return
	}
	for i, item := range n.Content {
		item = resolveAlias(item)
		path := fmt.Sprintf("%s[%d]", field, i)
		if item.Kind != yaml.MappingNode {
			p.at(item, "%s must be a mapping", path)
			continue
		}
		f(item, path)
	}
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}
