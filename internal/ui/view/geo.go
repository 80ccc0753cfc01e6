package view

import (
	"strings"

	"github.com/honua-io/honua-gitops/api"
)

// The geospatial callouts: the changes an approver of a map service must
// not miss, named the way internal/plan names them. A layer's geometryType,
// srid and storage keys (storage.table, storage.geometryColumn,
// storage.primaryKey, and others such as storage.schema) are field diffs of
// a "layer" change; a field's type change and a rename ("name") are field
// diffs of a "field" change; a field added or removed is a whole "field"
// change, as is a layer added or removed.

// callout is one geospatial change, labelled for people: "SRID 4326 → 3857".
type callout struct {
	Class string // one of the geo-* classes (see CSS), never from the input
	Label string
	Path  string // the change's path
}

// diffCallout returns the callout of a field diff of change c, if it is a
// geospatial one.
func diffCallout(c api.PlanChange, d api.FieldDiff) (callout, bool) {
	from := calloutValue(d.From, d.FromSummarized)
	to := calloutValue(d.To, d.ToSummarized)
	arrow := from + " → " + to
	out := callout{Path: c.Path}
	switch c.Kind {
	case "layer":
		switch f := d.Field; {
		case f == "geometryType":
			out.Class, out.Label = "geo-geometry-type", "Geometry type "+arrow
		case f == "srid":
			out.Class, out.Label = "geo-srid", "SRID "+arrow
		case f == "storage.table":
			out.Class, out.Label = "geo-table", "Table "+arrow
		case f == "storage.geometryColumn":
			out.Class, out.Label = "geo-geometry-column", "Geometry column "+arrow
		case f == "storage.primaryKey":
			out.Class, out.Label = "geo-primary-key", "Primary key "+arrow
		case f == "storage" || strings.HasPrefix(f, "storage.") || strings.HasPrefix(f, "storage["):
			out.Class, out.Label = "geo-storage", "Storage "+arrow
			if key := strings.TrimPrefix(strings.TrimPrefix(f, "storage"), "."); key != "" {
				out.Label = "Storage " + key + " " + arrow
			}
		case f == "fields":
			out.Class, out.Label = "geo-field", "Fields "+arrow
		default:
			return callout{}, false
		}
	case "field":
		name := fieldName(c.Path)
		switch d.Field {
		case "type":
			out.Class, out.Label = "geo-field", "Field "+name+" type "+arrow
		case "name":
			out.Class, out.Label = "geo-field", "Field renamed "+arrow
		default:
			return callout{}, false
		}
	default:
		return callout{}, false
	}
	return out, true
}

// changeCallout returns the callout of a whole change: a field or layer
// added or removed.
func changeCallout(c api.PlanChange) (callout, bool) {
	if c.Action != api.ActionAdded && c.Action != api.ActionRemoved {
		return callout{}, false
	}
	switch c.Kind {
	case "field":
		return callout{Class: "geo-field", Label: "Field " + fieldName(c.Path) + " " + c.Action, Path: c.Path}, true
	case "layer":
		return callout{Class: "geo-layer", Label: "Layer " + strings.TrimPrefix(c.Path, "layers/") + " " + c.Action, Path: c.Path}, true
	}
	return callout{}, false
}

// fieldName is the field's name in a field change's path
// (layers/<layer>/fields/<name>); the whole path when it has another shape.
func fieldName(path string) string {
	if i := strings.LastIndex(path, "/fields/"); i >= 0 {
		return path[i+len("/fields/"):]
	}
	return path
}

// calloutValue is a value as a callout shows it: strings unquoted.
func calloutValue(v any, summarized bool) string {
	if summarized {
		return FormatValue(v, true)
	}
	return plainValue(v)
}
