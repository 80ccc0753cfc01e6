package plan

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// normalize returns a deep copy of v in the JSON data model: every number
// becomes float64 (YAML decoders produce int), maps get string keys, and
// typed slices and maps become []any and map[string]any. The plan never
// shares memory with its inputs.
func normalize(v any) any {
	switch x := v.(type) {
	case nil, string, bool, float64:
		return x
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = normalize(e)
		}
		return m
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = normalize(e)
		}
		return s
	case int:
		return float64(x)
	case int8:
		return float64(x)
	case int16:
		return float64(x)
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case uint:
		return float64(x)
	case uint8:
		return float64(x)
	case uint16:
		return float64(x)
	case uint32:
		return float64(x)
	case uint64:
		return float64(x)
	case float32:
		// Through its shortest decimal form, so 0.1 stays 0.1.
		f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
		return f
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		s := make([]any, rv.Len())
		for i := range s {
			s[i] = normalize(rv.Index(i).Interface())
		}
		return s
	case reflect.Map:
		m := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			m[fmt.Sprint(it.Key().Interface())] = normalize(it.Value().Interface())
		}
		return m
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil
		}
		return normalize(rv.Elem().Interface())
	}
	return v
}

// rawDiff is one difference between two values, before it is rated.
type rawDiff struct {
	field          string
	from, to       any
	hasFrom, hasTo bool
}

func (d rawDiff) action() string {
	switch {
	case !d.hasFrom:
		return ActionAdded
	case !d.hasTo:
		return ActionRemoved
	}
	return ActionModified
}

// verb is how a reason says what happened to the field.
func (d rawDiff) verb() string {
	switch d.action() {
	case ActionAdded:
		return "added"
	case ActionRemoved:
		return "removed"
	}
	return "changed"
}

// top is the first segment of the field's dotted name: "storage" for
// "storage.table", "extent" for "extent[0]".
func (d rawDiff) top() string {
	if i := strings.IndexAny(d.field, ".["); i >= 0 {
		return d.field[:i]
	}
	return d.field
}

// rater rates one difference: its risk, whether it is breaking, and why.
type rater func(rawDiff) (Risk, bool, string)

// rateGeneric is the rating of an attribute the planner knows nothing about:
// added or changed low, removed medium and breaking.
func rateGeneric(d rawDiff) (Risk, bool, string) {
	if d.action() == ActionRemoved {
		return RiskMedium, true, d.field + " removed"
	}
	return RiskLow, false, d.field + " " + d.verb()
}

// rate turns differences into FieldDiffs.
func rate(raw []rawDiff, r rater) []FieldDiff {
	out := make([]FieldDiff, 0, len(raw))
	for _, d := range raw {
		fd := FieldDiff{Field: d.field, From: d.from, To: d.to}
		fd.Risk, fd.Breaking, fd.Reason = r(d)
		out = append(out, fd)
	}
	return out
}

// diffOptions tune diffMaps at the top level of a resource.
type diffOptions struct {
	skip map[string]bool // keys not diffed here (id, fields)
	sets map[string]bool // keys whose lists are compared as a whole, ignoring order (keywords)
}

// diffMaps appends the differences between two objects, key by key in
// sorted order.
func diffMaps(prefix string, a, b map[string]any, opts diffOptions, out []rawDiff) []rawDiff {
	for _, k := range unionKeys(a, b) {
		if opts.skip[k] {
			continue
		}
		av, hasA := a[k]
		bv, hasB := b[k]
		field := joinField(prefix, k)
		if opts.sets[k] && hasA && hasB {
			if !sameSet(av, bv) {
				out = append(out, rawDiff{field: field, from: av, to: bv, hasFrom: true, hasTo: true})
			}
			continue
		}
		out = diffValue(field, av, bv, hasA, hasB, out)
	}
	return out
}

// diffValue appends the differences between two values: objects are diffed
// key by key, lists element by element, anything else as a whole.
func diffValue(field string, a, b any, hasA, hasB bool, out []rawDiff) []rawDiff {
	if !hasA || !hasB {
		if hasA || hasB {
			out = append(out, rawDiff{field: field, from: a, to: b, hasFrom: hasA, hasTo: hasB})
		}
		return out
	}
	switch av := a.(type) {
	case map[string]any:
		if bv, ok := b.(map[string]any); ok {
			return diffMaps(field, av, bv, diffOptions{}, out)
		}
	case []any:
		if bv, ok := b.([]any); ok {
			return diffLists(field, av, bv, out)
		}
	}
	if !reflect.DeepEqual(a, b) {
		out = append(out, rawDiff{field: field, from: a, to: b, hasFrom: true, hasTo: true})
	}
	return out
}

// diffLists matches the elements of two lists by their "id" or "name" when
// every element of both is an object with a unique one, and by index
// otherwise.
func diffLists(prefix string, a, b []any, out []rawDiff) []rawDiff {
	for _, key := range []string{"id", "name"} {
		am, okA := keyedElements(a, key)
		bm, okB := keyedElements(b, key)
		if !okA || !okB || (len(am) == 0 && len(bm) == 0) {
			continue
		}
		for _, k := range unionKeys(am, bm) {
			av, hasA := am[k]
			bv, hasB := bm[k]
			out = diffValue(fmt.Sprintf("%s[%s=%s]", prefix, key, k), av, bv, hasA, hasB, out)
		}
		return out
	}
	for i := range max(len(a), len(b)) {
		var av, bv any
		if i < len(a) {
			av = a[i]
		}
		if i < len(b) {
			bv = b[i]
		}
		out = diffValue(fmt.Sprintf("%s[%d]", prefix, i), av, bv, i < len(a), i < len(b), out)
	}
	return out
}

// keyedElements indexes a list of objects by key, or reports false when an
// element is not an object, lacks a scalar key, or repeats one.
func keyedElements(list []any, key string) (map[string]any, bool) {
	m := make(map[string]any, len(list))
	for _, e := range list {
		obj, ok := e.(map[string]any)
		if !ok {
			return nil, false
		}
		k, ok := scalarKey(obj[key])
		if !ok {
			return nil, false
		}
		if _, dup := m[k]; dup {
			return nil, false
		}
		m[k] = e
	}
	return m, true
}

// scalarKey renders an id or name as a string.
func scalarKey(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, x != ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// sameSet reports whether two values are equal, ignoring the order of
// elements when both are lists.
func sameSet(a, b any) bool {
	al, okA := a.([]any)
	bl, okB := b.([]any)
	if !okA || !okB {
		return reflect.DeepEqual(a, b)
	}
	if len(al) != len(bl) {
		return false
	}
	used := make([]bool, len(bl))
next:
	for _, x := range al {
		for j, y := range bl {
			if !used[j] && reflect.DeepEqual(x, y) {
				used[j] = true
				continue next
			}
		}
		return false
	}
	return true
}

func unionKeys(a, b map[string]any) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func joinField(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// objectKeys returns every key of every object inside v, recursively.
func objectKeys(v any, out []string) []string {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			out = objectKeys(e, append(out, k))
		}
	case []any:
		for _, e := range x {
			out = objectKeys(e, out)
		}
	}
	return out
}
