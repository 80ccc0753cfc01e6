package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/test/harness"
)

// TestScenarios runs the original design's four scenarios end to end: three
// honuad processes watch a repository served by git daemon and deploy
// development and production to directory targets, and every step is taken
// with the honuactl binary, as a user would.
//
//	01 add a layer in development: Completed, the target has 2 layers
//	02 change a title and a field alias: Completed, not breaking
//	03 delete a layer: medium risk, Completed, the plan lists the removal
//	04 production Point→Polygon plus a table change: breaking, high risk,
//	   AwaitingApproval; approved through a follower by two approvers:
//	   Completed; rolled back: the target holds the previous metadata and
//	   production is pinned
func TestScenarios(t *testing.T) {
	skipIfShort(t)
	s := newScenarioFixture(t)
	s.start()

	// The first commit deploys both environments. Production's policy asks
	// for two approvals of a high risk plan, and its first plan adds a data
	// source: approved here, so that scenario 04 has a deployed base.
	dev0 := s.waitFor(t, s.deploymentOf(t, "development", s.first), "Completed")
	s.checkTarget(t, "development", dev0.ID, s.files["development"][s.first])
	prod0 := s.waitFor(t, s.deploymentOf(t, "production", s.first), "AwaitingApproval")
	if prod0.Risk != "high" {
		t.Errorf("production's first deployment %s risk = %q; want high (it adds a data source)", prod0.ID, prod0.Risk)
	}
	s.approveThroughFollower(t, prod0.ID)
	prod0 = s.waitFor(t, prod0.ID, "Completed")
	s.checkTarget(t, "production", prod0.ID, s.files["production"][s.first])

	var rolledBack string // the rollback deployment of scenario 04
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow() // each scenario starts from where the last one ended
		}
	}

	step("01 add a layer in development", func(t *testing.T) {
		commit := s.commit(t, "development", "add the sample-lines layer", samplePoints, sampleLines)
		d := s.waitFor(t, s.deploymentOf(t, "development", commit), "Completed")
		p := s.plan(t, d.ID)
		if p.Risk != "low" || p.Breaking {
			t.Errorf("plan of %s: risk %q, breaking %v; want low, not breaking", d.ID, p.Risk, p.Breaking)
		}
		p.mustList(t, "added", "layer", "layers/sample-lines", false)
		served := s.checkTarget(t, "development", d.ID, s.files["development"][commit])
		if n := len(served.Layers); n != 2 {
			t.Errorf("development's target serves %d layers (%v); want 2", n, served.layerIDs())
		}
	})

	step("02 change a title and a field alias", func(t *testing.T) {
		commit := s.commit(t, "development", "retitle sample-points and its name field", surveyedPoints, sampleLines)
		d := s.waitFor(t, s.deploymentOf(t, "development", commit), "Completed")
		p := s.plan(t, d.ID)
		if p.Breaking || p.Risk != "low" {
			t.Errorf("plan of %s: risk %q, breaking %v; want low, not breaking", d.ID, p.Risk, p.Breaking)
		}
		p.mustList(t, "modified", "layer", "layers/sample-points", false).mustDiff(t, "title", samplePoints.title, surveyedPoints.title)
		p.mustList(t, "modified", "field", "layers/sample-points/fields/name", false).mustDiff(t, "alias", samplePoints.nameAlias, surveyedPoints.nameAlias)
		s.checkTarget(t, "development", d.ID, s.files["development"][commit])
	})

	step("03 delete a layer", func(t *testing.T) {
		commit := s.commit(t, "development", "remove the sample-lines layer", surveyedPoints)
		d := s.waitFor(t, s.deploymentOf(t, "development", commit), "Completed")
		d = s.deployment(t, d.ID)
		if d.Risk != "medium" {
			t.Errorf("deployment %s risk = %q; want medium (a layer removed)", d.ID, d.Risk)
		}
		p := s.plan(t, d.ID)
		if p.Risk != "medium" || !p.Breaking {
			t.Errorf("plan of %s: risk %q, breaking %v; want medium, breaking", d.ID, p.Risk, p.Breaking)
		}
		if ch := p.mustList(t, "removed", "layer", "layers/sample-lines", true); ch != nil && ch.Risk != "medium" {
			t.Errorf("plan of %s: removal of layers/sample-lines risk %q; want medium", d.ID, ch.Risk)
		}
		if p.Removed < 1 {
			t.Errorf("plan of %s counts %d removed; want the layer counted", d.ID, p.Removed)
		}
		served := s.checkTarget(t, "development", d.ID, s.files["development"][commit])
		if ids := served.layerIDs(); !slices.Equal(ids, []string{"sample-points"}) {
			t.Errorf("development's target serves layers %v; want [sample-points]", ids)
		}
	})

	step("04 breaking production change, approval, rollback", func(t *testing.T) {
		before := s.commitOf(t, "production") // what production has deployed
		areas := samplePoints
		areas.geometry, areas.table = "Polygon", "public.sample_areas"
		commit := s.commit(t, "production", "sample-points become polygons in a new table", areas)
		id := s.deploymentOf(t, "production", commit)
		s.waitFor(t, id, "AwaitingApproval")
		d := s.deployment(t, id)
		if d.Risk != "high" {
			t.Errorf("deployment %s risk = %q; want high", id, d.Risk)
		}
		if d.Approval == nil || d.Approval.Required != 2 || !slices.Equal(d.Approval.Groups, []string{"devops-team"}) {
			t.Errorf("deployment %s asks for approval %+v; want 2 from [devops-team]", id, d.Approval)
		}
		p := s.plan(t, id)
		if p.Risk != "high" || !p.Breaking || p.BaseCommit != before {
			t.Errorf("plan of %s against %.12s: risk %q, breaking %v; want high, breaking, against the deployed %.12s",
				id, p.BaseCommit, p.Risk, p.Breaking, before)
		}
		ch := p.mustList(t, "modified", "layer", "layers/sample-points", true)
		ch.mustDiff(t, "geometryType", "Point", "Polygon")
		ch.mustDiff(t, "storage.table", "public.sample_points", "public.sample_areas")

		s.approveThroughFollower(t, id)
		d = s.waitFor(t, id, "Completed")
		var who []string
		for _, a := range d.Approvals {
			who = append(who, a.Identity)
		}
		if slices.Sort(who); !slices.Equal(who, []string{"alice", "bob"}) {
			t.Errorf("deployment %s approved by %v; want alice and bob", id, who)
		}
		s.checkTarget(t, "production", id, s.files["production"][commit])

		res := s.ctlOK(t, "alice", s.addrs(), "rollback", "production", "--yes", "-o", "json")
		var rb scenarioDeployment
		if err := json.Unmarshal([]byte(res.stdout), &rb); err != nil {
			t.Fatalf("%s\ndecode: %v", res, err)
		}
		if rb.Kind != "rollback" || rb.Commit != before || rb.Environment != "production" {
			t.Errorf("rollback deployment %s: %s of %s at %.12s; want a rollback of production to %.12s",
				rb.ID, rb.Kind, rb.Environment, rb.Commit, before)
		}
		rb = *s.waitFor(t, rb.ID, "Completed")
		s.checkTarget(t, "production", rb.ID, s.files["production"][before])

		var env scenarioEnvironment
		err := harness.Poll(waitTimeout, "production to be pinned after the rollback", func() error {
			if err := s.get("/v1/environments/production", &env); err != nil {
				return err
			}
			switch {
			case env.Pin == nil:
				return fmt.Errorf("no pin: %+v", env)
			case env.Pin.From != commit || env.DeployedCommit != before:
				return fmt.Errorf("pin %+v, deployed %.12s", env.Pin, env.DeployedCommit)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%v; want a pin from %.12s (rolled back from) and %.12s deployed", err, commit, before)
		}
		t.Logf("production rolled back by %s to %.12s, pinned %+v", rb.ID, before, *env.Pin)
		rolledBack = rb.ID
	})

	step("the pin holds while development moves on", func(t *testing.T) {
		// A commit that touches only development: production's files at
		// the new head are those it was rolled back from, so the watcher
		// must leave it on the rollback.
		commit := s.commit(t, "development", "development moves on", samplePoints)
		s.waitFor(t, s.deploymentOf(t, "development", commit), "Completed")
		var env scenarioEnvironment
		err := harness.Poll(waitTimeout, "production to have seen the new head", func() error {
			if err := s.get("/v1/environments/production", &env); err != nil {
				return err
			}
			if env.LatestSeenCommit != commit {
				return fmt.Errorf("latest seen %.12s", env.LatestSeenCommit)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var list []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		}
		s.ctlJSON(t, &list, "deployments", "--env", "production")
		if len(list) == 0 || list[0].ID != rolledBack {
			t.Errorf("production's deployments, newest first: %+v; want the rollback %s still the newest", list, rolledBack)
		}
		if env.Pin == nil || env.DeployedCommit != s.commitOf(t, "production") {
			t.Errorf("production after an unrelated commit: pin %+v, deployed %.12s; want still pinned on %.12s",
				env.Pin, env.DeployedCommit, s.commitOf(t, "production"))
		}
		s.checkTarget(t, "production", rolledBack, s.files["production"][s.commitOf(t, "production")])
	})

	step("a rollback cannot deploy what approvers did not pass", func(t *testing.T) {
		// bob rejects a breaking production change; the next one waits.
		// alice, one approver, tries to deploy either by "rolling back"
		// to it, by commit and by id, through every node.
		deployed := s.commitOf(t, "production")
		// Not step 04's files: production is pinned from those.
		areas := samplePoints
		areas.geometry, areas.table, areas.title = "Polygon", "public.sample_areas", "Sample areas"
		rejected := s.commit(t, "production", "sample-points become polygons, again", areas)
		rejectedID := s.deploymentOf(t, "production", rejected)
		s.waitFor(t, rejectedID, "AwaitingApproval")
		s.ctlOK(t, "bob", s.addrs(), "reject", rejectedID, "--reason", "not this quarter")
		s.waitFor(t, rejectedID, "Rejected")
		areas.title = "Sample areas, take two"
		waiting := s.commit(t, "production", "sample-points become polygons, take two", areas)
		waitingID := s.deploymentOf(t, "production", waiting)
		s.waitFor(t, waitingID, "AwaitingApproval")

		for _, to := range []string{rejected, rejected[:10], rejectedID, waiting, waitingID} {
			res := s.ctl(t, "alice", s.addrs(), "rollback", "production", "--to", to, "--yes")
			if res.code == 0 || !strings.Contains(res.stderr, "(409 wrong_state)") ||
				!strings.Contains(res.stderr, "only a Completed deployment can be rolled back to") {
				t.Errorf("rollback of production to %.12s: %s; want it refused with 409 wrong_state", to, res)
			}
		}
		var env scenarioEnvironment
		if err := s.get("/v1/environments/production?consistent=true", &env); err != nil {
			t.Fatal(err)
		}
		if env.DeployedCommit != deployed || env.Waiting != waitingID {
			t.Errorf("production after the refused rollbacks: deployed %.12s, waiting %q; want %.12s deployed and %s still waiting",
				env.DeployedCommit, env.Waiting, deployed, waitingID)
		}
		s.checkTarget(t, "production", rolledBack, s.files["production"][deployed])
	})
}

// The layers the scenarios deploy.
var (
	samplePoints = scenarioLayer{id: "sample-points", title: "Sample Points", geometry: "Point",
		table: "public.sample_points", nameAlias: "Name"}
	sampleLines = scenarioLayer{id: "sample-lines", title: "Sample Lines", geometry: "LineString",
		table: "public.sample_lines", nameAlias: "Name"}
	// surveyedPoints is samplePoints with another title and alias.
	surveyedPoints = scenarioLayer{id: "sample-points", title: "Surveyed Points", geometry: "Point",
		table: "public.sample_points", nameAlias: "Point name"}
)

// scenarioLayer is what the scenarios change of a layer.
type scenarioLayer struct {
	id, title, geometry, table, nameAlias string
}

// scenarioMetadata renders an environment's metadata.json with the layers.
// It stays apart from sampleconfig.Metadata: the scenarios change a
// layer's title, geometry type, table and field alias, which sampleconfig's
// point layers hold fixed.
func scenarioMetadata(layers ...scenarioLayer) string {
	var ls []string
	for _, l := range layers {
		ls = append(ls, fmt.Sprintf(`    {
      "id": %q,
      "serviceId": "test-service",
      "title": %q,
      "description": "Scenario layer %s",
      "geometryType": %q,
      "srid": 4326,
      "storage": {"table": %q, "geometryColumn": "geom", "primaryKey": "id"},
      "fields": [
        {"name": "id", "type": "integer"},
        {"name": "name", "type": "string", "alias": %q}
      ]
    }`, l.id, l.title, l.id, l.geometry, l.table, l.nameAlias))
	}
	return fmt.Sprintf(`{
  "services": [{"id": "test-service", "title": "Test Service", "dataSourceId": "test-postgis"}],
  "layers": [
%s
  ]
}
`, strings.Join(ls, ",\n"))
}
