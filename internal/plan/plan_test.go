package plan_test

import (
	"reflect"
	"testing"

	"github.com/honua-io/honua-gitops/internal/plan"
)

const (
	low      = plan.RiskLow
	medium   = plan.RiskMedium
	high     = plan.RiskHigh
	critical = plan.RiskCritical
)

// TestComputeRatings has one row per row of docs/domain.md#risk's table, then one
// per rating the table is silent on. Each edit makes exactly one change
// (wantN says otherwise), and the row gives it in full.
func TestComputeRatings(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(t *testing.T, base, head *docs)
		want  plan.Change
		wantN int
	}{
		// layer/service/field added; title, description, alias, keywords changed: low.
		{"layer added", func(t *testing.T, b, h *docs) {
			h.appendTo(h.meta, "layers", map[string]any{"id": "new-layer", "serviceId": "test-service"})
		}, plan.Change{Action: "added", Kind: "layer", Path: "layers/new-layer", Risk: low, Reason: "layer added"}, 1},
		{"service added", func(t *testing.T, b, h *docs) {
			h.appendTo(h.meta, "services", map[string]any{"id": "new-service", "dataSourceId": "archive"})
		}, plan.Change{Action: "added", Kind: "service", Path: "services/new-service", Risk: low, Reason: "service added"}, 1},
		{"field added", func(t *testing.T, b, h *docs) {
			h.appendTo(h.layer(t, "sample-points"), "fields", map[string]any{"name": "note", "type": "string"})
		}, plan.Change{Action: "added", Kind: "field", Path: "layers/sample-points/fields/note", Risk: low, Reason: "field added"}, 1},
		{"layer title changed", func(t *testing.T, b, h *docs) {
			h.layer(t, "sample-points")["title"] = "Points"
		}, plan.Change{Action: "modified", Kind: "layer", Path: "layers/sample-points", Risk: low, Reason: "title changed",
			Diff: []plan.FieldDiff{fd("title", "Sample Points", "Points", low, false, "title changed")}}, 1},
		{"layer description changed", func(t *testing.T, b, h *docs) {
			h.layer(t, "sample-points")["description"] = "Other points"
		}, plan.Change{Action: "modified", Kind: "layer", Path: "layers/sample-points", Risk: low, Reason: "description changed",
			Diff: []plan.FieldDiff{fd("description", "Points for tests", "Other points", low, false, "description changed")}}, 1},
		{"field alias changed", func(t *testing.T, b, h *docs) {
			h.field(t, "sample-points", "name")["alias"] = "Label"
		}, plan.Change{Action: "modified", Kind: "field", Path: "layers/sample-points/fields/name", Risk: low, Reason: "alias changed",
			Diff: []plan.FieldDiff{fd("alias", "Name", "Label", low, false, "alias changed")}}, 1},
		{"layer keywords changed", func(t *testing.T, b, h *docs) {
			h.layer(t, "sample-points")["keywords"] = []any{"b", "c"}
		}, plan.Change{Action: "modified", Kind: "layer", Path: "layers/sample-points", Risk: low, Reason: "keywords changed",
			Diff: []plan.FieldDiff{fd("keywords", []any{"a", "b"}, []any{"b", "c"}, low, false, "keywords changed")}}, 1},
		{"service title changed", func(t *testing.T, b, h *docs) {
			h.service(t, "test-service")["title"] = "Tests"
		}, plan.Change{Action: "modified", Kind: "service", Path: "services/test-service", Risk: low, Reason: "title changed",
			Diff: []plan.FieldDiff{fd("title", "Test Service", "Tests", low, false, "title changed")}}, 1},

		// layer or service removed; field removed: medium, breaking.
		{"layer removed", func(t *testing.T, b, h *docs) {
			drop(h.meta, "layers", "id", "sample-points")
		}, plan.Change{Action: "removed", Kind: "layer", Path: "layers/sample-points", Risk: medium, Breaking: true, Reason: "layer removed"}, 1},
		{"service removed", func(t *testing.T, b, h *docs) {
			drop(h.meta, "services", "id", "spare-service")
		}, plan.Change{Action: "removed", Kind: "service", Path: "services/spare-service", Risk: medium, Breaking: true, Reason: "service removed"}, 1},
		{"field removed", func(t *testing.T, b, h *docs) {
			drop(h.layer(t, "sample-points"), "fields", "name", "height")
		}, plan.Change{Action: "removed", Kind: "field", Path: "layers/sample-points/fields/height", Risk: medium, Breaking: true, Reason: "field removed"}, 1},

		// geometryType, srid, storage.table changed; field renamed or retyped: high, breaking.
		{"geometryType changed", func(t *testing.T, b, h *docs) {
			h.layer(t, "sample-points")["geometryType"] = "MultiPoint"
		}, plan.Change{Action: "modified", Kind: "layer", Path: "layers/sample-points", Risk: high, Breaking: true, Reason: "geometryType changed",
			Diff: []plan.FieldDiff{fd("geometryType", "Point", "MultiPoint", high, true, "geometryType changed")}}, 1},
		{"srid changed", func(t *testing.T, b, h *docs) {
			h.layer(t, "sample-points")["srid"] = 3857.0
		}, plan.Change{Action: "modified", Kind: "layer", Path: "layers/sample-points", Risk: high, Breaking: true, Reason: "srid changed",
			Diff: []plan.FieldDiff{fd("srid", 4326.0, 3857.0, high, true, "srid changed")}}, 1},
		{"storage.table changed", func(t *testing.T, b, h *docs) {
			h.layer(t, "sample-points")["storage"].(map[string]any)["table"] = "public.points"
		}, plan.Change{Action: "modified", Kind: "layer", Path: "layers/sample-points", Risk: high, Breaking: true, Reason: "storage.table changed",
			Diff: []plan.FieldDiff{fd("storage.table", "public.sample_points", "public.points", high, true, "storage.table changed")}}, 1},
		{"field renamed", func(t *testing.T, b, h *docs) {
			h.field(t, "sample-points", "height")["name"] = "elevation"
		}, plan.Change{Action: "modified", Kind: "field", Path: "layers/sample-points/fields/elevation", Risk: high, Breaking: true,
			Reason: "renamed from height to elevation",
			Diff:   []plan.FieldDiff{fd("name", "height", "elevation", high, true, "renamed from height to elevation")}}, 1},
		{"field type changed", func(t *testing.T, b, h *docs) {
			h.field(t, "sample-points", "height")["type"] = "integer"
		}, plan.Change{Action: "modified", Kind: "field", Path: "layers/sample-points/fields/height", Risk: high, Breaking: true, Reason: "type changed",
			Diff: []plan.FieldDiff{fd("type", "double", "integer", high, true, "type changed")}}, 1},

		// data source added, removed, connection changed; appsettings security keys: high.
		{"data source added", func(t *testing.T, b, h *docs) {
			h.appendTo(h.ds, "dataSources", map[string]any{"id": "new-db", "provider": "postgis"})
		}, plan.Change{Action: "added", Kind: "dataSource", Path: "dataSources/new-db", Risk: high, Reason: "data source added"}, 1},
		{"data source removed", func(t *testing.T, b, h *docs) {
			drop(h.ds, "dataSources", "id", "archive")
		}, plan.Change{Action: "removed", Kind: "dataSource", Path: "dataSources/archive", Risk: high, Reason: "data source removed"}, 1},
		{"data source connection changed", func(t *testing.T, b, h *docs) {
			h.dataSource(t, "test-postgis")["connection"].(map[string]any)["host"] = "db2"
		}, plan.Change{Action: "modified", Kind: "dataSource", Path: "dataSources/test-postgis", Risk: high, Reason: "connection.host changed",
			Diff: []plan.FieldDiff{fd("connection.host", "db", "db2", high, false, "connection.host changed")}}, 1},
		{"data source connection key added", func(t *testing.T, b, h *docs) {
			h.dataSource(t, "test-postgis")["connection"].(map[string]any)["sslmode"] = "require"
		}, plan.Change{Action: "modified", Kind: "dataSource", Path: "dataSources/test-postgis", Risk: high, Reason: "connection.sslmode added",
			Diff: []plan.FieldDiff{fd("connection.sslmode", nil, "require", high, false, "connection.sslmode added")}}, 1},
		{"data source provider changed", func(t *testing.T, b, h *docs) {
			h.dataSource(t, "archive")["provider"] = "gpkg"
		}, plan.Change{Action: "modified", Kind: "dataSource", Path: "dataSources/archive", Risk: high, Reason: "provider changed",
			Diff: []plan.FieldDiff{fd("provider", "postgis", "gpkg", high, false, "provider changed")}}, 1},
		{"appsettings security key changed", func(t *testing.T, b, h *docs) {
			h.app["Authentication"].(map[string]any)["Jwt"].(map[string]any)["Authority"] = "https://evil.example"
		}, plan.Change{Action: "modified", Kind: "appSetting", Path: "appsettings/Authentication.Jwt.Authority", Risk: high,
			Reason: "security setting changed",
			Diff: []plan.FieldDiff{fd("Authentication.Jwt.Authority", "https://id.example", "https://evil.example", high, false,
				"security setting changed")}}, 1},

		// Other appsettings and shared-config: added or changed low, removed medium breaking.
		{"appsettings key changed", func(t *testing.T, b, h *docs) {
			h.app["Logging"].(map[string]any)["LogLevel"].(map[string]any)["Default"] = "Debug"
		}, plan.Change{Action: "modified", Kind: "appSetting", Path: "appsettings/Logging.LogLevel.Default", Risk: low,
			Reason: "Logging.LogLevel.Default changed",
			Diff: []plan.FieldDiff{fd("Logging.LogLevel.Default", "Information", "Debug", low, false,
				"Logging.LogLevel.Default changed")}}, 1},
		{"appsettings key added", func(t *testing.T, b, h *docs) {
			h.app["Cache"].(map[string]any)["Size"] = 10.0
		}, plan.Change{Action: "added", Kind: "appSetting", Path: "appsettings/Cache.Size", Risk: low, Reason: "Cache.Size added",
			Diff: []plan.FieldDiff{fd("Cache.Size", nil, 10.0, low, false, "Cache.Size added")}}, 1},
		{"appsettings key removed", func(t *testing.T, b, h *docs) {
			delete(h.app["Cache"].(map[string]any), "Seconds")
		}, plan.Change{Action: "removed", Kind: "appSetting", Path: "appsettings/Cache.Seconds", Risk: medium, Breaking: true,
			Reason: "Cache.Seconds removed",
			Diff:   []plan.FieldDiff{fd("Cache.Seconds", 60.0, nil, medium, true, "Cache.Seconds removed")}}, 1},
		{"shared-config key changed", func(t *testing.T, b, h *docs) {
			h.shared["Telemetry"].(map[string]any)["Enabled"] = false
		}, plan.Change{Action: "modified", Kind: "sharedConfig", Path: "shared-config/Telemetry.Enabled", Risk: low,
			Reason: "Telemetry.Enabled changed",
			Diff:   []plan.FieldDiff{fd("Telemetry.Enabled", true, false, low, false, "Telemetry.Enabled changed")}}, 1},
		{"shared-config section removed", func(t *testing.T, b, h *docs) {
			delete(h.shared, "Telemetry")
		}, plan.Change{Action: "removed", Kind: "sharedConfig", Path: "shared-config/Telemetry", Risk: medium, Breaking: true,
			Reason: "Telemetry removed",
			Diff: []plan.FieldDiff{fd("Telemetry", map[string]any{"Enabled": true}, nil, medium, true,
				"Telemetry removed")}}, 1},

		// data source removed while a layer still uses it; an invalid reference: critical.
		{"data source removed while a layer uses it", func(t *testing.T, b, h *docs) {
			drop(h.ds, "dataSources", "id", "test-postgis")
		}, plan.Change{Action: "removed", Kind: "dataSource", Path: "dataSources/test-postgis", Risk: critical, Breaking: true,
			Reason: "removed while still used by service spare-service, service test-service, layer sample-points"}, 1},
		{"layer references a missing service", func(t *testing.T, b, h *docs) {
			h.layer(t, "sample-points")["serviceId"] = "ghost"
		}, plan.Change{Action: "modified", Kind: "layer", Path: "layers/sample-points", Risk: critical, Breaking: true,
			Reason: "references missing service ghost",
			Diff:   []plan.FieldDiff{fd("serviceId", "test-service", "ghost", medium, true, "serviceId changed")}}, 1},
		{"added layer references a missing service", func(t *testing.T, b, h *docs) {
			h.appendTo(h.meta, "layers", map[string]any{"id": "orphan", "serviceId": "ghost"})
		}, plan.Change{Action: "added", Kind: "layer", Path: "layers/orphan", Risk: critical, Breaking: true,
			Reason: "references missing service ghost"}, 1},
		{"service references a missing data source", func(t *testing.T, b, h *docs) {
			h.service(t, "spare-service")["dataSourceId"] = "ghost"
		}, plan.Change{Action: "modified", Kind: "service", Path: "services/spare-service", Risk: critical, Breaking: true,
			Reason: "references missing data source ghost",
			Diff:   []plan.FieldDiff{fd("dataSourceId", "test-postgis", "ghost", high, true, "dataSourceId changed")}}, 1},
		{"service removed while a layer uses it", func(t *testing.T, b, h *docs) {
			drop(h.meta, "services", "id", "test-service")
		}, plan.Change{Action: "removed", Kind: "service", Path: "services/test-service", Risk: critical, Breaking: true,
			Reason: "removed while still used by layer sample-points"}, 1},

		// The policy file: high.
		{"policy changed", func(t *testing.T, b, h *docs) {
			h.policy = []byte(fixturePolicy + "environments: {}\n")
		}, plan.Change{Action: "modified", Kind: "policy", Path: "policy", Risk: high, Reason: "deployment policy changed"}, 1},
		{"policy added", func(t *testing.T, b, h *docs) {
			b.policy = nil
		}, plan.Change{Action: "added", Kind: "policy", Path: "policy", Risk: high, Reason: "deployment policy added"}, 1},
		{"policy removed", func(t *testing.T, b, h *docs) {
			h.policy = nil
		}, plan.Change{Action: "removed", Kind: "policy", Path: "policy", Risk: high, Reason: "deployment policy removed"}, 1},

		// Ratings the original specification was silent on.
		{"storage.geometryColumn changed", func(t *testing.T, b, h *docs) {
			h.layer(t, "sample-points")["storage"].(map[string]any)["geometryColumn"] = "shape"
		}, plan.Change{Action: "modified", Kind: "layer", Path: "layers/sample-points", Risk: high, Breaking: true,
			Reason: "storage.geometryColumn changed",
			Diff:   []plan.FieldDiff{fd("storage.geometryColumn", "geom", "shape", high, true, "storage.geometryColumn changed")}}, 1},
		{"storage.primaryKey changed", func(t *testing.T, b, h *docs) {
			h.layer(t, "sample-points")["storage"].(map[string]any)["primaryKey"] = "gid"
		}, plan.Change{Action: "modified", Kind: "layer", Path: "layers/sample-points", Risk: high, Breaking: true,
			Reason: "storage.primaryKey changed",
			Diff:   []plan.FieldDiff{fd("storage.primaryKey", "id", "gid", high, true, "storage.primaryKey changed")}}, 1},
		{"unknown storage key added", func(t *testing.T, b, h *docs) {
			h.layer(t, "sample-points")["storage"].(map[string]any)["schema"] = "archive"
		}, plan.Change{Action: "modified", Kind: "layer", Path: "layers/sample-points", Risk: high, Breaking: true,
			Reason: "storage.schema added",
			Diff:   []plan.FieldDiff{fd("storage.schema", nil, "archive", high, true, "storage.schema added")}}, 1},
		{"service dataSourceId changed", func(t *testing.T, b, h *docs) {
			h.service(t, "test-service")["dataSourceId"] = "archive"
		}, plan.Change{Action: "modified", Kind: "service", Path: "services/test-service", Risk: high, Breaking: true,
			Reason: "dataSourceId changed",
			Diff:   []plan.FieldDiff{fd("dataSourceId", "test-postgis", "archive", high, true, "dataSourceId changed")}}, 1},
		{"layer serviceId changed", func(t *testing.T, b, h *docs) {
			h.layer(t, "sample-points")["serviceId"] = "spare-service"
		}, plan.Change{Action: "modified", Kind: "layer", Path: "layers/sample-points", Risk: medium, Breaking: true,
			Reason: "serviceId changed",
			Diff:   []plan.FieldDiff{fd("serviceId", "test-service", "spare-service", medium, true, "serviceId changed")}}, 1},
		{"field description added", func(t *testing.T, b, h *docs) {
			h.field(t, "sample-points", "id")["description"] = "Row id"
		}, plan.Change{Action: "modified", Kind: "field", Path: "layers/sample-points/fields/id", Risk: low, Reason: "description added",
			Diff: []plan.FieldDiff{fd("description", nil, "Row id", low, false, "description added")}}, 1},
		{"layer title removed", func(t *testing.T, b, h *docs) {
			delete(h.layer(t, "sample-points"), "title")
		}, plan.Change{Action: "modified", Kind: "layer", Path: "layers/sample-points", Risk: low, Reason: "title removed",
			Diff: []plan.FieldDiff{fd("title", "Sample Points", nil, low, false, "title removed")}}, 1},
		{"unknown key added", func(t *testing.T, b, h *docs) {
			h.layer(t, "sample-points")["minScale"] = 100.0
		}, plan.Change{Action: "modified", Kind: "layer", Path: "layers/sample-points", Risk: low, Reason: "minScale added",
			Diff: []plan.FieldDiff{fd("minScale", nil, 100.0, low, false, "minScale added")}}, 1},
		{"unknown key changed", func(t *testing.T, b, h *docs) {
			h.layer(t, "sample-points")["maxScale"] = 9000.0
		}, plan.Change{Action: "modified", Kind: "layer", Path: "layers/sample-points", Risk: low, Reason: "maxScale changed",
			Diff: []plan.FieldDiff{fd("maxScale", 5000.0, 9000.0, low, false, "maxScale changed")}}, 1},
		{"unknown key removed", func(t *testing.T, b, h *docs) {
			delete(h.layer(t, "sample-points"), "maxScale")
		}, plan.Change{Action: "modified", Kind: "layer", Path: "layers/sample-points", Risk: medium, Breaking: true,
			Reason: "maxScale removed",
			Diff:   []plan.FieldDiff{fd("maxScale", 5000.0, nil, medium, true, "maxScale removed")}}, 1},
		{"unknown list of objects matched by id", func(t *testing.T, b, h *docs) {
			h.layer(t, "sample-points")["styles"] = []any{
				map[string]any{"id": "night", "color": "navy"}, map[string]any{"id": "default", "color": "red"}}
		}, plan.Change{Action: "modified", Kind: "layer", Path: "layers/sample-points", Risk: low,
			Reason: "styles[id=night].color changed",
			Diff:   []plan.FieldDiff{fd("styles[id=night].color", "black", "navy", low, false, "styles[id=night].color changed")}}, 1},
		{"unknown list compared by index", func(t *testing.T, b, h *docs) {
			h.layer(t, "sample-points")["extent"] = []any{0.0, 0.0, 20.0, 10.0, 5.0}
		}, plan.Change{Action: "modified", Kind: "layer", Path: "layers/sample-points", Risk: low,
			Reason: "extent[2] changed; extent[4] added",
			Diff: []plan.FieldDiff{fd("extent[2]", 10.0, 20.0, low, false, "extent[2] changed"),
				fd("extent[4]", nil, 5.0, low, false, "extent[4] added")}}, 1},
		{"data source title changed", func(t *testing.T, b, h *docs) {
			h.dataSource(t, "test-postgis")["title"] = "Primary"
		}, plan.Change{Action: "modified", Kind: "dataSource", Path: "dataSources/test-postgis", Risk: low, Reason: "title changed",
			Diff: []plan.FieldDiff{fd("title", "Main database", "Primary", low, false, "title changed")}}, 1},
		{"data source unknown key changed", func(t *testing.T, b, h *docs) {
			h.dataSource(t, "test-postgis")["pool"].(map[string]any)["max"] = 20.0
		}, plan.Change{Action: "modified", Kind: "dataSource", Path: "dataSources/test-postgis", Risk: low, Reason: "pool.max changed",
			Diff: []plan.FieldDiff{fd("pool.max", 10.0, 20.0, low, false, "pool.max changed")}}, 1},
		{"data source unknown key removed", func(t *testing.T, b, h *docs) {
			delete(h.dataSource(t, "test-postgis"), "pool")
		}, plan.Change{Action: "modified", Kind: "dataSource", Path: "dataSources/test-postgis", Risk: medium, Breaking: true,
			Reason: "pool removed",
			Diff:   []plan.FieldDiff{fd("pool", map[string]any{"max": 10.0}, nil, medium, true, "pool removed")}}, 1},
		{"shared-config security key changed", func(t *testing.T, b, h *docs) {
			h.shared["Cors"].(map[string]any)["AllowedOrigins"] = []any{"*"}
		}, plan.Change{Action: "modified", Kind: "sharedConfig", Path: "shared-config/Cors.AllowedOrigins[0]", Risk: high,
			Reason: "security setting changed",
			Diff:   []plan.FieldDiff{fd("Cors.AllowedOrigins[0]", "https://a.example", "*", high, false, "security setting changed")}}, 1},
		{"appsettings section with a nested security key added", func(t *testing.T, b, h *docs) {
			h.app["Kestrel"] = map[string]any{"Endpoints": map[string]any{"Https": map[string]any{"Certificate": "/etc/c.pem"}}}
		}, plan.Change{Action: "added", Kind: "appSetting", Path: "appsettings/Kestrel", Risk: high, Reason: "security setting added",
			Diff: []plan.FieldDiff{fd("Kestrel", nil,
				map[string]any{"Endpoints": map[string]any{"Https": map[string]any{"Certificate": "/etc/c.pem"}}},
				high, false, "security setting added")}}, 1},
		{"appsettings security key removed", func(t *testing.T, b, h *docs) {
			delete(h.app, "Authentication")
		}, plan.Change{Action: "removed", Kind: "appSetting", Path: "appsettings/Authentication", Risk: high, Breaking: true,
			Reason: "security setting removed",
			Diff: []plan.FieldDiff{fd("Authentication", map[string]any{"Jwt": map[string]any{"Authority": "https://id.example"}}, nil,
				high, true, "security setting removed")}}, 1},
		{"appsettings file added", func(t *testing.T, b, h *docs) {
			b.app = nil
			h.app = map[string]any{"Logging": map[string]any{"Level": "Debug"}}
		}, plan.Change{Action: "added", Kind: "appSetting", Path: "appsettings/Logging", Risk: low, Reason: "Logging added",
			Diff: []plan.FieldDiff{fd("Logging", nil, map[string]any{"Level": "Debug"}, low, false, "Logging added")}}, 1},
		{"metadata.json top-level key changed", func(t *testing.T, b, h *docs) {
			h.meta["version"] = 2.0
		}, plan.Change{Action: "modified", Kind: "document", Path: "metadata.json/version", Risk: low, Reason: "version changed",
			Diff: []plan.FieldDiff{fd("version", 1.0, 2.0, low, false, "version changed")}}, 1},
		{"datasources.json top-level key removed", func(t *testing.T, b, h *docs) {
			delete(h.ds, "schemaVersion")
		}, plan.Change{Action: "removed", Kind: "document", Path: "datasources.json/schemaVersion", Risk: medium, Breaking: true,
			Reason: "schemaVersion removed",
			Diff:   []plan.FieldDiff{fd("schemaVersion", 2.0, nil, medium, true, "schemaVersion removed")}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, head := fixture(t), fixture(t)
			tt.edit(t, base, head)
			p := plan.Compute(base.input(), head.input())
			if len(p.Changes) != tt.wantN {
				t.Fatalf("Compute(%s) made %d changes; want %d: %s", tt.name, len(p.Changes), tt.wantN, mustJSON(t, p.Changes))
			}
			got, ok := changeByPath(p, tt.want.Path)
			if !ok {
				t.Fatalf("Compute(%s) has no change at %s: %s", tt.name, tt.want.Path, mustJSON(t, p.Changes))
			}
			if got.Action != tt.want.Action || got.Kind != tt.want.Kind {
				t.Errorf("Compute(%s) = %s; want %s", tt.name, describe(got), describe(tt.want))
			}
			if got.Risk != tt.want.Risk {
				t.Errorf("Compute(%s) risk = %v; want %v", tt.name, got.Risk, tt.want.Risk)
			}
			if got.Breaking != tt.want.Breaking {
				t.Errorf("Compute(%s) breaking = %v; want %v", tt.name, got.Breaking, tt.want.Breaking)
			}
			if got.Reason != tt.want.Reason {
				t.Errorf("Compute(%s) reason = %q; want %q", tt.name, got.Reason, tt.want.Reason)
			}
			// The policy's diff holds digests; TestPolicyDiff checks it.
			if tt.want.Kind != plan.KindPolicy && !reflect.DeepEqual(got.Diff, tt.want.Diff) {
				t.Errorf("Compute(%s) diff = %s; want %s", tt.name, mustJSON(t, got.Diff), mustJSON(t, tt.want.Diff))
			}
			if p.Risk != tt.want.Risk || p.Breaking != tt.want.Breaking {
				t.Errorf("Compute(%s) plan risk = %v, breaking %v; want %v, %v (its only change's)",
					tt.name, p.Risk, p.Breaking, tt.want.Risk, tt.want.Breaking)
			}
			if wantPolicy := tt.want.Kind == plan.KindPolicy; p.PolicyChanged != wantPolicy {
				t.Errorf("Compute(%s) policyChanged = %v; want %v", tt.name, p.PolicyChanged, wantPolicy)
			}
		})
	}
}
