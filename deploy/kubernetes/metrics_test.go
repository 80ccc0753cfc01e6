package kubernetes

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/certs"
	"github.com/honua-io/honua-gitops/internal/rpc"
	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/harness"
	"github.com/honua-io/honua-gitops/test/sampleconfig"
)

// waitTimeout bounds every wait for the node. The machine is small and
// shared: it is generous, and nothing here asserts how fast anything is.
const waitTimeout = 90 * time.Second

// The metrics the node must export once it has deployed, failed a
// deployment, answered the API and taken a webhook: those of the issue.
var wantMetrics = []string{
	"honua_raft_state", "honua_raft_leader_changes_total", "honua_raft_term", "honua_raft_commit_index",
	"honua_raft_applied_index", "honua_raft_apply_duration_seconds", "honua_cluster_members",
	"honua_git_last_success_timestamp_seconds", "honua_git_requests_total",
	"honua_deployments_total", "honua_deployment_state", "honua_approvals_pending", "honua_commit_to_deploy_seconds",
	"honua_api_requests_total", "honua_api_forwarded_total", "honua_webhook_requests_total",
	"honua_reconcile_duration_seconds",
}

// Labels Prometheus and its operator put on every series of a target; a
// rule may select on them though honuad does not export them.
var targetLabels = []string{"job", "namespace", "pod", "instance", "service", "endpoint", "container"}

// series is one sample line of the exposition, by metric family.
type series struct {
	labels map[string]string
	value  float64
}

var (
	sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)`)
	labelRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
	typeRE   = regexp.MustCompile(`^# TYPE (\S+) (\S+)`)
)

// parseExposition reads Prometheus' text format into series by family: a
// histogram's _bucket, _sum and _count samples count as its family's.
func parseExposition(r io.Reader) (map[string][]series, error) {
	types := map[string]string{}
	out := map[string][]series{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := typeRE.FindStringSubmatch(line); m != nil {
			types[m[1]] = m[2]
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleRE.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("unparsable sample line %q", line)
		}
		name := m[1]
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if fam, ok := strings.CutSuffix(name, suffix); ok && (types[fam] == "histogram" || types[fam] == "summary") {
				name = fam
			}
		}
		s := series{labels: map[string]string{}}
		for _, l := range labelRE.FindAllStringSubmatch(m[2], -1) {
			if l[1] != "le" && l[1] != "quantile" {
				s.labels[l[1]] = l[2]
			}
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return nil, fmt.Errorf("sample line %q: %w", line, err)
		}
		s.value = v
		out[name] = append(out[name], s)
	}
	return out, sc.Err()
}

// liveNode is a honuad started the way the StatefulSet starts one.
type liveNode struct {
	node  *harness.Node
	token string
	repo  *gitserver.Repo
	// generic is the generic webhook's secret.
	generic string
	// caFile and gossipKeyFile are the walkthrough's CA certificate and
	// gossip key, which the node was given as the pods are.
	caFile, gossipKeyFile string
	// client speaks https to the node, trusting caFile, as honuactl does.
	client *http.Client
	tls    *tls.Config
}

// The policy of the repository the node watches (its documents are
// test/sampleconfig's): staging deploys to a directory; broken's target
// cannot be written, so it fails.
const (
	testPolicy = `apiVersion: honua.io/v1
kind: DeploymentPolicy
environments:
  staging:
    requireApproval: never
  broken:
    requireApproval: never
    autoRollback: false
`
)

