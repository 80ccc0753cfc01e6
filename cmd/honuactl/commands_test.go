package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/plan"
)

func TestStatus(t *testing.T) {
	f := newFakeAPI(t)
	r := f.ctl(t, "status")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout,
		[]string{"Node:", "n1 (Leader)"},
		[]string{"Leader:", "n1 (127.0.0.1:7201)"},
		[]string{"Term:", "3"},
		[]string{"Index:", "applied 100, committed 100, last 100"},
		[]string{"Version:", "1.2.3"},
		[]string{"Repository:", "git://git.example/config.git", "branch main"},
		[]string{"Head:", "333333333333", "5m ago"},
		[]string{"Drift:", "staging drifted since 5m ago (files metadata.json, roads.json and 2 more; on directory /srv/staging)"},
		[]string{"ID", "STATUS", "ROLE", "VOTER", "API"},
		[]string{"n1", "alive", "leader", "true", "127.0.0.1:7201"},
		[]string{"n3", "dead", "follower", "127.0.0.1:7203"},
	)
	r = f.ctl(t, "status", "-o", "json")
	wantCode(t, r, exitOK)
	var st api.Status
	decode(t, r.stdout, &st)
	if st.NodeID != "n1" || st.Leader == nil || st.Leader.ID != "n1" || len(st.Members) != 3 || st.Repository == nil {
		t.Errorf("status JSON = %+v", st)
	}
	if !strings.Contains(r.stdout, `"leader": {`) {
		t.Errorf("status JSON is not the API's indented JSON:\n%s", r.stdout)
	}
}

func TestMembers(t *testing.T) {
	f := newFakeAPI(t)
	r := f.ctl(t, "members")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout,
		[]string{"ID", "STATUS", "ROLE", "VOTER", "API", "RAFT", "GOSSIP", "VERSION"},
		[]string{"n1", "alive", "leader", "true", "127.0.0.1:7201", "127.0.0.1:7301", "127.0.0.1:7401", "1.2.3"},
		[]string{"n2", "alive", "follower"},
		[]string{"n3", "dead", "follower"},
	)
	r = f.ctl(t, "-o", "json", "members")
	wantCode(t, r, exitOK)
	var ms []api.Member
	decode(t, r.stdout, &ms)
	if len(ms) != 3 || ms[2].ID != "n3" || ms[2].Status != "dead" {
		t.Errorf("members JSON = %+v", ms)
	}

	r = f.ctl(t, "members", "remove", "n3")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Removed n3 from the cluster."})
	if _, ok := f.last("DELETE", "/v1/cluster/members/n3"); !ok {
		t.Error("no DELETE /v1/cluster/members/n3")
	}
	r = f.ctl(t, "members", "remove", "n2", "-o", "json")
	wantCode(t, r, exitOK)
	var removed map[string]string
	decode(t, r.stdout, &removed)
	if removed["removed"] != "n2" {
		t.Errorf("members remove JSON = %v", removed)
	}
	r = f.ctl(t, "members", "remove", "n1")
	wantCode(t, r, exitRefused)
	wantLines(t, r.stderr, []string{"n1 is the leader", "(409 wrong_state)"})
	r = f.ctl(t, "members", "remove")
	wantCode(t, r, exitUsage)
}

