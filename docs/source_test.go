package docs

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/agent"
)

// keyInfo is one leaf key of honuad's configuration file.
type keyInfo struct {
	typ reflect.Type
	// def is the default: the value agent.DefaultConfig holds, or the one
	// applied later (see derivedDefaults); nil for none.
	def any
}

// derivedDefaults are defaults a zero value in agent.DefaultConfig stands
// for, taken from where the code applies them.
func derivedDefaults() map[string]any {
	return map[string]any{
		// internal/agent fills these in Validate.
		"repository.branch":       agent.DefaultBranch,
		"repository.pollInterval": agent.DefaultPollInterval,
		"repository.timeout":      agent.DefaultGitTimeout,
		// and these in Validate too.
		"notifications.retry.maxAttempts":     agent.DefaultNotificationAttempts,
		"notifications.retry.initialInterval": agent.DefaultNotificationInitial,
		"notifications.retry.maxInterval":     agent.DefaultNotificationMax,
	}
}

// configKeys returns every leaf key of honuad's configuration file,
// dotted: the options' keys (agent.Options) and those of the file-only
// sections, from the yaml tags of agent.Sections
// ("repository.auth.tokenFile", "environments.<name>.targets[].url").
func configKeys() map[string]keyInfo {
	keys := map[string]keyInfo{}
	def := agent.DefaultConfig()
	for _, o := range agent.Options() {
		if o.Key == "" {
			continue
		}
		v := reflect.ValueOf(o.Field(&def)).Elem()
		info := keyInfo{typ: v.Type()}
		if !v.IsZero() {
			info.def = v.Interface()
		}
		keys[o.Key] = info
	}
	walkKeys(keys, "", reflect.TypeOf(def.Sections), reflect.ValueOf(def.Sections))
	for k, v := range derivedDefaults() {
		info := keys[k]
		info.def = v
		keys[k] = info
	}
	return keys
}

func walkKeys(keys map[string]keyInfo, prefix string, t reflect.Type, v reflect.Value) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		path := prefix + name
		ft := f.Type
		var fv reflect.Value
		if v.IsValid() {
			fv = v.Field(i)
		}
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
			if fv.IsValid() && !fv.IsNil() {
				fv = fv.Elem()
			} else {
				fv = reflect.Value{}
			}
		}
		switch {
		case ft.Kind() == reflect.Struct:
			walkKeys(keys, path+".", ft, fv)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
			walkKeys(keys, path+".<name>.", ft.Elem(), reflect.Value{})
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			walkKeys(keys, path+"[].", ft.Elem(), reflect.Value{})
		default:
			info := keyInfo{typ: ft}
			if fv.IsValid() && !fv.IsZero() {
				info.def = fv.Interface()
			}
			keys[path] = info
		}
	}
}

func sortedKeys(m map[string]keyInfo) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

var durationType = reflect.TypeOf(agent.Duration(0))

// sameDefault reports whether doc (a documented default, "" for none)
// states the key's default.
func sameDefault(k keyInfo, doc string) bool {
	if k.def == nil {
		// A type with names for its values (--tls-client-auth) shows
		// the zero value's.
		if s, ok := reflect.Zero(k.typ).Interface().(fmt.Stringer); ok && doc == s.String() {
			return true
		}
		switch k.typ.Kind() {
		case reflect.Bool:
			return doc == "" || doc == "false"
		case reflect.Int, reflect.Int64, reflect.Uint64:
			return doc == "" || doc == "0"
		}
		return doc == ""
	}
	if d, ok := asDuration(k.def); ok {
		got, err := time.ParseDuration(doc)
		return err == nil && got == d
	}
	return fmt.Sprint(k.def) == doc
}

func asDuration(v any) (time.Duration, bool) {
	switch d := v.(type) {
	case time.Duration:
		return d, true
	case agent.Duration:
		return time.Duration(d), true
	}
	return 0, false
}

func (k keyInfo) describeDefault() string {
	if k.def == nil {
		return "none (the zero value)"
	}
	if d, ok := asDuration(k.def); ok {
		return d.String()
	}
	return fmt.Sprintf("%v", k.def)
}

// execTargetVars returns the variables an exec target adds to its
// command's environment, read from internal/target's source.
func execTargetVars(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "internal", "target", "exec.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`"(HONUA_[A-Z0-9_]+)="`).FindAllStringSubmatch(string(b), -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	if len(out) == 0 {
		t.Fatal("internal/target/exec.go sets no HONUA_ variable; the pattern this test looks for is out of date")
	}
	slices.Sort(out)
	return out
}

