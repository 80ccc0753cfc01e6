package docs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests of this package check the pages of docs/ against the code. The
// helpers that read Markdown are in markdown_test.go, those that read the
// binaries' --help in help_test.go, and those that read Go source in
// source_test.go.

// bins holds honuad and honuactl, built once by TestMain.
var bins struct {
	dir              string
	honuad, honuactl string
	err              error
}

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "honua-docs-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		bins.dir = dir
		bins.honuad, bins.honuactl = filepath.Join(dir, "honuad"), filepath.Join(dir, "honuactl")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		for _, b := range []struct{ out, pkg string }{
			{bins.honuad, "github.com/honua-io/honua-gitops/cmd/honuad"},
			{bins.honuactl, "github.com/honua-io/honua-gitops/cmd/honuactl"},
		} {
			if out, err := exec.CommandContext(ctx, "go", "build", "-o", b.out, b.pkg).CombinedOutput(); err != nil {
				bins.err = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				break
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// binary returns the path of a built binary, or fails the test.
func binary(t *testing.T, name string) string {
	t.Helper()
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	switch name {
	case "honuad":
		return bins.honuad
	case "honuactl":
		return bins.honuactl
	}
	t.Fatalf("no binary %q", name)
	return ""
}

// pages are the documentation pages this package holds.
var pages = []string{"getting-started.md", "configuration.md", "operations.md", "troubleshooting.md", "security.md", "api.md", "domain.md", "architecture.md", "notifications.md", "dashboard.md", "targets.md"}

var pageCache sync.Map // name → string

// page returns the text of a page of docs/ (or "../README.md").
func page(t *testing.T, name string) string {
	t.Helper()
	if v, ok := pageCache.Load(name); ok {
		return v.(string)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	pageCache.Store(name, string(b))
	return string(b)
}

// TestPagesExist checks that every page exists and that README.md links
// to each.
func TestPagesExist(t *testing.T) {
	readme := page(t, "../README.md")
	for _, p := range pages {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("docs/%s: %v", p, err)
			continue
		}
		if !strings.Contains(readme, "(docs/"+p+")") {
			t.Errorf("README.md does not link to docs/%s", p)
		}
	}
	md, _ := filepath.Glob("*.md")
	for _, p := range md {
		if !slices.Contains(pages, p) {
			t.Errorf("docs/%s is not in this test's list of pages: add it, so that it is checked", p)
		}
	}
}

// TestAgentFlags checks configuration.md's table of honuad agent flags
// against honuad agent --help: the same flags, each with its environment
// variable and default, and a config file key that exists with the same
// default.
func TestAgentFlags(t *testing.T) {
	help := helpOf(t, "honuad", "agent")
	rows := flagTable(t, "configuration.md", "honuad agent")
	keys := configKeys()
	checkFlagTable(t, "configuration.md#honuad-agent", help, rows)
	for _, f := range help.flags {
		if f.name == "help" {
			continue
		}
		row, ok := rows[f.name]
		if !ok {
			continue // reported by checkFlagTable
		}
		key := row["config file key"]
		if f.name == "config" {
			if key != "" {
				t.Errorf("configuration.md: --config has config file key %q; the file cannot name itself", key)
			}
			continue
		}
		k, ok := keys[key]
		if !ok {
			t.Errorf("configuration.md: --%s has config file key %q, which honuad's configuration does not have", f.name, key)
			continue
		}
		// The default --help shows must be the one the key has (both
		// come from agent.DefaultConfig; TestOptionTables checks the
		// table against agent.Options).
		if !sameDefault(k, f.def) {
			t.Errorf("honuad agent --help shows --%s's default as %q; its key %s defaults to %s in the code",
				f.name, f.def, key, k.describeDefault())
		}
	}
}

// TestConfigKeys checks configuration.md's table of file keys against the
// options' keys (agent.Options) and the yaml keys of agent.Sections: every
// key, none unknown, and each default as the code has it.
func TestConfigKeys(t *testing.T) {
	keys := configKeys()
	tab := table(t, "configuration.md", "The configuration file", "key")
	documented := map[string]bool{}
	for _, row := range tab {
		key := row["key"]
		if documented[key] {
			t.Errorf("configuration.md: key %s is listed twice", key)
		}
		documented[key] = true
		k, ok := keys[key]
		if !ok {
			t.Errorf("configuration.md documents key %s, which honuad's configuration does not have", key)
			continue
		}
		if !sameDefault(k, row["default"]) {
			t.Errorf("configuration.md: key %s defaults to %q; the code's default is %s", key, row["default"], k.describeDefault())
		}
	}
	for _, key := range sortedKeys(keys) {
		if !documented[key] {
			t.Errorf("configuration.md does not document key %s (%s)", key, keys[key].typ)
		}
	}
}

// TestOtherFlags checks the flag tables of honuad recover, honuad token
// create, honuad tls ca create, honuad tls cert create and honuactl against
// their --help.
func TestOtherFlags(t *testing.T) {
	for _, c := range []struct {
		section string
		bin     string
		args    []string
	}{
		{"honuad recover", "honuad", []string{"recover"}},
		{"honuad token create", "honuad", []string{"token", "create"}},
		{"honuad tls ca create", "honuad", []string{"tls", "ca", "create"}},
		{"honuad tls cert create", "honuad", []string{"tls", "cert", "create"}},
		{"honuactl", "honuactl", nil},
	} {
		t.Run(c.section, func(t *testing.T) {
			checkFlagTable(t, "configuration.md#"+slug(c.section), helpOf(t, c.bin, c.args...), flagTable(t, "configuration.md", c.section))
		})
	}
	t.Run("honuad target-agent", func(t *testing.T) {
		checkFlagTable(t, "targets.md#honuad-target-agent", helpOf(t, "honuad", "target-agent"), flagTable(t, "targets.md", "honuad target-agent"))
	})
}

// TestEnvironmentVariables checks that every HONUA_ variable the pages name
// exists, and that configuration.md's table of an exec target's variables
// is the list the exec target sets.
func TestEnvironmentVariables(t *testing.T) {
	known := map[string]string{}
	for _, c := range [][]string{{"agent"}, {"recover"}, {"target-agent"}} {
		for _, f := range helpOf(t, "honuad", c...).flags {
			for _, e := range f.env {
				known[e] = "honuad " + c[0]
			}
		}
	}
	for _, f := range helpOf(t, "honuactl").flags {
		for _, e := range f.env {
			known[e] = "honuactl"
		}
	}
	execVars := execTargetVars(t)
	for _, v := range execVars {
		known[v] = "exec targets"
	}
	re := regexp.MustCompile(`HONUA_[A-Z0-9_]*[A-Z0-9]`)
	for _, p := range pages {
		for _, v := range re.FindAllString(page(t, p), -1) {
			if _, ok := known[v]; !ok {
				t.Errorf("docs/%s names %s, which neither honuad, honuactl nor an exec target reads or sets", p, v)
			}
		}
	}
	var documented []string
	for _, row := range table(t, "configuration.md", "The environment of exec targets", "variable") {
		documented = append(documented, row["variable"])
	}
	slices.Sort(documented)
	if !slices.Equal(documented, execVars) {
		t.Errorf("configuration.md lists the exec target variables %v; internal/target sets %v", documented, execVars)
	}
}

// TestCommandLines checks every honuad and honuactl command line the pages
// show, in code blocks and inline code: the commands exist, and so does
// every flag given to them.
func TestCommandLines(t *testing.T) {
	seen := 0
	for _, p := range pages {
		for _, cl := range commandLines(page(t, p)) {
			seen++
			if err := checkCommandLine(t, cl); err != nil {
				t.Errorf("docs/%s: %q: %v", p, cl, err)
			}
		}
	}
	if seen < 20 {
		t.Errorf("found only %d honuad and honuactl command lines in the pages; the parser is likely broken", seen)
	}
}

// TestLinks checks that every relative link of the pages and README.md
// names a file that exists and, with #anchor, a heading in it.
func TestLinks(t *testing.T) {
	for _, p := range append(slices.Clone(pages), "../README.md") {
		for _, l := range links(page(t, p)) {
			if strings.Contains(l, "://") || strings.HasPrefix(l, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(l, "#")
			target := p
			if file != "" {
				target = filepath.Join(filepath.Dir(p), file)
			}
			fi, err := os.Stat(target)
			if err != nil {
				t.Errorf("%s links to %s: %v", p, l, err)
				continue
			}
			if anchor == "" || fi.IsDir() || !strings.HasSuffix(target, ".md") {
				continue
			}
			if !slices.Contains(anchors(page(t, target)), anchor) {
				t.Errorf("%s links to %s, but %s has no heading with anchor #%s", p, l, target, anchor)
			}
		}
	}
}

// TestEndpoints checks api.md's table of endpoints against the routes
// internal/rpc registers: every route documented with its role, and no
// documented endpoint that is not served.
func TestEndpoints(t *testing.T) {
	routes := rpcRoutes(t)
	rows := table(t, "api.md", "Endpoints", "path")
	matched := map[string]bool{}
	for _, row := range rows {
		method, path, role := row["method"], row["path"], strings.Fields(row["role"] + " ?")[0]
		found := false
		for _, r := range routes {
			if r.method == method && pathMatches(r.path, path) {
				found = true
				matched[r.pattern()] = true
				if r.role != role {
					t.Errorf("api.md: %s %s needs role %q; internal/rpc registers it for %q", method, path, role, r.role)
				}
			}
		}
		if !found {
			t.Errorf("api.md documents %s %s, which internal/rpc does not serve", method, path)
		}
	}
	for _, r := range routes {
		if !matched[r.pattern()] {
			t.Errorf("api.md does not document %s (role %s)", r.pattern(), r.role)
		}
	}
}

// TestErrorCodes checks api.md's table of error codes against the codes
// internal/rpc answers with, and their statuses.
func TestErrorCodes(t *testing.T) {
	codes := rpcErrorCodes(t)
	documented := map[string][]int{}
	for _, row := range table(t, "api.md", "Errors", "code") {
		var statuses []int
		for _, s := range regexp.MustCompile(`\d{3}`).FindAllString(row["status"], -1) {
			var n int
			fmt.Sscan(s, &n)
			statuses = append(statuses, n)
		}
		slices.Sort(statuses)
		documented[row["code"]] = statuses
	}
	for code, statuses := range codes {
		got, ok := documented[code]
		if !ok {
			t.Errorf("api.md does not document error code %s (status %v)", code, statuses)
			continue
		}
		if !slices.Equal(got, statuses) {
			t.Errorf("api.md gives error code %s status %v; internal/rpc answers it with %v", code, got, statuses)
		}
	}
	for code := range documented {
		if _, ok := codes[code]; !ok {
			t.Errorf("api.md documents error code %s, which internal/rpc never answers", code)
		}
	}
}

// TestKubernetesNames checks, once deploy/kubernetes exists, that the
// names getting-started.md gives the StatefulSet, its Service and the
// Secrets are the manifests' own.
func TestKubernetesNames(t *testing.T) {
	dir := filepath.Join("..", "deploy", "kubernetes")
	var manifests bytes.Buffer
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			manifests.Write(b)
			manifests.WriteString("\n")
		}
		return nil
	})
	if os.IsNotExist(err) {
		t.Skip("deploy/kubernetes does not exist (yet)")
	}
	if err != nil {
		t.Fatal(err)
	}
	text := manifests.String()
	for _, name := range kubernetesNames(page(t, "getting-started.md")) {
		if !regexp.MustCompile(`(?m)\b` + regexp.QuoteMeta(name) + `\b`).MatchString(text) {
			t.Errorf("getting-started.md names %q, which no manifest in deploy/kubernetes does", name)
		}
	}
}

