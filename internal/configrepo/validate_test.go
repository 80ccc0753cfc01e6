package configrepo

import (
	"strings"
	"testing"
)

const (
	okService = ` {"id": "s", "title": "S", "dataSourceId": "db"}`
	okLayer   = ` {"id": "l", "serviceId": "s", "geometryType": "Point", "srid": 4326, "fields": [{"name": "id"}]}`
	okSource  = ` {"id": "db", "provider": "postgis", "connection": {"host": "db", "passwordEnv": "PGPASSWORD", "password": ""}}`
)

// metadata lays out a metadata.json with one service or layer a line:
// services from line 2, and layers from line len(services)+4.
func metadata(services, layers []string) string {
	return "{\"services\": [\n" + strings.Join(services, ",\n") + "\n],\n\"layers\": [\n" + strings.Join(layers, ",\n") + "\n]}\n"
}

// dataSources lays out a datasources.json with one data source a line, from line 2.
func dataSources(sources ...string) string {
	return "{\"dataSources\": [\n" + strings.Join(sources, ",\n") + "\n]}\n"
}

func env(meta, ds string) map[string]string {
	return map[string]string{metaFile: meta, dsFile: ds}
}

const secretMessage = "secrets must not be stored in the repository; name an environment variable (%sEnv) or a file (%sFile)"

func secretMsg(name string) string { return strings.ReplaceAll(secretMessage, "%s", name) }