func TestDeployments(t *testing.T) {
	f := newFakeAPI(t)
	r := f.ctl(t, "deployments")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout,
		[]string{"ID", "ENVIRONMENT", "STATE", "KIND", "COMMIT", "RISK", "APPROVALS", "INITIATOR", "CREATED", "UPDATED"},
		[]string{"staging-3", "staging", "AwaitingApproval", "auto", "333333333333 ", "high", "1/2", "git-watcher", "10m ago", "3m ago"},
		[]string{"staging-2", "Completed", "222222222222 ", "low", "2h ago"},
		[]string{"production-7", "production", "Completed", "777777777777 ", "3d ago"},
		[]string{"development-2", "Failed"},
	)
	if strings.Contains(r.stdout, commit3) {
		t.Errorf("table shows a full SHA:\n%s", r.stdout)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[1], "staging-3") {
		t.Errorf("want a header and 5 deployments, newest first:\n%s", r.stdout)
	}

	r = f.ctl(t, "deployments", "--env", "staging", "--state", "completed", "--limit", "1", "-o", "json")
	wantCode(t, r, exitOK)
	req, _ := f.last("GET", "/v1/deployments")
	if req.Query != "env=staging&limit=1&state=Completed" {
		t.Errorf("query = %q; want env, limit and the state spelled as the API does", req.Query)
	}
	var ds []api.DeploymentSummary
	decode(t, r.stdout, &ds)
	if len(ds) != 1 || ds[0].ID != "staging-2" {
		t.Errorf("deployments JSON = %+v; want staging-2 alone", ds)
	}

	r = f.ctl(t, "deployments", "--env", "nowhere")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"No deployments."})
	r = f.ctl(t, "deployments", "--env", "nowhere", "-o", "json")
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("empty JSON list = %q; want []", r.stdout)
	}
}

func TestDeployment(t *testing.T) {
	f := newFakeAPI(t)
	r := f.ctl(t, "deployment", "staging-3")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout,
		[]string{"Deployment:", "staging-3"},
		[]string{"Environment:", "staging"},
		[]string{"State:", "AwaitingApproval", "since 9m ago"},
		[]string{"Commit:", "333333333333 (branch main)"},
		[]string{"Kind:", "auto, started by git-watcher"},
		[]string{"Created:", "10m ago"},
		[]string{"Risk:", "high"},
		// The plan.
		[]string{"Plan:", "222222222222 → 333333333333, risk high, breaking; 1 added, 1 modified, 0 removed"},
		[]string{"ACTION", "KIND", "PATH", "RISK", "BREAKING", "REASON"},
		[]string{"added", "layer", "layers/roads", "low", "no", "layer added"},
		[]string{"modified", "layer", "layers/sample-points", "high", "yes", "srid changed"},
		// Approvals: who, when, comment.
		[]string{"Approvals:", "1 of 2 from devops-team", "expires", "in 23h"},
		[]string{"WHO", "GROUPS", "WHEN", "COMMENT"},
		[]string{"alice", "devops-team", "3m ago", "looks right"},
		[]string{"Validation:", "valid"},
		// Every transition, with its time and message.
		[]string{"TIME", "AGO", "FROM", "TO", "MESSAGE"},
		[]string{"10m ago", "-", "Pending", "commit 333333333333 seen (poll)"},
		[]string{"Pending", "Validating", "validating"},
		[]string{"Validating", "Planning", "valid"},
		[]string{"Planning", "AwaitingApproval", "needs 2 approvals: risk high"},
	)
	if strings.Contains(r.stdout, "srid: 4326") {
		t.Errorf("field diffs without --verbose:\n%s", r.stdout)
	}

	r = f.ctl(t, "deployment", "staging-3", "--verbose")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout,
		[]string{"modified", "layers/sample-points", "high", "yes"},
		[]string{"srid: 4326 → 3857", "high", "yes", "srid changed"},
		[]string{`title: "Sample Points" → "Points"`, "low", "no", "title changed"},
	)

	r = f.ctl(t, "deployment", "development-2")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout,
		[]string{"State:", "Failed"},
		[]string{"Error:", "validation failed: 1 problem"},
		[]string{"Plan:", "none yet"},
		[]string{"Approvals:", "none required"},
		[]string{"Validation:", "invalid, 1 problem(s)"},
		[]string{"environments/development/metadata.json:12:7: layers[1].srid: must be a positive integer, got -3"},
		[]string{"Validating", "Failed", "validation failed"},
	)

	r = f.ctl(t, "deployment", "staging-3", "-o", "json")
	wantCode(t, r, exitOK)
	var d api.Deployment
	decode(t, r.stdout, &d)
	if d.ID != "staging-3" || d.State != "AwaitingApproval" || len(d.Transitions) != 4 || len(d.Approvals) != 1 || len(d.Plan) == 0 {
		t.Errorf("deployment JSON = %+v", d)
	}
}