// rpcFiles parses internal/rpc's non-test Go files.
func rpcFiles(t *testing.T) []*ast.File {
	t.Helper()
	dir := filepath.Join("..", "internal", "rpc")
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// route is one endpoint internal/rpc registers.
type route struct {
	method, path string
	role         string // none, viewer, approver or admin
}

func (r route) pattern() string { return r.method + " " + r.path }

// rpcRoutes finds the routes internal/rpc registers: s.read, s.route and
// s.routeLimit calls (behind authentication) and s.mux.Handle(Func) calls
// (open).
func rpcRoutes(t *testing.T) []route {
	t.Helper()
	var out []route
	for _, f := range rpcFiles(t) {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			pattern, _ := strconv.Unquote(lit.Value)
			method, path, ok := strings.Cut(pattern, " ")
			if !ok {
				return true // the catch-all "/"
			}
			r := route{method: method, path: path}
			switch sel.Sel.Name {
			case "read":
				r.role = "viewer"
			case "route", "routeLimit":
				id, ok := call.Args[2].(*ast.Ident)
				if !ok {
					t.Errorf("internal/rpc registers %s with a role that is not a constant", pattern)
					return true
				}
				r.role = strings.ToLower(strings.TrimPrefix(id.Name, "Role"))
			case "HandleFunc", "Handle":
				r.role = "none"
			default:
				return true
			}
			out = append(out, r)
			return true
		})
	}
	if len(out) < 10 {
		t.Fatalf("found only %d routes in internal/rpc; the patterns this test looks for are out of date", len(out))
	}
	return out
}

// pathMatches reports whether a documented path (which may carry a query)
// is served by a route's path, whose {name} segments match any segment.
func pathMatches(pattern, doc string) bool {
	doc, _, _ = strings.Cut(doc, "?")
	ps, ds := strings.Split(pattern, "/"), strings.Split(doc, "/")
	if len(ps) != len(ds) {
		return false
	}
	for i := range ps {
		if ps[i] != ds[i] && !(strings.HasPrefix(ps[i], "{") && strings.HasSuffix(ps[i], "}")) {
			return false
		}
	}
	return true
}

// httpStatuses resolves the net/http status constants internal/rpc uses.
var httpStatuses = map[string]int{
	"StatusOK": http.StatusOK, "StatusAccepted": http.StatusAccepted,
	"StatusBadRequest": http.StatusBadRequest, "StatusUnauthorized": http.StatusUnauthorized,
	"StatusForbidden": http.StatusForbidden, "StatusNotFound": http.StatusNotFound,
	"StatusConflict": http.StatusConflict, "StatusRequestEntityTooLarge": http.StatusRequestEntityTooLarge,
	"StatusInternalServerError": http.StatusInternalServerError, "StatusServiceUnavailable": http.StatusServiceUnavailable,
	"StatusGatewayTimeout": http.StatusGatewayTimeout, "StatusBadGateway": http.StatusBadGateway,
	"StatusPreconditionFailed": http.StatusPreconditionFailed, "StatusTooManyRequests": http.StatusTooManyRequests,
	"StatusMethodNotAllowed": http.StatusMethodNotAllowed, "StatusUnprocessableEntity": http.StatusUnprocessableEntity,
	"StatusUnsupportedMediaType": http.StatusUnsupportedMediaType, "StatusRequestTimeout": http.StatusRequestTimeout,
	"StatusInsufficientStorage": http.StatusInsufficientStorage,
}

// rpcErrorCodes finds every error code internal/rpc answers with and its
// statuses: writeError(w, status, "code", ...), webhookError{status,
// "code", ...}, and "status, code = http.StatusX, "code"".
func rpcErrorCodes(t *testing.T) map[string][]int {
	t.Helper()
	out := map[string][]int{}
	add := func(statusExpr, codeExpr ast.Expr) {
		lit, ok := codeExpr.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return
		}
		code, _ := strconv.Unquote(lit.Value)
		sel, ok := statusExpr.(*ast.SelectorExpr)
		if !ok {
			t.Errorf("internal/rpc answers code %s with a status that is not a net/http constant", code)
			return
		}
		status, ok := httpStatuses[sel.Sel.Name]
		if !ok {
			t.Errorf("internal/rpc answers code %s with http.%s: add it to this test's httpStatuses", code, sel.Sel.Name)
			return
		}
		if !slices.Contains(out[code], status) {
			out[code] = append(out[code], status)
			slices.Sort(out[code])
		}
	}
	for _, f := range rpcFiles(t) {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "writeError" && len(n.Args) == 4 {
					add(n.Args[1], n.Args[2])
				}
			case *ast.CompositeLit:
				if id, ok := n.Type.(*ast.Ident); ok && id.Name == "webhookError" && len(n.Elts) >= 2 {
					add(n.Elts[0], n.Elts[1])
				}
			case *ast.AssignStmt:
				if len(n.Lhs) == 2 && len(n.Rhs) == 2 {
					if id, ok := n.Lhs[1].(*ast.Ident); ok && id.Name == "code" {
						add(n.Rhs[0], n.Rhs[1])
					}
				}
			}
			return true
		})
	}
	if len(out) < 8 {
		t.Fatalf("found only %d error codes in internal/rpc; the patterns this test looks for are out of date", len(out))
	}
	return out
}

// metricNames returns the names of the metrics honuad exports: every
// "honua_..." string literal of the non-test Go files under internal/ that
// names a metric (after Name:, NewDesc( or gauge(), and not, say, a
// cookie's name.
func metricNames(t *testing.T) []string {
	t.Helper()
	var out []string
	re := regexp.MustCompile(`(?:Name:\s*|NewDesc\(|gauge\()"(honua_[a-z_]+)"`)
	err := filepath.WalkDir(filepath.Join("..", "internal"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if !slices.Contains(out, m[1]) {
				out = append(out, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 10 {
		t.Fatalf("found only %d metric names under internal/; the pattern this test looks for is out of date", len(out))
	}
	slices.Sort(out)
	return out
}
