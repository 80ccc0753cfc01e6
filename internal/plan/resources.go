package plan

import (
	"fmt"
	"reflect"
	"slices"
)

// config is one Input, normalized and indexed.
type config struct {
	services, layers, dataSources resourceSet
	metadataExtra                 map[string]any // metadata.json keys other than services and layers
	dataSourcesExtra              map[string]any // datasources.json keys other than dataSources
	appSettings, sharedConfig     any
}

func parse(in Input) *config {
	meta := asObject(normalize(in.Metadata))
	ds := asObject(normalize(in.DataSources))
	return &config{
		services:         indexResources(meta["services"], "id"),
		layers:           indexResources(meta["layers"], "id"),
		dataSources:      indexResources(ds["dataSources"], "id"),
		metadataExtra:    without(meta, "services", "layers"),
		dataSourcesExtra: without(ds, "dataSources"),
		appSettings:      normalize(in.AppSettings),
		sharedConfig:     normalize(in.SharedConfig),
	}
}

// asObject returns v as an object; an absent or malformed document is empty.
func asObject(v any) map[string]any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

func without(m map[string]any, keys ...string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if !slices.Contains(keys, k) {
			out[k] = v
		}
	}
	return out
}

// resourceSet is a list of resources indexed by their key (id or name).
type resourceSet struct {
	keys  []string                  // in list order
	items map[string]map[string]any // by key
	index map[string]int            // position in the list, counting every element
}

// indexResources indexes the objects of a list by their key attribute.
// Elements that are not objects are skipped (validation rejects them). An
// element without a key is keyed "#<index>"; a repeated key gets "#2", "#3"…
// so that no element is silently dropped.
func indexResources(list any, key string) resourceSet {
	rs := resourceSet{items: map[string]map[string]any{}, index: map[string]int{}}
	l, _ := list.([]any)
	for i, e := range l {
		obj, ok := e.(map[string]any)
		if !ok {
			continue
		}
		k, ok := scalarKey(obj[key])
		if !ok {
			k = fmt.Sprintf("#%d", i)
		}
		for n, base := 2, k; rs.items[k] != nil; n++ {
			k = fmt.Sprintf("%s#%d", base, n)
		}
		rs.keys = append(rs.keys, k)
		rs.items[k] = obj
		rs.index[k] = i
	}
	return rs
}

func (rs resourceSet) has(k string) bool { return rs.items[k] != nil }

// resourceKind says how one kind of resource is diffed and rated.
type resourceKind struct {
	kind, prefix, noun string
	rate               rater
	opts               diffOptions
	added              Risk
	removed            Risk
	removedBreaking    bool
}

var cosmetic = map[string]bool{"title": true, "description": true, "alias": true, "keywords": true}

var serviceKind = resourceKind{
	kind: KindService, prefix: "services/", noun: "service",
	added: RiskLow, removed: RiskMedium, removedBreaking: true,
	opts: diffOptions{skip: map[string]bool{"id": true}, sets: map[string]bool{"keywords": true}},
	rate: func(d rawDiff) (Risk, bool, string) {
		switch top := d.top(); {
		case cosmetic[top]:
			return RiskLow, false, d.field + " " + d.verb()
		case top == "dataSourceId":
			return RiskHigh, true, "dataSourceId " + d.verb()
		}
		return rateGeneric(d)
	},
}

var layerKind = resourceKind{
	kind: KindLayer, prefix: "layers/", noun: "layer",
	added: RiskLow, removed: RiskMedium, removedBreaking: true,
	opts: diffOptions{skip: map[string]bool{"id": true, "fields": true}, sets: map[string]bool{"keywords": true}},
	rate: func(d rawDiff) (Risk, bool, string) {
		switch top := d.top(); {
		case cosmetic[top]:
			return RiskLow, false, d.field + " " + d.verb()
		case top == "geometryType", top == "srid", top == "storage":
			return RiskHigh, true, d.field + " " + d.verb()
		case top == "serviceId":
			return RiskMedium, true, "serviceId " + d.verb()
		case top == "fields":
			// Only when fields is not a list on one side (see diffFields).
			return RiskHigh, true, "fields " + d.verb()
		}
		return rateGeneric(d)
	},
}

var dataSourceKind = resourceKind{
	kind: KindDataSource, prefix: "dataSources/", noun: "data source",
	added: RiskHigh, removed: RiskHigh,
	opts: diffOptions{skip: map[string]bool{"id": true}},
	rate: func(d rawDiff) (Risk, bool, string) {
		switch top := d.top(); {
		case top == "provider", top == "connection":
			return RiskHigh, false, d.field + " " + d.verb()
		case cosmetic[top]:
			return RiskLow, false, d.field + " " + d.verb()
		}
		return rateGeneric(d)
	},
}

