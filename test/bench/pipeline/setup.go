package main

import (
	"fmt"
	"strings"

	"github.com/honua-io/honua-gitops/test/bench/benchrun"

	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// setup is what the parts share: a directory of bare repositories served by
// one git daemon, and the small configuration repository the cluster
// watches.
type setup struct {
	r      *benchrun.Runner
	root   string // the daemon's base path
	daemon *gitserver.Daemon
	config *gitserver.Repo // config.git: environments development and staging, and a policy
	rev    int             // revision of development's metadata.json
	// nodeArgs are extra flags for every honuad the parts start.
	nodeArgs []string
}

// deployedEnv is the environment the deploy and complete parts commit to;
// staging stays as it is, so every poll also compares an unchanged
// environment, which must get no deployment after its first.
const deployedEnv = "development"

func newSetup(r *benchrun.Runner) *setup {
	t := r.Git()
	s := &setup{r: r, root: r.TempDir()}
	s.config = gitserver.NewRepoIn(t, s.root, "config.git")
	s.config.Commit(map[string]string{
		"environments/development/metadata.json":    metadataJSON(0, 1),
		"environments/development/datasources.json": sampleconfig.DataSources,
		"environments/staging/metadata.json":        metadataJSON(0, 1),
		"environments/staging/datasources.json":     sampleconfig.DataSources,
		".gitops/deployment-policy.yaml":            configPolicyYAML,
	}, "initial configuration")
	s.daemon = gitserver.StartDaemon(t, s.root)
	return s
}

// commitDevelopment pushes a new revision of development's metadata.json
// (a changed layer title: a low-risk plan) and returns the commit.
func (s *setup) commitDevelopment() string {
	s.rev++
	return s.config.Commit(map[string]string{
		"environments/development/metadata.json": s.developmentMetadata(),
	}, fmt.Sprintf("development: revision %d", s.rev))
}

// developmentMetadata is development's metadata.json at the head.
func (s *setup) developmentMetadata() string { return metadataJSON(s.rev, 1) }

// metadataJSON renders a valid metadata.json with one service and layers
// layers; rev goes into the first layer's title. It is the benchmark's own,
// not sampleconfig.Metadata: its layers' name fields carry an alias, part
// of the documents whose planning the benchmark has always measured.
func metadataJSON(rev, layers int) string {
	var ls []string
	for i := range layers {
		title := fmt.Sprintf("Layer %d", i)
		if i == 0 {
			title = fmt.Sprintf("Sample Points rev %d", rev)
		}
		ls = append(ls, fmt.Sprintf(`{"id": "layer-%d", "serviceId": "test-service", "title": %q, "geometryType": "Point", "srid": 4326,
      "storage": {"table": "public.layer_%d", "geometryColumn": "geom", "primaryKey": "id"},
      "fields": [{"name": "id", "type": "integer"}, {"name": "name", "type": "string", "alias": "Name"}]}`, i, title, i))
	}
	return fmt.Sprintf(`{
  "services": [{"id": "test-service", "title": "Test Service", "dataSourceId": "test-postgis"}],
  "layers": [
    %s
  ]
}
`, strings.Join(ls, ",\n    "))
}

const sharedConfigJSON = `{"Logging": {"LogLevel": {"Default": "Information"}}, "Cache": {"Enabled": true}}
`

// configPolicyYAML is config.git's policy: development deploys without
// approval whatever the risk; staging has the defaults.
var configPolicyYAML = sampleconfig.NeverApprove("development")

// policyYAML is the plan part's policy.
var policyYAML = sampleconfig.AlwaysApprove(1, "production")
