package plan_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/honua-io/honua-gitops/internal/plan"
)

// The configuration most tests start from: docs/domain.md#repository's example, plus a
// service and a data source nothing uses (so removing them is not critical),
// a third field, keywords, and appsettings and shared config.
const (
	fixtureMetadata = `{
  "services": [
    {"id": "test-service", "title": "Test Service", "dataSourceId": "test-postgis"},
    {"id": "spare-service", "title": "Spare Service", "dataSourceId": "test-postgis"}
  ],
  "layers": [{
    "id": "sample-points", "serviceId": "test-service", "title": "Sample Points",
    "description": "Points for tests", "geometryType": "Point", "srid": 4326,
    "keywords": ["a", "b"], "maxScale": 5000,
    "extent": [0, 0, 10, 10],
    "styles": [{"id": "default", "color": "red"}, {"id": "night", "color": "black"}],
    "storage": {"table": "public.sample_points", "geometryColumn": "geom", "primaryKey": "id"},
    "fields": [
      {"name": "id", "type": "integer"},
      {"name": "name", "type": "string", "alias": "Name"},
      {"name": "height", "type": "double"}
    ]
  }],
  "version": 1
}`
	fixtureDataSources = `{
  "dataSources": [
    {"id": "test-postgis", "provider": "postgis", "title": "Main database",
     "connection": {"host": "db", "port": 5432, "database": "gis", "user": "honua", "passwordEnv": "PGPASSWORD"},
     "pool": {"max": 10}},
    {"id": "archive", "provider": "postgis", "connection": {"host": "archive-db"}}
  ],
  "schemaVersion": 2
}`
	fixtureAppSettings = `{
  "Logging": {"LogLevel": {"Default": "Information"}},
  "Authentication": {"Jwt": {"Authority": "https://id.example"}},
  "Cache": {"Seconds": 60}
}`
	fixtureSharedConfig = `{
  "Telemetry": {"Enabled": true},
  "Cors": {"AllowedOrigins": ["https://a.example"]}
}`
	fixturePolicy = "apiVersion: honua.io/v1\nkind: DeploymentPolicy\n"
)

// docs is one version of the configuration, as mutable documents.
type docs struct {
	meta, ds, app, shared map[string]any
	policy                []byte
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("decode fixture: %v", err)
	}
	return m
}

func fixture(t *testing.T) *docs {
	t.Helper()
	return &docs{
		meta:   decode(t, fixtureMetadata),
		ds:     decode(t, fixtureDataSources),
		app:    decode(t, fixtureAppSettings),
		shared: decode(t, fixtureSharedConfig),
		policy: []byte(fixturePolicy),
	}
}

func (d *docs) input() plan.Input {
	in := plan.Input{Metadata: d.meta, DataSources: d.ds, Policy: d.policy}
	if d.app != nil {
		in.AppSettings = d.app
	}
	if d.shared != nil {
		in.SharedConfig = d.shared
	}
	return in
}

// find returns the element of parent[list] whose key is val.
func find(t *testing.T, parent map[string]any, list, key, val string) map[string]any {
	t.Helper()
	for _, e := range parent[list].([]any) {
		if m := e.(map[string]any); m[key] == val {
			return m
		}
	}
	t.Fatalf("fixture has no %s with %s %q", list, key, val)
	return nil
}

// drop removes the element of parent[list] whose key is val.
func drop(parent map[string]any, list, key, val string) {
	var kept []any
	for _, e := range parent[list].([]any) {
		if e.(map[string]any)[key] != val {
			kept = append(kept, e)
		}
	}
	parent[list] = kept
}

func (d *docs) layer(t *testing.T, id string) map[string]any {
	t.Helper()
	return find(t, d.meta, "layers", "id", id)
}

func (d *docs) service(t *testing.T, id string) map[string]any {
	t.Helper()
	return find(t, d.meta, "services", "id", id)
}

func (d *docs) dataSource(t *testing.T, id string) map[string]any {
	t.Helper()
	return find(t, d.ds, "dataSources", "id", id)
}

func (d *docs) field(t *testing.T, layer, name string) map[string]any {
	t.Helper()
	return find(t, d.layer(t, layer), "fields", "name", name)
}

func (d *docs) appendTo(parent map[string]any, list string, v any) {
	parent[list] = append(parent[list].([]any), v)
}

// changeByPath returns the plan's change at path.
func changeByPath(p *plan.Plan, path string) (plan.Change, bool) {
	for _, c := range p.Changes {
		if c.Path == path {
			return c, true
		}
	}
	return plan.Change{}, false
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal(%T): %v", v, err)
	}
	return string(b)
}

// fd builds an expected FieldDiff.
func fd(field string, from, to any, r plan.Risk, breaking bool, reason string) plan.FieldDiff {
	return plan.FieldDiff{Field: field, From: from, To: to, Risk: r, Breaking: breaking, Reason: reason}
}

func describe(c plan.Change) string {
	return fmt.Sprintf("%s %s %s", c.Action, c.Kind, c.Path)
}
