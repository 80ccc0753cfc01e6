package rpc

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// readFixture has production with a deployed commit and a waiting
// deployment, and staging with a failed one.
func readFixture(t *testing.T) (*Server, map[string]string) {
	tf := newTestFSM(t)
	at := t0
	tick := func() time.Time { at = at.Add(time.Minute); return at }
	create := func(env, commit string) string {
		return tf.apply(&fsm.CreateDeployment{Environment: env, Commit: commit, Kind: fsm.KindAuto,
			Initiator: "git-watcher", Time: tick()}).(*fsm.Deployment).ID
	}
	move := func(id string, states ...fsm.DeploymentState) {
		for _, s := range states {
			tf.apply(&fsm.TransitionDeployment{ID: id, To: s, Time: tick(), Message: "to " + s.String(),
				Plan: json.RawMessage(`{"risk":"low","changes":[]}`)})
		}
	}
	ids := map[string]string{}
	ids["done"] = create("production", "c1")
	move(ids["done"], fsm.StateValidating, fsm.StatePlanning, fsm.StateBackingUp, fsm.StateApplying,
		fsm.StatePostValidating, fsm.StateCompleted)
	ids["waiting"] = create("production", "c2")
	move(ids["waiting"], fsm.StateValidating)
	ids["failed"] = create("staging", "c3")
	tf.apply(&fsm.TransitionDeployment{ID: ids["failed"], To: fsm.StateFailed, Time: tick(), Error: "validation failed"})
	return newTestServer(&fakeCluster{leader: "node1"}, tf.f, nil), ids
}

func TestReadEnvironments(t *testing.T) {
	s, ids := readFixture(t)
	rec := do(t, s, "GET", "/v1/environments", "", nil)
	var envs []map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &envs); err != nil || rec.Code != 200 {
		t.Fatalf("GET /v1/environments = %d %s", rec.Code, rec.Body)
	}
	if len(envs) != 2 || envs[0]["name"] != "production" || envs[1]["name"] != "staging" {
		t.Fatalf("environments = %v; want production and staging", envs)
	}
	if envs[0]["deployedCommit"] != "c1" || envs[0]["waiting"] != ids["waiting"] {
		t.Errorf("production = %v; want deployedCommit c1 and waiting %s", envs[0], ids["waiting"])
	}
	w, _ := envs[0]["waitingDeployment"].(map[string]any)
	if w["state"] != "Validating" || w["commit"] != "c2" {
		t.Errorf("production waitingDeployment = %v; want c2 Validating", w)
	}

	rec = do(t, s, "GET", "/v1/environments/production", "", nil)
	var env map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || rec.Code != 200 || env["deployedDeployment"] != ids["done"] {
		t.Errorf("GET /v1/environments/production = %d %s", rec.Code, rec.Body)
	}
	for path, want := range map[string]int{"/v1/environments/development": 404, "/v1/environments/Prod": 400, "/v1/environments/common": 400} {
		if rec := do(t, s, "GET", path, "", nil); rec.Code != want {
			t.Errorf("GET %s = %d; want %d", path, rec.Code, want)
		}
	}
}

func TestReadDeployments(t *testing.T) {
	s, ids := readFixture(t)
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"failed", "waiting", "done"}},
		{"?env=production", []string{"waiting", "done"}},
		{"?state=Failed", []string{"failed"}},
		{"?env=production&state=Completed", []string{"done"}},
		{"?limit=1", []string{"failed"}},
		{"?env=development", []string{}},
		// The api client sends consistent=true with QueryOptions.
		{"?env=production&consistent=true", []string{"waiting", "done"}},
	}
	for _, tt := range tests {
		rec := do(t, s, "GET", "/v1/deployments"+tt.query, "", nil)
		var got []api.DeploymentSummary
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 {
			t.Fatalf("GET /v1/deployments%s = %d %s", tt.query, rec.Code, rec.Body)
		}
		var gotIDs, wantIDs []string
		for _, d := range got {
			gotIDs = append(gotIDs, d.ID)
		}
		for _, n := range tt.want {
			wantIDs = append(wantIDs, ids[n])
		}
		if !slices.Equal(gotIDs, wantIDs) {
			t.Errorf("GET /v1/deployments%s = %v; want %v", tt.query, gotIDs, wantIDs)
		}
	}
	for _, q := range []string{"?state=Done", "?limit=0", "?limit=x", "?limit=5000", "?env=Prod", "?sort=asc"} {
		rec := do(t, s, "GET", "/v1/deployments"+q, "", nil)
		if rec.Code != 400 || errorCode(t, rec) != "invalid" {
			t.Errorf("GET /v1/deployments%s = %d %s; want 400 invalid", q, rec.Code, rec.Body)
		}
	}
}

func TestReadDeployment(t *testing.T) {
	s, ids := readFixture(t)
	rec := do(t, s, "GET", "/v1/deployments/"+ids["done"], "", nil)
	var d map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil || rec.Code != 200 {
		t.Fatalf("GET deployment = %d %s", rec.Code, rec.Body)
	}
	trans, _ := d["transitions"].([]any)
	plan, _ := d["plan"].(map[string]any)
	if d["state"] != "Completed" || len(trans) != 7 || plan["risk"] != "low" {
		t.Errorf("deployment = %v; want Completed with 7 transitions and its plan as JSON", d)
	}
	rec = do(t, s, "GET", "/v1/deployments/production-99", "", nil)
	if rec.Code != 404 || errorCode(t, rec) != "not_found" {
		t.Errorf("GET unknown deployment = %d %s; want 404 not_found", rec.Code, rec.Body)
	}
}