func TestLoadRules(t *testing.T) {
	okDS := dataSources(okSource)
	tests := []loadTest{
		{
			name:  "valid",
			files: env(metadata([]string{okService}, []string{okLayer}), okDS),
		},
		{
			name:  "no services and no layers",
			files: env(`{}`, `{}`),
		},
		{
			name:  "service id missing",
			files: env(metadata([]string{` {"title": "S", "dataSourceId": "db"}`}, nil), okDS),
			want:  []Problem{{File: metaFile, Line: 2, Column: 2, Path: "services[0].id", Message: "is required"}},
		},
		{
			name:  "service id empty",
			files: env(metadata([]string{` {"id": "", "dataSourceId": "db"}`}, nil), okDS),
			want:  []Problem{{File: metaFile, Line: 2, Column: 9, Path: "services[0].id", Message: "must not be empty"}},
		},
		{
			name:  "service id duplicated",
			files: env(metadata([]string{okService, okService}, []string{okLayer}), okDS),
			want: []Problem{{File: metaFile, Line: 3, Column: 9, Path: "services[1].id",
				Message: `duplicate service id "s" (first at services[0], line 2)`}},
		},
		{
			name:  "service names an unknown data source",
			files: env(metadata([]string{` {"id": "s", "dataSourceId": "nope"}`}, nil), okDS),
			want: []Problem{{File: metaFile, Line: 2, Column: 30, Path: "services[0].dataSourceId",
				Message: `data source "nope" is not defined in environments/prod/datasources.json`}},
		},
		{
			name:  "service title not a string",
			files: env(metadata([]string{` {"id": "s", "title": 5, "dataSourceId": "db"}`}, nil), okDS),
			want:  []Problem{{File: metaFile, Line: 2, Column: 23, Path: "services[0].title", Message: "must be a string, got 5"}},
		},
		{
			name:  "service not an object",
			files: env(metadata([]string{` "s"`}, nil), okDS),
			want:  []Problem{{File: metaFile, Line: 2, Column: 2, Path: "services[0]", Message: `must be an object, got "s"`}},
		},
		{
			name:  "layer id missing",
			files: env(metadata([]string{okService}, []string{` {"serviceId": "s"}`}), okDS),
			want:  []Problem{{File: metaFile, Line: 5, Column: 2, Path: "layers[0].id", Message: "is required"}},
		},
		{
			name:  "layer id duplicated",
			files: env(metadata([]string{okService}, []string{` {"id": "l", "serviceId": "s"}`, ` {"id": "l", "serviceId": "s"}`}), okDS),
			want: []Problem{{File: metaFile, Line: 6, Column: 9, Path: "layers[1].id",
				Message: `duplicate layer id "l" (first at layers[0], line 5)`}},
		},
		{
			name:  "layer names an unknown service",
			files: env(metadata([]string{okService}, []string{` {"id": "l", "serviceId": "x"}`}), okDS),
			want:  []Problem{{File: metaFile, Line: 5, Column: 27, Path: "layers[0].serviceId", Message: `service "x" is not defined in services`}},
		},
		{
			name:  "geometryType unknown",
			files: env(metadata([]string{okService}, []string{` {"id": "l", "serviceId": "s", "geometryType": "point"}`}), okDS),
			want: []Problem{{File: metaFile, Line: 5, Column: 48, Path: "layers[0].geometryType",
				Message: `must be one of Point, MultiPoint, LineString, MultiLineString, Polygon, MultiPolygon, GeometryCollection, got "point"`}},
		},
		sridCase("-3"),
		sridCase("0"),
		sridCase("4326.5"),
		sridCase("4326.0"),
		sridCase("4.326e3"),
		sridCase(`"4326"`),
		sridCase("4294967296"),
		sridCase("null"),
		{
			name:  "storage not an object",
			files: env(metadata([]string{okService}, []string{` {"id": "l", "serviceId": "s", "storage": "public.t"}`}), okDS),
			want:  []Problem{{File: metaFile, Line: 5, Column: 43, Path: "layers[0].storage", Message: `must be an object, got "public.t"`}},
		},
		{
			name:  "storage table not a string",
			files: env(metadata([]string{okService}, []string{` {"id": "l", "serviceId": "s", "storage": {"table": 7}}`}), okDS),
			want:  []Problem{{File: metaFile, Line: 5, Column: 53, Path: "layers[0].storage.table", Message: "must be a string, got 7"}},
		},
		{
			name:  "field name missing",
			files: env(metadata([]string{okService}, []string{` {"id": "l", "serviceId": "s", "fields": [{"type": "string"}]}`}), okDS),
			want:  []Problem{{File: metaFile, Line: 5, Column: 43, Path: "layers[0].fields[0].name", Message: "is required"}},
		},
		{
			name:  "field name duplicated",
			files: env(metadata([]string{okService}, []string{` {"id": "l", "serviceId": "s", "fields": [{"name": "id"}, {"name": "id"}]}`}), okDS),
			want: []Problem{{File: metaFile, Line: 5, Column: 68, Path: "layers[0].fields[1].name",
				Message: `duplicate field name "id" (first at layers[0].fields[0], line 5)`}},
		},
		{
			name:  "layers not a list",
			files: env(strings.Replace(metadata([]string{okService}, nil), "\"layers\": [\n\n]", `"layers": {"id": "l"}`, 1), okDS),
			want:  []Problem{{File: metaFile, Line: 4, Column: 11, Path: "layers", Message: "must be a list, got an object"}},
		},
		{
			name:  "metadata not an object",
			files: env("[]", okDS),
			want:  []Problem{{File: metaFile, Line: 1, Column: 1, Message: "must be an object, got a list"}},
		},
		{
			name:  "data source id missing",
			files: env(metadata(nil, nil), dataSources(` {"provider": "postgis"}`)),
			want:  []Problem{{File: dsFile, Line: 2, Column: 2, Path: "dataSources[0].id", Message: "is required"}},
		},
		{
			name:  "data source id duplicated",
			files: env(metadata(nil, nil), dataSources(` {"id": "db"}`, ` {"id": "db"}`)),
			want: []Problem{{File: dsFile, Line: 3, Column: 9, Path: "dataSources[1].id",
				Message: `duplicate data source id "db" (first at dataSources[0], line 2)`}},
		},
		{
			name:  "data source provider not a string",
			files: env(metadata(nil, nil), dataSources(` {"id": "db", "provider": 1}`)),
			want:  []Problem{{File: dsFile, Line: 2, Column: 27, Path: "dataSources[0].provider", Message: "must be a string, got 1"}},
		},
		{
			name:  "connection not an object",
			files: env(metadata(nil, nil), dataSources(` {"id": "db", "connection": "host=db"}`)),
			want:  []Problem{{File: dsFile, Line: 2, Column: 29, Path: "dataSources[0].connection", Message: `must be an object, got "host=db"`}},
		},
		{
			name:  "literal password",
			files: env(metadata(nil, nil), dataSources(` {"id": "db", "connection": {"host": "db", "password": "hunter2"}}`)),
			want:  []Problem{{File: dsFile, Line: 2, Column: 56, Path: "dataSources[0].connection.password", Message: secretMsg("password")}},
		},
		{
			name:  "literal token, any case",
			files: env(metadata(nil, nil), dataSources(` {"id": "db", "connection": {"Token": "abc"}}`)),
			want:  []Problem{{File: dsFile, Line: 2, Column: 39, Path: "dataSources[0].connection.Token", Message: secretMsg("token")}},
		},
		{
			name:  "nested numeric api key",
			files: env(metadata(nil, nil), dataSources(` {"id": "db", "connection": {"nested": {"API_KEY": 12345}}}`)),
			want:  []Problem{{File: dsFile, Line: 2, Column: 52, Path: "dataSources[0].connection.nested.API_KEY", Message: secretMsg("apiKey")}},
		},
		{
			name:  "secret outside the connection",
			files: env(metadata(nil, nil), dataSources(` {"id": "db", "secret": "s3"}`)),
			want:  []Problem{{File: dsFile, Line: 2, Column: 25, Path: "dataSources[0].secret", Message: secretMsg("secret")}},
		},
		{
			name:  "password in a connection string",
			files: env(metadata(nil, nil), dataSources(` {"id": "db", "connection": {"connectionString": "Host=db;Password=x"}}`)),
			want: []Problem{{File: dsFile, Line: 2, Column: 50, Path: "dataSources[0].connection.connectionString",
				Message: "secrets must not be stored in the repository; this connection string holds a password: name an environment variable (passwordEnv) or a file (passwordFile) instead"}},
		},
		{
			name:  "password in a URL",
			files: env(metadata(nil, nil), dataSources(` {"id": "db", "connection": {"url": "postgres://honua:pw@db/gis"}}`)),
			want: []Problem{{File: dsFile, Line: 2, Column: 37, Path: "dataSources[0].connection.url",
				Message: "secrets must not be stored in the repository; this connection string holds a password: name an environment variable (passwordEnv) or a file (passwordFile) instead"}},
		},
		{
			name: "references named, empty or file secrets are fine",
			files: env(metadata(nil, nil), dataSources(` {"id": "db", "connection": {"passwordFile": "/run/pw", "token": null, "secret": {"env": "S"},`+
				` "url": "postgres://honua@db/gis", "connectionString": "Host=db;Password=;"}}`)),
		},
		{
			name: "several problems at once, sorted",
			files: env(
				metadata(
					[]string{` {"id": "s", "dataSourceId": "nope"}`, ` {"title": 1}`},
					[]string{` {"id": "l", "serviceId": "x", "srid": "4326"}`, ` {"id": "l", "serviceId": "s", "geometryType": "Point"}`}),
				dataSources(` {"id": "db", "connection": {"password": "x"}}`, ` {"id": "db"}`)),
			want: []Problem{
				{File: dsFile, Line: 2, Column: 42, Path: "dataSources[0].connection.password", Message: secretMsg("password")},
				{File: dsFile, Line: 3, Column: 9, Path: "dataSources[1].id", Message: `duplicate data source id "db" (first at dataSources[0], line 2)`},
				{File: metaFile, Line: 2, Column: 30, Path: "services[0].dataSourceId", Message: `data source "nope" is not defined in environments/prod/datasources.json`},
				{File: metaFile, Line: 3, Column: 2, Path: "services[1].id", Message: "is required"},
				{File: metaFile, Line: 3, Column: 2, Path: "services[1].dataSourceId", Message: "is required"},
				{File: metaFile, Line: 3, Column: 12, Path: "services[1].title", Message: "must be a string, got 1"},
				{File: metaFile, Line: 6, Column: 27, Path: "layers[0].serviceId", Message: `service "x" is not defined in services`},
				{File: metaFile, Line: 6, Column: 40, Path: "layers[0].srid", Message: `must be a positive integer, got "4326"`},
				{File: metaFile, Line: 7, Column: 9, Path: "layers[1].id", Message: `duplicate layer id "l" (first at layers[0], line 6)`},
			},
		},
		{
			name: "YAML positions",
			files: map[string]string{
				metaYAML: "services:\n  - id: s\n    dataSourceId: db\nlayers:\n  - id: l\n    serviceId: s\n" +
					"    srid: \"4326\"\n    geometryType: point\n",
				dsYAML: "dataSources:\n  - id: db\n    connection:\n      password: hunter2\n",
			},
			want: []Problem{
				{File: dsYAML, Line: 4, Column: 17, Path: "dataSources[0].connection.password", Message: secretMsg("password")},
				{File: metaYAML, Line: 7, Column: 11, Path: "layers[0].srid", Message: `must be a positive integer, got "4326"`},
				{File: metaYAML, Line: 8, Column: 19, Path: "layers[0].geometryType",
					Message: `must be one of Point, MultiPoint, LineString, MultiLineString, Polygon, MultiPolygon, GeometryCollection, got "point"`},
			},
		},
		{
			name: "YAML integer srid forms",
			files: map[string]string{
				metaYAML: "services: [{id: s, dataSourceId: db}]\nlayers:\n  - {id: a, serviceId: s, srid: 4326}\n" +
					"  - {id: b, serviceId: s, srid: 4326.0}\n  - {id: c, serviceId: s, srid: '4326'}\n",
				dsYAML: "dataSources: [{id: db}]\n",
			},
			want: []Problem{
				{File: metaYAML, Line: 4, Column: 33, Path: "layers[1].srid", Message: "must be a positive integer, got 4326.0"},
				{File: metaYAML, Line: 5, Column: 33, Path: "layers[2].srid", Message: `must be a positive integer, got "4326"`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, got := Load(repo(tt.files), "prod")
			assertProblems(t, got, tt.want)
			if (b != nil) != (len(tt.want) == 0) {
				t.Errorf("Load bundle = %v; want a bundle only without problems", b)
			}
		})
	}
}

// loadTest is a repository and the problems Load must find in it.
type loadTest struct {
	name  string
	files map[string]string
	want  []Problem
}

// sridCase is a layer whose srid is the JSON literal srid, on line 5 at column 40.
func sridCase(srid string) loadTest {
	return loadTest{
		name:  "srid " + srid,
		files: env(metadata([]string{okService}, []string{` {"id": "l", "serviceId": "s", "srid": ` + srid + `}`}), dataSources(okSource)),
		want:  []Problem{{File: metaFile, Line: 5, Column: 40, Path: "layers[0].srid", Message: "must be a positive integer, got " + srid}},
	}
}