func TestDiff(t *testing.T) {
	f := newFakeAPI(t)
	r := f.ctl(t, "diff", "staging-3")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout,
		[]string{"Plan of staging-3 (staging): 222222222222 → 333333333333, risk high, breaking"},
		[]string{"+ added layer layers/roads", "risk low: layer added"},
		[]string{"~ modified layer layers/sample-points", "risk high, breaking: srid changed"},
		[]string{"    srid: 4326 → 3857", "risk high, breaking: srid changed"},
		[]string{`    title: "Sample Points" → "Points"`, "risk low: title changed"},
	)
	r = f.ctl(t, "diff", "staging-3", "-o", "json")
	wantCode(t, r, exitOK)
	var doc plan.Document
	decode(t, r.stdout, &doc)
	if doc.Plan == nil || doc.Commit != commit3 || len(doc.Changes) != 2 || doc.Changes[1].Diff[0].Field != "srid" || doc.Risk != plan.RiskHigh {
		t.Errorf("diff JSON = %s", r.stdout)
	}

	r = f.ctl(t, "diff", "development-2")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Deployment development-2 has no plan yet (it is Failed)."})
	r = f.ctl(t, "diff", "development-2", "-o", "json")
	if strings.TrimSpace(r.stdout) != "null" {
		t.Errorf("diff JSON without a plan = %q; want null", r.stdout)
	}
	r = f.ctl(t, "diff", "nope-1")
	wantCode(t, r, exitRefused)
}

func TestApproveReject(t *testing.T) {
	f := newFakeAPI(t)
	r := f.ctl(t, "approve", "staging-3", "--comment", "ship it")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Approved staging-3 (2/2 approvals); it is AwaitingApproval."})
	req, _ := f.last("POST", "/v1/deployments/staging-3/approve")
	var body map[string]string
	if err := json.Unmarshal([]byte(req.Body), &body); err != nil || body["comment"] != "ship it" {
		t.Errorf("approve body = %q; want the comment", req.Body)
	}
	r = f.ctl(t, "approve", "staging-3", "-o", "json")
	wantCode(t, r, exitOK)
	var ar api.ApproveResult
	decode(t, r.stdout, &ar)
	if ar.Deployment == nil || ar.Deployment.ID != "staging-3" || len(ar.Deployment.Approvals) != 2 {
		t.Errorf("approve JSON = %s", r.stdout)
	}
	r = f.ctl(t, "approve", "production-7")
	wantCode(t, r, exitRefused)
	wantLines(t, r.stderr, []string{"production-7", "Completed, not AwaitingApproval (409 wrong_state)"})

	r = f.ctl(t, "reject", "staging-3", "--reason", "wrong srid")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Rejected staging-3: wrong srid; it is Rejected."})
	req, _ = f.last("POST", "/v1/deployments/staging-3/reject")
	if !strings.Contains(req.Body, `"reason":"wrong srid"`) {
		t.Errorf("reject body = %q", req.Body)
	}
	r = f.ctl(t, "reject", "--reason", "no", "staging-3", "-o", "json")
	wantCode(t, r, exitOK)
	var d api.Deployment
	decode(t, r.stdout, &d)
	if d.State != "Rejected" || d.Rejection == nil || d.Rejection.Reason != "no" {
		t.Errorf("reject JSON = %s", r.stdout)
	}
}

