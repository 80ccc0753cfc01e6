package configrepo

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// repo builds a repository tree from file contents keyed by path.
func repo(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

// with returns a copy of base with files changed; an empty content removes
// the file.
func with(base map[string]string, changes map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(changes))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range changes {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

const (
	metaFile   = "environments/prod/metadata.json"
	metaYAML   = "environments/prod/metadata.yaml"
	dsFile     = "environments/prod/datasources.json"
	dsYAML     = "environments/prod/datasources.yaml"
	appFile    = "environments/prod/appsettings.json"
	appYAML    = "environments/prod/appsettings.yaml"
	sharedFile = "environments/common/shared-config.json"
)

// The docs/domain.md#repository example, with an unknown key (keywords) and app settings.
const validMetadataJSON = `{
  "services": [ { "id": "test-service", "title": "Test Service", "dataSourceId": "test-postgis" } ],
  "layers": [
    {
      "id": "sample-points",
      "serviceId": "test-service",
      "title": "Sample Points",
      "description": "Points for tests",
      "geometryType": "Point",
      "srid": 4326,
      "storage": { "table": "public.sample_points", "geometryColumn": "geom", "primaryKey": "id" },
      "fields": [
        { "name": "id", "type": "integer" },
        { "name": "name", "type": "string", "alias": "Name" }
      ],
      "keywords": ["sample", "points"],
      "maxFeatures": 1000
    }
  ]
}
`

// validDataSourcesJSON holds what sampleconfig.DataSources holds, but
// stays here beside its YAML twin, which TestLoadYAMLMatchesJSON compares
// it with, and the sources TestLoadValidJSON expects.
const validDataSourcesJSON = `{ "dataSources": [ { "id": "test-postgis", "provider": "postgis",
    "connection": { "host": "db", "port": 5432, "database": "gis", "user": "honua", "passwordEnv": "PGPASSWORD" } } ] }
`

const validAppSettingsJSON = `{"Logging": {"LogLevel": {"Default": "Information"}}, "Features": {"Wfs": true, "Cache": null}}`

// The same documents in YAML, with an anchor and a merge key.
const validMetadataYAML = `# Metadata for production
services:
  - id: test-service
    title: Test Service
    dataSourceId: test-postgis
layers:
  - id: sample-points
    serviceId: test-service
    title: Sample Points
    description: Points for tests
    geometryType: Point
    srid: 4326
    storage: {table: public.sample_points, geometryColumn: geom, primaryKey: id}
    fields:
      - &idfield {name: id, type: integer}
      - name: name
        type: string
        alias: Name
    keywords: [sample, points]
    maxFeatures: 1000
`

const validDataSourcesYAML = `dataSources:
  - id: test-postgis
    provider: postgis
    connection:
      host: db
      port: 5432
      database: gis
      user: honua
      passwordEnv: PGPASSWORD
`

const validAppSettingsYAML = `base: &base
  LogLevel: {Default: Information}
Logging:
  <<: *base
Features:
  Wfs: true
  Cache: ~
`

var validJSON = map[string]string{
	metaFile: validMetadataJSON,
	dsFile:   validDataSourcesJSON,
	appFile:  validAppSettingsJSON,
}

func TestLoadValidJSON(t *testing.T) {
	b, problems := Load(repo(validJSON), "prod")
	if len(problems) != 0 || b == nil {
		t.Fatalf("Load = %v, %v; want a bundle and no problems", b, problems)
	}
	if b.Environment != "prod" {
		t.Errorf("Environment = %q; want prod", b.Environment)
	}
	wantServices := []Service{{ID: "test-service", Title: "Test Service", DataSourceID: "test-postgis"}}
	if !reflect.DeepEqual(b.Services, wantServices) {
		t.Errorf("Services = %+v; want %+v", b.Services, wantServices)
	}
	wantLayers := []Layer{{
		ID: "sample-points", ServiceID: "test-service", Title: "Sample Points", Description: "Points for tests",
		GeometryType: "Point", SRID: 4326,
		Storage: Storage{Table: "public.sample_points", GeometryColumn: "geom", PrimaryKey: "id"},
		Fields:  []Field{{Name: "id", Type: "integer"}, {Name: "name", Type: "string", Alias: "Name"}},
	}}
	if !reflect.DeepEqual(b.Layers, wantLayers) {
		t.Errorf("Layers = %+v; want %+v", b.Layers, wantLayers)
	}
	wantSources := []DataSource{{ID: "test-postgis", Provider: "postgis", Connection: map[string]any{
		"host": "db", "port": 5432.0, "database": "gis", "user": "honua", "passwordEnv": "PGPASSWORD"}}}
	if !reflect.DeepEqual(b.Sources, wantSources) {
		t.Errorf("Sources = %+v; want %+v", b.Sources, wantSources)
	}
	layer := b.Metadata.(map[string]any)["layers"].([]any)[0].(map[string]any)
	if got := layer["keywords"]; !reflect.DeepEqual(got, []any{"sample", "points"}) {
		t.Errorf("unknown key keywords = %v; want it kept", got)
	}
	if got := layer["maxFeatures"]; got != 1000.0 {
		t.Errorf("unknown key maxFeatures = %v (%T); want float64 1000", got, got)
	}
	if b.SharedConfig != nil {
		t.Errorf("SharedConfig = %v; want nil without environments/common", b.SharedConfig)
	}
	wantKeys := []string{"appsettings.json", "datasources.json", "metadata.json"}
	if keys := sortedKeys(b.Files); !slices.Equal(keys, wantKeys) {
		t.Errorf("Files keys = %v; want %v", keys, wantKeys)
	}
}

func sortedKeys(m map[string][]byte) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestLoadYAMLMatchesJSON(t *testing.T) {
	jb, problems := Load(repo(validJSON), "prod")
	if jb == nil {
		t.Fatalf("Load(JSON) problems: %v", problems)
	}
	yb, problems := Load(repo(map[string]string{
		metaYAML: validMetadataYAML,
		dsYAML:   validDataSourcesYAML,
		appYAML:  validAppSettingsYAML,
	}), "prod")
	if yb == nil {
		t.Fatalf("Load(YAML) problems: %v", problems)
	}
	if !reflect.DeepEqual(yb.Metadata, jb.Metadata) {
		t.Errorf("YAML Metadata = %#v\nwant (from JSON) %#v", yb.Metadata, jb.Metadata)
	}
	if !reflect.DeepEqual(yb.DataSources, jb.DataSources) {
		t.Errorf("YAML DataSources = %#v\nwant (from JSON) %#v", yb.DataSources, jb.DataSources)
	}
	// The YAML app settings carry an extra anchor holder, "base".
	app := yb.AppSettings.(map[string]any)
	delete(app, "base")
	if !reflect.DeepEqual(app, jb.AppSettings) {
		t.Errorf("YAML AppSettings = %#v\nwant (from JSON) %#v", app, jb.AppSettings)
	}
	if !reflect.DeepEqual(yb.Services, jb.Services) || !reflect.DeepEqual(yb.Layers, jb.Layers) || !reflect.DeepEqual(yb.Sources, jb.Sources) {
		t.Errorf("YAML typed views differ from JSON's:\n%+v %+v %+v\n%+v %+v %+v",
			yb.Services, yb.Layers, yb.Sources, jb.Services, jb.Layers, jb.Sources)
	}
	wantKeys := []string{"appsettings.yaml", "datasources.yaml", "metadata.yaml"}
	if keys := sortedKeys(yb.Files); !slices.Equal(keys, wantKeys) {
		t.Errorf("Files keys = %v; want %v", keys, wantKeys)
	}
}

func TestLoadKeepsBytes(t *testing.T) {
	// Odd but valid formatting, a byte order mark and CRLF line ends must
	// all survive untouched.
	meta := "\xEF\xBB\xBF{\r\n\t\"services\":[],   \"layers\" : [ ],\"x\":1.50e0 }\r\n\r\n"
	shared := `{"Cors": {"AllowedOrigins": ["*"]}}`
	files := map[string]string{metaFile: meta, dsFile: validDataSourcesJSON, sharedFile: shared}
	b, problems := Load(repo(files), "prod")
	if b == nil {
		t.Fatalf("Load problems: %v", problems)
	}
	for key, path := range map[string]string{"metadata.json": metaFile, "datasources.json": dsFile, "shared-config.json": sharedFile} {
		if !bytes.Equal(b.Files[key], []byte(files[path])) {
			t.Errorf("Files[%q] = %q; want the repository's bytes %q", key, b.Files[key], files[path])
		}
	}
	if _, ok := b.Files["appsettings.json"]; ok {
		t.Errorf("Files has appsettings.json; the repository has none")
	}
	want := map[string]any{"Cors": map[string]any{"AllowedOrigins": []any{"*"}}}
	if !reflect.DeepEqual(b.SharedConfig, want) {
		t.Errorf("SharedConfig = %#v; want %#v", b.SharedConfig, want)
	}
}

func TestLoadFiles(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		env   string
		want  []Problem
	}{
		{
			name:  "metadata missing",
			files: with(validJSON, map[string]string{metaFile: ""}),
			want:  []Problem{{File: metaFile, Message: "required file is missing (metadata.yaml is accepted too)"}},
		},
		{
			name:  "datasources missing",
			files: with(validJSON, map[string]string{dsFile: ""}),
			want:  []Problem{{File: dsFile, Message: "required file is missing (datasources.yaml is accepted too)"}},
		},
		{
			name:  "both missing",
			files: map[string]string{appFile: "{}"},
			want: []Problem{
				{File: dsFile, Message: "required file is missing (datasources.yaml is accepted too)"},
				{File: metaFile, Message: "required file is missing (metadata.yaml is accepted too)"},
			},
		},
		{
			name:  "metadata.json and metadata.yaml",
			files: with(validJSON, map[string]string{metaYAML: validMetadataYAML}),
			want:  []Problem{{File: metaYAML, Message: "both metadata.json and metadata.yaml exist; keep one"}},
		},
		{
			name:  "appsettings.json and appsettings.yaml",
			files: with(validJSON, map[string]string{appYAML: "a: 1\n"}),
			want:  []Problem{{File: appYAML, Message: "both appsettings.json and appsettings.yaml exist; keep one"}},
		},
		{
			name:  "metadata.yml is not read",
			files: with(validJSON, map[string]string{metaFile: "", "environments/prod/metadata.yml": "services: []\n"}),
			want: []Problem{
				{File: metaFile, Message: "required file is missing (metadata.yaml is accepted too)"},
				{File: "environments/prod/metadata.yml", Message: "file is not read; name it metadata.yaml"},
			},
		},
		{
			name:  "appsettings not an object",
			files: with(validJSON, map[string]string{appFile: "\n  [1, 2]"}),
			want:  []Problem{{File: appFile, Line: 2, Column: 3, Message: "must be an object, got a list"}},
		},
		{
			name:  "shared config not an object",
			files: with(validJSON, map[string]string{sharedFile: `"text"`}),
			want:  []Problem{{File: sharedFile, Line: 1, Column: 1, Message: `must be an object, got "text"`}},
		},
		{
			name:  "empty metadata",
			files: with(validJSON, map[string]string{metaFile: " \n"}),
			want:  []Problem{{File: metaFile, Message: "file is empty"}},
		},
		{
			name:  "empty YAML metadata",
			files: with(validJSON, map[string]string{metaFile: "", metaYAML: "# nothing yet\n"}),
			want:  []Problem{{File: metaYAML, Message: "file is empty"}},
		},
		{
			name:  "YAML metadata ending with a document marker",
			files: with(validJSON, map[string]string{metaFile: "", metaYAML: "services: []\nlayers: []\n---\n"}),
		},
		{
			name:  "metadata.json is a folder",
			files: with(validJSON, map[string]string{metaFile: "", metaFile + "/x": "{}"}),
			want:  []Problem{{File: metaFile, Message: "cannot read: it is a folder, not a file"}},
		},
		{
			name:  "environment folder missing",
			files: validJSON,
			env:   "staging",
			want:  []Problem{{File: "environments/staging", Message: "environment folder does not exist"}},
		},
		{
			name:  "common is not an environment",
			files: with(validJSON, map[string]string{"environments/common/metadata.json": "{}"}),
			env:   "common",
			want:  []Problem{{File: "environments/common", Message: "common holds the shared configuration; it is not an environment"}},
		},
		{
			name:  "invalid environment name is never used as a path",
			files: map[string]string{"x/metadata.json": "{}", "x/datasources.json": "{}"},
			env:   "../x",
			want: []Problem{{Message: `environment name "../x" is invalid: ` +
				"an environment name is 1 to 63 lowercase letters, digits and dashes, starting and ending with a letter or digit"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			if env == "" {
				env = "prod"
			}
			b, got := Load(repo(tt.files), env)
			assertProblems(t, got, tt.want)
			if (b != nil) != (len(tt.want) == 0) {
				t.Errorf("Load bundle = %v; want a bundle only without problems", b)
			}
		})
	}
}

// assertProblems compares problems field by field, saying which differ.
func assertProblems(t *testing.T, got, want []Problem) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	var b strings.Builder
	for _, p := range got {
		b.WriteString("\n\t" + p.Error())
		if p.Line == 0 && p.Path == "" {
			continue
		}
		b.WriteString("  [" + p.Path + "]")
	}
	t.Errorf("problems:%s\nwant:", b.String())
	for _, p := range want {
		t.Errorf("\t%s  [%s]", p.Error(), p.Path)
	}
}