// fieldKindFor is the kind of a layer's fields, whose paths sit under the
// layer's.
func fieldKindFor(layer string) resourceKind {
	return resourceKind{
		kind: KindField, prefix: "layers/" + layer + "/fields/", noun: "field",
		added: RiskLow, removed: RiskMedium, removedBreaking: true,
		opts: diffOptions{sets: map[string]bool{"keywords": true}},
		rate: func(d rawDiff) (Risk, bool, string) {
			switch top := d.top(); {
			case top == "name":
				return RiskHigh, true, fmt.Sprintf("renamed from %v to %v", d.from, d.to)
			case top == "type":
				return RiskHigh, true, "type " + d.verb()
			case cosmetic[top]:
				return RiskLow, false, d.field + " " + d.verb()
			}
			return rateGeneric(d)
		},
	}
}

// diff returns the changes between two sets of one kind of resource.
func (k resourceKind) diff(base, head resourceSet) []Change {
	var cs []Change
	for _, key := range base.keys {
		if !head.has(key) {
			cs = append(cs, k.removedChange(key))
		}
	}
	for _, key := range head.keys {
		if !base.has(key) {
			cs = append(cs, k.addedChange(key))
			continue
		}
		if c, ok := k.modifiedChange(key, base.items[key], head.items[key]); ok {
			cs = append(cs, c)
		}
	}
	return cs
}

func (k resourceKind) addedChange(key string) Change {
	return Change{Action: ActionAdded, Kind: k.kind, Path: k.prefix + key, Risk: k.added, Reason: k.noun + " added"}
}

func (k resourceKind) removedChange(key string) Change {
	return Change{Action: ActionRemoved, Kind: k.kind, Path: k.prefix + key, Risk: k.removed,
		Breaking: k.removedBreaking, Reason: k.noun + " removed"}
}

// modifiedChange diffs one resource's attributes, reporting false when they
// are equal. path is the key of the resource in head.
func (k resourceKind) modifiedChange(path string, a, b map[string]any) (Change, bool) {
	raw := diffMaps("", a, b, k.opts, nil)
	if k.kind == KindLayer && !(isListOrAbsent(a, "fields") && isListOrAbsent(b, "fields")) {
		raw = diffValue("fields", a["fields"], b["fields"], a["fields"] != nil, b["fields"] != nil, raw)
	}
	if len(raw) == 0 {
		return Change{}, false
	}
	return modifiedChange(k.kind, k.prefix+path, rate(raw, k.rate)), true
}

func isListOrAbsent(obj map[string]any, key string) bool {
	v, ok := obj[key]
	if !ok || v == nil {
		return true
	}
	_, ok = v.([]any)
	return ok
}

// diffAllFields returns the field changes of every layer present in both
// versions. The fields of an added or removed layer are part of that change.
func diffAllFields(base, head resourceSet) []Change {
	var cs []Change
	for _, key := range head.keys {
		a, b := base.items[key], head.items[key]
		if a == nil || !isListOrAbsent(a, "fields") || !isListOrAbsent(b, "fields") {
			continue
		}
		cs = append(cs, diffFields(key, indexResources(a["fields"], "name"), indexResources(b["fields"], "name"))...)
	}
	return cs
}

// diffFields diffs one layer's fields by name. A rename is inferred, and
// reported as one modified change at the new name, when the layer lost
// exactly one field and gained exactly one, the two sit at the same index of
// the fields list, and their types are equal. Anything else (two fields
// swapped for two, a different position, a different type) is reported as
// removed and added fields, since guessing wrong would hide a removal.
func diffFields(layer string, base, head resourceSet) []Change {
	k := fieldKindFor(layer)
	var gone, fresh []string
	for _, key := range base.keys {
		if !head.has(key) {
			gone = append(gone, key)
		}
	}
	for _, key := range head.keys {
		if !base.has(key) {
			fresh = append(fresh, key)
		}
	}
	var cs []Change
	if len(gone) == 1 && len(fresh) == 1 {
		from, to := base.items[gone[0]], head.items[fresh[0]]
		if base.index[gone[0]] == head.index[fresh[0]] && reflect.DeepEqual(from["type"], to["type"]) {
			c, _ := k.modifiedChange(fresh[0], from, to)
			cs = append(cs, c)
			gone, fresh = nil, nil
		}
	}
	for _, key := range gone {
		cs = append(cs, k.removedChange(key))
	}
	for _, key := range head.keys {
		if slices.Contains(fresh, key) {
			cs = append(cs, k.addedChange(key))
		} else if base.has(key) {
			if c, ok := k.modifiedChange(key, base.items[key], head.items[key]); ok {
				cs = append(cs, c)
			}
		}
	}
	return cs
}