func TestRollback(t *testing.T) {
	t.Run("refused without a terminal", func(t *testing.T) {
		f := newFakeAPI(t)
		var stdout, stderr strings.Builder
		code := run([]string{"honuactl", "--addr", f.addr(), "rollback", "staging"}, &stdout, &stderr)
		r := result{stdout: stdout.String(), stderr: stderr.String(), code: code}
		wantCode(t, r, exitUsage)
		wantLines(t, r.stderr, []string{"rollback staging", "not a terminal", "--yes"})
		if len(f.seen()) != 0 {
			t.Errorf("sent %d requests; want none", len(f.seen()))
		}
	})
	t.Run("yes", func(t *testing.T) {
		f := newFakeAPI(t)
		r := f.ctl(t, "rollback", "staging", "--yes")
		wantCode(t, r, exitOK)
		wantLines(t, r.stdout,
			[]string{"Environment:", "staging"},
			[]string{"Current:", "staging-2", "commit 222222222222", "Completed", "1h ago"},
			[]string{"Target:", "staging-1", "commit 111111111111", "Completed", "47h ago"},
			[]string{"Rolling staging back to 111111111111: deployment staging-4 is Pending."},
			[]string{"honuactl wait staging-4"},
		)
		req, ok := f.last("POST", "/v1/environments/staging/rollback")
		if !ok || !strings.Contains(req.Body, `"to":""`) {
			t.Errorf("rollback request = %+v, %v", req, ok)
		}
	})
	t.Run("confirmed on a terminal", func(t *testing.T) {
		f := newFakeAPI(t)
		r := invocation{terminal: true, stdin: "y\n"}.run(t, "--addr", f.addr(), "rollback", "staging")
		wantCode(t, r, exitOK)
		if !strings.Contains(r.stderr, "Roll staging back from staging-2 (222222222222) to staging-1 (111111111111)? [y/N] ") {
			t.Errorf("no question on stderr:\n%s", r)
		}
		if _, ok := f.last("POST", "/v1/environments/staging/rollback"); !ok {
			t.Error("confirmed rollback not sent")
		}
	})
	for _, answer := range []string{"n\n", "\n", "", "nope\n"} {
		t.Run("declined "+strings.TrimSpace(answer), func(t *testing.T) {
			f := newFakeAPI(t)
			r := invocation{terminal: true, stdin: answer}.run(t, "--addr", f.addr(), "rollback", "staging")
			wantCode(t, r, exitRefused)
			wantLines(t, r.stderr, []string{"rollback of staging not confirmed; nothing was changed"})
			if _, ok := f.last("POST", "/v1/environments/staging/rollback"); ok {
				t.Error("declined rollback was sent")
			}
		})
	}
	t.Run("to json", func(t *testing.T) {
		f := newFakeAPI(t)
		r := f.ctl(t, "rollback", "staging", "--to", "staging-1", "-y", "-o", "json")
		wantCode(t, r, exitOK)
		var d api.Deployment
		decode(t, r.stdout, &d)
		if d.ID != "staging-4" || d.Kind != "rollback" || d.Commit != commit1 {
			t.Errorf("rollback JSON = %s", r.stdout)
		}
		wantLines(t, r.stderr, []string{"Target:", "staging-1", "111111111111"})
		req, _ := f.last("POST", "/v1/environments/staging/rollback")
		if !strings.Contains(req.Body, `"to":"staging-1"`) {
			t.Errorf("rollback body = %q", req.Body)
		}
	})
	t.Run("to commit prefix refused", func(t *testing.T) {
		f := newFakeAPI(t)
		r := f.ctl(t, "rollback", "staging", "--to", "1111111", "--yes")
		wantCode(t, r, exitRefused)
		wantLines(t, r.stdout, []string{"Target:", "staging-1", "111111111111"})
		wantLines(t, r.stderr, []string{`roll back staging to "1111111"`, "(404 not_found)"})
	})
	t.Run("nothing deployed", func(t *testing.T) {
		f := newFakeAPI(t)
		r := f.ctl(t, "rollback", "empty", "--yes")
		wantCode(t, r, exitRefused)
		wantLines(t, r.stderr, []string{"roll back empty: nothing is deployed"})
		r = f.ctl(t, "rollback", "nowhere", "--yes")
		wantCode(t, r, exitRefused)
		wantLines(t, r.stderr, []string{"environment nowhere is not known (404 not_found)"})
	})
}

