// Package sampleconfig owns the sample Honua configuration the tests of
// every package deploy: a metadata.json with one service and the layers a
// test asks for, a datasources.json with the PostGIS source that service
// reads, and deployment policies. Each document is valid on its own
// (configrepo validates it) unless its doc comment says otherwise, and a
// test changes the configuration by asking for other layers, so that the
// plan between two commits is known: a layer added or removed, a layer's
// srid changed (a breaking change). It imports only the standard library,
// so that the tests of any package, configrepo and policy among them, can
// use it; sampleconfig_test checks every document against configrepo and
// policy.
package sampleconfig

import (
	"fmt"
	"maps"
	"strings"
)

// Layer is a point layer of the sample service: its id, spatial reference
// and title ("Layer <id>" when empty; a test that needs every revision's
// document to differ puts the revision in it). Its table is public.<id,
// dashes as underscores>, with an id and a name field.
type Layer struct {
	ID    string
	SRID  int
	Title string
}

// The layers most tests deploy.
var (
	// Points is the first layer of every sample configuration.
	Points = Layer{ID: "sample-points", SRID: 4326}
	// Roads is the second: adding it is low risk, removing it breaking.
	Roads = Layer{ID: "roads", SRID: 4326}
)

// Service is the id of the sample service, and DataSource of the data
// source it reads.
const (
	Service    = "test-service"
	DataSource = "test-postgis"
)

// Metadata renders a metadata.json with one service, Service, holding the
// layers.
func Metadata(layers ...Layer) string {
	var ls []string
	for _, l := range layers {
		title := l.Title
		if title == "" {
			title = "Layer " + l.ID
		}
		ls = append(ls, fmt.Sprintf(`{"id": %q, "serviceId": %q, "title": %q, "geometryType": "Point", "srid": %d,
      "storage": {"table": "public.%s", "geometryColumn": "geom", "primaryKey": "id"},
      "fields": [{"name": "id", "type": "integer"}, {"name": "name", "type": "string"}]}`,
			l.ID, Service, title, l.SRID, strings.ReplaceAll(l.ID, "-", "_")))
	}
	return fmt.Sprintf(`{
  "services": [{"id": %q, "title": "Test Service", "dataSourceId": %q}],
  "layers": [%s]
}
`, Service, DataSource, strings.Join(ls, ",\n    "))
}

// DataSources is a datasources.json with DataSource, a PostGIS database
// whose password comes from $PGPASSWORD.
const DataSources = `{"dataSources": [{"id": "test-postgis", "provider": "postgis",
  "connection": {"host": "db", "port": 5432, "database": "gis", "user": "honua", "passwordEnv": "PGPASSWORD"}}]}
`

// PolicyPath is where a commit holds its deployment policy.
const PolicyPath = ".gitops/deployment-policy.yaml"

// Policy is the policy most tests run under: production needs two
// approvals from devops-team, within an hour, for a medium risk or a
// breaking change; staging and development never need approval.
const Policy = `apiVersion: honua.io/v1
kind: DeploymentPolicy
environments:
  production:
    requireApproval: onRisk
    minimumRiskForApproval: medium
    breakingChangesRequireApproval: true
    requiredApprovals: 2
    approvers: [devops-team]
    approvalTimeout: 1h
  staging:
    requireApproval: never
  development:
    requireApproval: never
`

// NeverApprove is a policy under which none of envs ever needs approval.
func NeverApprove(envs ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: honua.io/v1\nkind: DeploymentPolicy\nenvironments:\n")
	for _, e := range envs {
		fmt.Fprintf(&b, "  %s:\n    requireApproval: never\n", e)
	}
	return b.String()
}

// AlwaysApprove is a policy under which every deployment of each of envs
// waits for approvals approvals (from anyone).
func AlwaysApprove(approvals int, envs ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: honua.io/v1\nkind: DeploymentPolicy\nenvironments:\n")
	for _, e := range envs {
		fmt.Fprintf(&b, "  %s:\n    requireApproval: always\n    requiredApprovals: %d\n", e, approvals)
	}
	return b.String()
}

// Env returns the files of environment env serving the layers: its
// metadata.json and datasources.json, by path in the repository.
func Env(env string, layers ...Layer) map[string]string {
	return map[string]string{
		"environments/" + env + "/metadata.json":    Metadata(layers...),
		"environments/" + env + "/datasources.json": DataSources,
	}
}

// WithPolicy returns the file holding policy, by path in the repository.
func WithPolicy(policy string) map[string]string {
	return map[string]string{PolicyPath: policy}
}

// Merge returns the files of all of ms; a later one wins a path.
func Merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}
