package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LoadFile merges the YAML file at path into c: the options' keys (see
// Options) and the Sections. Unknown keys are refused with their line.
func (c *Config) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return &ConfigError{fmt.Errorf("config %s: %w", path, err)}
	}
	if err := c.decodeFile(b); err != nil {
		return &ConfigError{fmt.Errorf("config %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	return nil
}

// fileDoc is what the file is strictly decoded into: the sections, with
// every other top-level key set aside for decodeOptions.
type fileDoc struct {
	Sections `yaml:",inline"`
	Other    map[string]yaml.Node `yaml:",inline"`
}

// decodeFile decodes a configuration file's first document into c. Its
// errors are yaml's: a *yaml.TypeError lists every problem, each with its
// line, in the order of the lines.
func (c *Config) decodeFile(b []byte) error {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	m := &root
	if m.Kind == yaml.DocumentNode && len(m.Content) == 1 {
		m = m.Content[0]
	}
	if m.Kind != yaml.MappingNode {
		// A null document sets nothing; anything else is refused as
		// yaml words it ("cannot unmarshal !!seq into agent.Config").
		return root.Decode(new(Config))
	}
	// The sections, strictly: yaml refuses their unknown keys, and the
	// top level's repeated ones.
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	doc := fileDoc{Sections: c.Sections}
	var problems []string
	if err := dec.Decode(&doc); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return err
		}
		problems = te.Errors
	}
	c.Sections = doc.Sections
	more, err := c.decodeOptions(m, "")
	if err != nil {
		return err
	}
	problems = append(problems, more...)
	if len(problems) > 0 {
		slices.SortStableFunc(problems, func(a, b string) int { return lineOf(a) - lineOf(b) })
		return &yaml.TypeError{Errors: problems}
	}
	return nil
}

// decodeOptions decodes the options' keys of mapping m, whose keys start
// with prefix ("" at the top, "auth." below it), into c. It returns the
// problems yaml would report as a *yaml.TypeError, or another error that
// stops the decoding (a value an unmarshaler refused), as yaml does.
func (c *Config) decodeOptions(m *yaml.Node, prefix string) ([]string, error) {
	var problems []string
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if prefix == "" && slices.Contains(sectionKeys(), k.Value) {
			continue // decoded with the sections
		}
		if prefix != "" { // the top level's are checked with the sections
			if line, dup := seen[k.Value]; dup {
				problems = append(problems, fmt.Sprintf("line %d: mapping key %q already defined at line %d", k.Line, k.Value, line))
				continue
			}
			seen[k.Value] = k.Line
		}
		key := prefix + k.Value
		if o, ok := optionByKey(key); ok {
			if err := v.Decode(o.Field(c)); err != nil {
				var te *yaml.TypeError
				if !errors.As(err, &te) {
					return nil, err
				}
				problems = append(problems, te.Errors...)
			}
			continue
		}
		if isKeyPrefix(key + ".") {
			switch {
			case v.ShortTag() == "!!null":
			case v.Kind != yaml.MappingNode:
				// Refused as yaml words it ("cannot unmarshal !!int
				// `3` into agent.AuthConfig").
				if err := v.Decode(reflect.New(c.structOf(key)).Interface()); err != nil {
					var te *yaml.TypeError
					if !errors.As(err, &te) {
						return nil, err
					}
					problems = append(problems, te.Errors...)
				}
			default:
				more, err := c.decodeOptions(v, key+".")
				if err != nil {
					return nil, err
				}
				problems = append(problems, more...)
			}
			continue
		}
		where := reflect.TypeOf(*c)
		if prefix != "" {
			where = c.structOf(strings.TrimSuffix(prefix, "."))
		}
		problems = append(problems, fmt.Sprintf("line %d: field %s not found in type %s", k.Line, k.Value, where))
	}
	return problems, nil
}

// optionByKey returns the option whose file key is key.
func optionByKey(key string) (Option, bool) {
	for _, o := range Options() {
		if o.Key == key && o.Key != "" {
			return o, true
		}
	}
	return Option{}, false
}

// isKeyPrefix reports whether some option's file key starts with prefix
// ("auth.").
func isKeyPrefix(prefix string) bool {
	for _, o := range Options() {
		if strings.HasPrefix(o.Key, prefix) {
			return true
		}
	}
	return false
}

// structOf returns the type of the field of c that holds the options
// whose keys start with section + "." ("auth": AuthConfig), found by
// where their fields are.
func (c *Config) structOf(section string) reflect.Type {
	v := reflect.ValueOf(c).Elem()
	for _, o := range Options() {
		if !strings.HasPrefix(o.Key, section+".") {
			continue
		}
		addr := reflect.ValueOf(o.Field(c)).Pointer()
		for i := range v.NumField() {
			f := v.Field(i)
			start := f.Addr().Pointer()
			if f.Kind() == reflect.Struct && addr >= start && addr < start+f.Type().Size() {
				return f.Type()
			}
		}
	}
	panic("agent: no field of Config holds section " + section)
}

// sectionKeys are the top-level keys of Sections, from their yaml tags.
func sectionKeys() []string {
	t := reflect.TypeOf(Sections{})
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		keys = append(keys, name)
	}
	return keys
}

// lineOf is the line a yaml problem ("line 3: ...") names, 0 for none.
func lineOf(problem string) int {
	rest, ok := strings.CutPrefix(problem, "line ")
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(rest[:max(strings.IndexByte(rest, ':'), 0)])
	return n
}