// notMetrics are the honua_ names the pages may give that are not
// metrics: the dashboard's cookies (internal/ui).
var notMetrics = map[string]bool{"honua_session": true, "honua_csrf": true}

// TestMetricNames checks that the honua_ metrics the pages name exist, and
// that api.md lists every one.
func TestMetricNames(t *testing.T) {
	defined := metricNames(t)
	re := regexp.MustCompile(`honua_[a-z_]+[a-z]`)
	for _, p := range pages {
		for _, m := range re.FindAllString(page(t, p), -1) {
			if !slices.Contains(defined, m) && !notMetrics[m] {
				t.Errorf("docs/%s names metric %s, which honuad does not export", p, m)
			}
		}
	}
	api := page(t, "api.md")
	for _, m := range defined {
		if !strings.Contains(api, "`"+m+"`") {
			t.Errorf("api.md does not list metric %s", m)
		}
	}
}

// TestNamedFlagsExist checks that every flag the pages name in inline code
// (`--tls-ca-file`) is a flag of some honuad or honuactl command, so that
// prose such as security.md's stays true to the flags as they are.
func TestNamedFlagsExist(t *testing.T) {
	known := map[string]bool{}
	var walk func(bin string, args []string)
	walk = func(bin string, args []string) {
		h := helpOf(t, bin, args...)
		for _, f := range h.flags {
			known[f.name] = true
			for _, a := range f.aliases {
				known[a] = true
			}
		}
		for _, c := range h.commands {
			if c != "help" && len(args) < 3 {
				walk(bin, append(slices.Clone(args), c))
			}
		}
	}
	walk("honuad", nil)
	walk("honuactl", nil)
	span := regexp.MustCompile("`[^`\n]+`")
	flagRE := regexp.MustCompile(`(?:^|[\s(=])--([a-z][a-z0-9-]*[a-z0-9])`)
	// Spans that show another program's command line.
	other := regexp.MustCompile(`^(curl|git|openssl|kubectl|docker|ss|ip|nft|go|make|systemctl|journalctl|ls|grep|ssh|cfssl)\b`)
	seen := 0
	for _, p := range pages {
		for _, s := range span.FindAllString(page(t, p), -1) {
			s = strings.Trim(s, "`")
			if other.MatchString(s) {
				continue
			}
			for _, m := range flagRE.FindAllStringSubmatch(s, -1) {
				seen++
				if !known[m[1]] {
					t.Errorf("docs/%s names --%s (in `%s`), which no honuad or honuactl command has", p, m[1], s)
				}
			}
		}
	}
	if seen < 50 {
		t.Errorf("found only %d flags named in the pages; the parser is likely broken", seen)
	}
}
