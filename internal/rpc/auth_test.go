package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/fsm"
)

// TestBearerSchemeIsCaseInsensitive: HTTP auth schemes are
// case-insensitive (RFC 9110 §11.1), so "bearer" and "BEARER" are Bearer;
// anything else is still refused.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	f := newAPIFixture(t)
	tok := f.tokens["vera"]
	tests := []struct {
		header string
		want   int
	}{
		{"Bearer " + tok, 200},
		{"bearer " + tok, 200},
		{"BEARER " + tok, 200},
		{"bEaReR " + tok, 200},
		{"Bearer  " + tok, 200},
		{"Basic " + tok, 401},
		{"Bearer" + tok, 401},
		{"Bearer ", 401},
		{"bearer", 401},
		{tok, 401},
	}
	for _, tt := range tests {
		rec := do(t, f.s, "GET", "/v1/status", "", map[string]string{"Authorization": tt.header})
		if rec.Code != tt.want {
			t.Errorf("GET /v1/status with Authorization %q = %d %s; want %d", tt.header, rec.Code, rec.Body, tt.want)
		}
	}
}

// TestTokensFileRefusesEveryGroup: the group that stands for every group
// belongs to the identity of a node without a tokens file; a token listed
// with it could approve in every environment, so the file is refused,
// naming the line.
func TestTokensFileRefusesEveryGroup(t *testing.T) {
	_, entry, err := NewToken("alice", RoleApprover, []string{"devops-team"})
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := NewToken("mallory", RoleApprover, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := "tokens:\n" + entry + strings.Replace(other, "groups: []", "groups:\n      - devops-team\n      - \"*\"", 1)
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	line := strings.Count(body[:strings.Index(body, `- "*"`)], "\n") + 1
	_, err = LoadTokens(path)
	want := fmt.Sprintf(`auth.tokensFile %s: line %d: tokens[1].groups[1]: "*" is reserved`, path, line)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("LoadTokens(a file giving mallory the group *) = %v; want an error saying %s", err, want)
	}
}

// TestTokensFileGroups: groups must be a list of names; the reserved group
// is refused however it is written, also through a YAML alias.
func TestTokensFileGroups(t *testing.T) {
	_, alice, err := NewToken("alice", RoleApprover, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, bob, err := NewToken("bob", RoleApprover, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, bobs, alices, want string
	}{
		{"lists", "[sre]", "[devops-team, sre]", ""},
		{"absent", "[sre]", "", ""},
		{"an alias", "&g [sre]", "*g", ""},
		{"not a list", "[sre]", "devops-team", "line 8: tokens[1].groups: must be a list of group names"},
		{"a mapping", "[sre]", "{devops: yes}", "line 8: tokens[1].groups: must be a list of group names"},
		{"the reserved group through an alias", `&g ["*"]`, "*g", `line 8: tokens[1].groups[0]: "*" is reserved`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := strings.Replace(alice, "groups: []", "groups: "+tt.alices, 1)
			if tt.alices == "" {
				a = strings.Replace(alice, "    groups: []\n", "    # no groups\n", 1)
			}
			body := "tokens:\n" + strings.Replace(bob, "groups: []", "groups: "+tt.bobs, 1) + a
			path := filepath.Join(t.TempDir(), "tokens.yaml")
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadTokens(path)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("LoadTokens(alice's groups: %s) = %v; want it accepted", tt.alices, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("LoadTokens(alice's groups: %s) = %v; want an error saying %s", tt.alices, err, tt.want)
			}
		})
	}
}