func TestHistory(t *testing.T) {
	f := newFakeAPI(t)
	r := f.ctl(t, "history", "staging")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout,
		[]string{"ID", "STATE", "KIND", "COMMIT", "RISK", "APPROVALS", "INITIATOR", "CREATED", "DURATION"},
		[]string{"staging-3", "AwaitingApproval", "auto", "333333333333", "high", "1/2", "10m ago", "running"},
		[]string{"staging-2", "Completed", "222222222222", "low", "2h ago", "4s"},
		[]string{"staging-1", "Completed", "111111111111", "2d ago", "4s"},
		[]string{"Total:", "3: 2 Completed, 0 Failed, 0 RolledBack, 0 Rejected, 0 Superseded, 0 Cancelled, 1 in progress"},
		[]string{"Success rate:", "100% (2 of 2 that reached their targets)"},
		[]string{"Average duration:", "4s"},
	)
	if strings.Contains(r.stdout, "MESSAGE") {
		t.Errorf("messages without --verbose:\n%s", r.stdout)
	}
	r = f.ctl(t, "history", "staging", "--verbose", "--limit", "1")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout,
		[]string{"MESSAGE"},
		[]string{"staging-3", "needs 2 approvals: risk high"},
		[]string{"Showing 1 of 3 deployments"},
	)
	if req, _ := f.last("GET", "/v1/environments/staging/history"); req.Query != "limit=1" {
		t.Errorf("history query = %q", req.Query)
	}
	r = f.ctl(t, "history", "staging", "-o", "json")
	wantCode(t, r, exitOK)
	var h api.History
	decode(t, r.stdout, &h)
	if h.Environment != "staging" || len(h.Deployments) != 3 || h.Totals.Total != 3 || h.Totals.AverageDuration != "4s" {
		t.Errorf("history JSON = %s", r.stdout)
	}
	r = f.ctl(t, "history", "nowhere")
	wantCode(t, r, exitRefused)
}

func TestSync(t *testing.T) {
	f := newFakeAPI(t)
	r := f.ctl(t, "sync", "staging")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Sync of staging requested by bob"})
	r = f.ctl(t, "sync", "staging", "-o", "json")
	wantCode(t, r, exitOK)
	var e api.Environment
	decode(t, r.stdout, &e)
	if e.Name != "staging" || e.PendingSync == nil || e.PendingSync.By != "bob" {
		t.Errorf("sync JSON = %s", r.stdout)
	}
	r = f.ctl(t, "sync", "nowhere")
	wantCode(t, r, exitRefused)
	wantLines(t, r.stderr, []string{"(404 not_found)"})
}

func TestVersion(t *testing.T) {
	f := newFakeAPI(t)
	r := f.ctl(t, "version")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Client:", "honuactl " + version}, []string{"Server:", "honuad 1.2.3", "node n1"})
	r = f.ctl(t, "version", "-o", "json")
	var v versionInfo
	decode(t, r.stdout, &v)
	if v.Client.Version != version || v.Server == nil || v.Server.Version != "1.2.3" {
		t.Errorf("version JSON = %s", r.stdout)
	}
	// Without a server: still the client's version, and exit 0.
	r = invocation{}.run(t, "--addr", deadAddr(t), "version")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"Client:", "honuactl"}, []string{"Server:", "unknown (no node reachable)"})
}

func TestCompletion(t *testing.T) {
	r := invocation{}.run(t, "completion", "bash")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"complete", "_honuactl_complete", "honuactl"}, []string{"--generate-bash-completion"})
	r = invocation{}.run(t, "completion", "zsh")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"#compdef honuactl"}, []string{"--generate-bash-completion"})
	r = invocation{}.run(t, "completion")
	wantCode(t, r, exitUsage)

	// What the scripts ask for: the commands, and a command's flags.
	// urfave/cli reads the words typed from os.Args.
	complete := func(args ...string) result {
		t.Helper()
		saved := os.Args
		defer func() { os.Args = saved }()
		os.Args = append([]string{"honuactl"}, args...)
		return invocation{}.run(t, args...)
	}
	r = complete("--generate-bash-completion")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"deployments"}, []string{"rollback"}, []string{"completion"})
	r = complete("rollback", "--", "--generate-bash-completion")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"--yes"}, []string{"--to"}, []string{"--addr"})

	// A TAB never runs the command, even after "--".
	f := newFakeAPI(t)
	r = complete("--addr", f.addr(), "sync", "staging", "--", "--generate-bash-completion")
	wantCode(t, r, exitOK)
	if rs := f.seen(); len(rs) != 0 {
		t.Errorf("completion sent %s %s", rs[0].Method, rs[0].Path)
	}
}