// startLiveNode starts one honuad with the StatefulSet's environment (as
// the kubelet gives it to honuad-0) and the ConfigMap's honuad.yaml, with
// what cannot be the same on a test machine replaced: the repository (a
// git daemon here), the environments' targets, the secret files (in a
// temporary directory: the CA, node certificate and gossip key are those
// deploy/README.md's walkthrough makes, the tokens and webhook secrets the
// test's own), the data dir and the ports (free ones, still on 0.0.0.0),
// and --bootstrap-expect 1 without --join, so it leads alone. TLS and
// gossip encryption come from the ConfigMap alone: the harness gives the
// node no TLS flag.
func startLiveNode(t *testing.T) *liveNode {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a honuad process; skipped with -short")
	}
	b := build(t)
	sts := one(t, "StatefulSet", b.statefulSets)
	c := container(t, sts)
	ln := &liveNode{repo: gitserver.NewRepo(t), generic: "generic-webhook-secret"}
	ln.repo.Commit(sampleconfig.Merge(
		sampleconfig.Env("staging", sampleconfig.Points),
		sampleconfig.Env("broken", sampleconfig.Points),
		map[string]string{sampleconfig.PolicyPath: testPolicy},
	), "staging and broken")
	daemon := gitserver.StartDaemon(t, ln.repo.Root())

	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	token, entry, err := rpc.NewToken("admin", rpc.RoleAdmin, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln.token = token

	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(configFile(t, b)), &cfg); err != nil {
		t.Fatalf("the ConfigMap's honuad.yaml: %v", err)
	}
	repo, _ := cfg["repository"].(map[string]any)
	if repo == nil {
		t.Fatal("the ConfigMap's honuad.yaml has no repository section")
	}
	repo["url"] = daemon.URL(ln.repo.Name())
	repo["pollInterval"] = "1s"
	delete(repo, "auth") // git daemon takes none
	write("notafolder", "a file where broken's target wants a folder")
	cfg["environments"] = map[string]any{
		"staging": map[string]any{"targets": []any{map[string]any{"type": "directory", "path": filepath.Join(dir, "staging")}}},
		"broken":  map[string]any{"targets": []any{map[string]any{"type": "directory", "path": filepath.Join(dir, "notafolder", "broken")}}},
	}
	webhooks, _ := cfg["webhooks"].(map[string]any)
	for key := range webhooks {
		webhooks[key] = write(key, ln.generic+"\n")
	}
	auth, _ := cfg["auth"].(map[string]any)
	if auth == nil || auth["tokensFile"] == nil {
		t.Fatal("the ConfigMap's honuad.yaml has no auth.tokensFile")
	}
	auth["tokensFile"] = write("tokens.yaml", "tokens:\n"+entry)
	made := podFiles(sts, runWalkthrough(t, b.namespaces["StatefulSet/"+sts.Name]))
	for _, key := range []string{"tls-ca-file", "tls-cert-file", "tls-key-file", "gossip-key-file"} {
		p, _ := cfg[key].(string)
		local, ok := made[p]
		if !ok {
			t.Fatalf("the ConfigMap's honuad.yaml sets %s %q, which is no file of a Secret the walkthrough creates: the pods would not run secured", key, p)
		}
		cfg[key] = local
	}
	ln.caFile, ln.gossipKeyFile = cfg["tls-ca-file"].(string), cfg["gossip-key-file"].(string)
	if ln.tls, err = certs.Client(certs.ClientOptions{CAFile: ln.caFile}); err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = ln.tls
	ln.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	doc, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := write("honuad.yaml", string(doc))

	var env []string
	for k, v := range podEnv(t, c, "honuad-0", "127.0.0.1", "honua") {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	ports := harness.FreePorts(t, 3)
	cl := harness.New(t, harness.Options{Args: []string{"--config", cfgPath}, Env: env, Token: token})
	ln.node = cl.Add(harness.NodeConfig{
		ID:              "honuad-0",
		BootstrapExpect: 1,
		HTTPAddr:        fmt.Sprintf("0.0.0.0:%d", ports[0]),
		RaftAddr:        fmt.Sprintf("0.0.0.0:%d", ports[1]),
		GossipAddr:      fmt.Sprintf("0.0.0.0:%d", ports[2]),
		APIReach:        fmt.Sprintf("127.0.0.1:%d", ports[0]),
	})
	ln.node.Start()
	// The harness speaks plain HTTP; the node must not. Ready means it
	// leads and has caught up.
	err = harness.Poll(waitTimeout, "honuad-0 to answer GET https://"+ln.node.APIAddr()+"/readyz with 200", func() error {
		resp, err := ln.client.Get("https://" + ln.node.APIAddr() + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// get GETs path from the node over https without a token, as a probe or
// Prometheus does.
func (ln *liveNode) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	resp, err := ln.client.Get("https://" + ln.node.APIAddr() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, body
}

// waitDeployment waits until env has a deployment in state.
func (ln *liveNode) waitDeployment(t *testing.T, env, state string) {
	t.Helper()
	client, err := api.NewClient(api.Config{Addrs: []string{"https://" + ln.node.APIAddr()}, Token: ln.token, TLS: ln.tls})
	if err != nil {
		t.Fatal(err)
	}
	err = harness.Poll(waitTimeout, fmt.Sprintf("a deployment of %s to reach %s", env, state), func() error {
		ds, err := client.Deployments(context.Background(), api.DeploymentFilter{Env: env}, nil)
		if err != nil {
			return err
		}
		var seen []string
		for _, d := range ds {
			if string(d.State) == state {
				return nil
			}
			seen = append(seen, fmt.Sprintf("%s %s %s", d.ID, d.State, d.Error))
		}
		return fmt.Errorf("deployments of %s: %v", env, seen)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLiveNode starts a honuad as the StatefulSet would, with the
// Secrets the README's walkthrough makes, and checks that it runs secured
// (the API only over https, with the walkthrough's certificate, as
// honuactl and Prometheus reach it; gossip encrypted with the
// walkthrough's key). It then makes it deploy, fail a deployment, answer
// the API and take a webhook, and checks that /metrics exports every
// metric the PrometheusRule uses, with the labels and label values its
// selectors need, and every metric of the list.
func TestLiveNode(t *testing.T) {
	b := build(t)
	rules := alerts(t, b)
	ln := startLiveNode(t)

	t.Run("secured", func(t *testing.T) {
		checkSecured(t, ln, serviceMonitorServerName(t, one(t, "ServiceMonitor", b.serviceMonitor)))
	})

	// The probes' paths answer without a token.
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := ln.get(t, p); code != http.StatusOK {
			t.Errorf("GET %s = %d %s; want 200 from a node with a leader", p, code, body)
		}
	}

	ln.waitDeployment(t, "staging", "Completed")
	ln.waitDeployment(t, "broken", "Failed")

	// A signed generic webhook, so that honua_webhook_requests_total has a
	// series.
	mac := hmac.New(sha256.New, []byte(ln.generic))
	sig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	req, _ := http.NewRequest(http.MethodPost, "https://"+ln.node.APIAddr()+"/v1/webhooks/generic", nil)
	req.Header.Set("X-Honua-Signature", sig)
	resp, err := ln.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("POST /v1/webhooks/generic signed with the webhooks file's secret = %d; want 202", resp.StatusCode)
	}

	code, body := ln.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", code)
	}
	families, err := parseExposition(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("issue's metrics", func(t *testing.T) {
		for _, name := range wantMetrics {
			if len(families[name]) == 0 {
				t.Errorf("/metrics has no series of %s", name)
			}
		}
	})

	t.Run("rules' selectors", func(t *testing.T) {
		names := make([]string, 0, len(rules))
		for name := range rules {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, alert := range names {
			r := rules[alert]
			for _, sel := range selectors(r.Expr.String()) {
				checkSelector(t, alert, sel, families[sel.metric])
			}
		}
	})

	t.Run("leader", func(t *testing.T) {
		if s := families["honua_raft_state"]; len(s) != 1 || s[0].value != 2 {
			t.Errorf("honua_raft_state = %+v; want one series at 2 (leader), as HonuaNoLeader assumes", s)
		}
	})
}

// checkSelector checks that the exported series of a metric can match a
// rule's selector: the metric has series, every label it matches on is
// exported (or a target label), and some series has each value matched.
func checkSelector(t *testing.T, alert string, sel selector, got []series) {
	t.Helper()
	if len(got) == 0 {
		t.Errorf("%s uses %s, which the node does not export", alert, sel.metric)
		return
	}
	for _, m := range sel.matchers {
		if slices.Contains(targetLabels, m.label) {
			continue
		}
		var values []string
		for _, s := range got {
			if v, ok := s.labels[m.label]; ok {
				values = append(values, v)
			}
		}
		if len(values) == 0 {
			t.Errorf("%s: %s has no label %s", alert, sel.metric, m.label)
			continue
		}
		var match func(string) bool
		switch m.op {
		case "=":
			match = func(v string) bool { return v == m.value }
		case "=~":
			// A regex alternation: each alternative must occur.
			for _, alt := range strings.Split(m.value, "|") {
				if !slices.Contains(values, alt) {
					t.Errorf("%s: %s{%s=~%q}: no series has %s=%q (values %v)", alert, sel.metric, m.label, m.value, m.label, alt, values)
				}
			}
			continue
		default:
			continue
		}
		if !slices.ContainsFunc(values, match) {
			t.Errorf("%s: %s{%s%s%q}: no series has it (values %v)", alert, sel.metric, m.label, m.op, m.value, values)
		}
	}
}