// noAuthFixture is the API of a leader without a tokens file, over a real
// FSM holding a deployment of production that waits for one approval from
// devops-team, whose policy also names devops-team as approvers.
func noAuthFixture(t *testing.T) (*Server, *leaderCluster, string) {
	t.Helper()
	c := newLeaderCluster(t)
	// Two completed deployments (a rollback goes to the first), one waiting.
	var completed []string
	for _, commit := range []string{"c0", "c1"} {
		d, _ := c.Apply(context.Background(), &fsm.CreateDeployment{Environment: "production", Commit: commit, Kind: fsm.KindAuto, Time: t0})
		done := d.(*fsm.Deployment).ID
		for _, to := range []fsm.DeploymentState{fsm.StateValidating, fsm.StatePlanning, fsm.StateBackingUp,
			fsm.StateApplying, fsm.StatePostValidating, fsm.StateCompleted} {
			if _, err := c.Apply(context.Background(), &fsm.TransitionDeployment{ID: done, To: to, Time: t0}); err != nil {
				t.Fatal(err)
			}
		}
		completed = append(completed, done)
	}
	d, _ := c.Apply(context.Background(), &fsm.CreateDeployment{Environment: "production", Commit: "c2", Kind: fsm.KindAuto, Time: t0})
	id := d.(*fsm.Deployment).ID
	for _, to := range []fsm.DeploymentState{fsm.StateValidating, fsm.StatePlanning, fsm.StateAwaitingApproval} {
		tr := &fsm.TransitionDeployment{ID: id, To: to, Time: t0}
		if to == fsm.StateAwaitingApproval {
			tr.Approval = &fsm.ApprovalRequirement{Required: 1, Groups: []string{"devops-team"}}
		}
		if _, err := c.Apply(context.Background(), tr); err != nil {
			t.Fatal(err)
		}
	}
	s := NewServer(Config{Cluster: c, Store: c.tf.f,
		Pipeline:   &fakePipeline{c: c, approvers: []string{"devops-team"}, previous: completed[0]},
		Repository: &RepositoryInfo{URL: "git://x/config.git", Branch: "main"},
		Now:        func() time.Time { return t0.Add(time.Minute) }})
	return s, c, id
}

// TestAnonymousMayDecideInEveryGroup: without a tokens file the admin
// "anonymous" may do anything, also approve and reject a deployment whose
// policy names approver groups — which the FSM checks again.
func TestAnonymousMayDecideInEveryGroup(t *testing.T) {
	s, c, id := noAuthFixture(t)
	jsonBody := func() map[string]string { return map[string]string{"Content-Type": "application/json"} }
	rec := do(t, s, "POST", "/v1/deployments/"+id+"/approve", `{"comment":"lgtm"}`, jsonBody())
	if rec.Code != 200 {
		t.Fatalf("approve as anonymous = %d %s; want 200", rec.Code, rec.Body)
	}
	var res api.ApproveResult
	if err := decodeJSON(rec, &res); err != nil {
		t.Fatal(err)
	}
	if a := res.Deployment.Approvals; len(a) != 1 || a[0].Identity != "anonymous" || len(a[0].Groups) != 1 || a[0].Groups[0] != fsm.EveryGroup {
		t.Errorf("approvals = %+v; want anonymous's, in group %q", a, fsm.EveryGroup)
	}
	// Another deployment waiting, rejected.
	d, _ := c.Apply(context.Background(), &fsm.CreateDeployment{Environment: "staging", Commit: "c2", Kind: fsm.KindAuto, Time: t0})
	other := d.(*fsm.Deployment).ID
	for _, to := range []fsm.DeploymentState{fsm.StateValidating, fsm.StatePlanning, fsm.StateAwaitingApproval} {
		tr := &fsm.TransitionDeployment{ID: other, To: to, Time: t0}
		if to == fsm.StateAwaitingApproval {
			tr.Approval = &fsm.ApprovalRequirement{Required: 1, Groups: []string{"sre", "dba"}}
		}
		if _, err := c.Apply(context.Background(), tr); err != nil {
			t.Fatal(err)
		}
	}
	if rec := do(t, s, "POST", "/v1/deployments/"+other+"/reject", `{"reason":"not now"}`, jsonBody()); rec.Code != 200 {
		t.Errorf("reject as anonymous = %d %s; want 200", rec.Code, rec.Body)
	}
	for _, path := range []string{"/v1/environments/production/sync", "/v1/environments/production/rollback"} {
		if rec := do(t, s, "POST", path, `{}`, jsonBody()); rec.Code != 202 {
			t.Errorf("POST %s as anonymous = %d %s; want 202", path, rec.Code, rec.Body)
		}
	}
}

func decodeJSON(rec *httptest.ResponseRecorder, v any) error {
	return json.Unmarshal(rec.Body.Bytes(), v)
}
