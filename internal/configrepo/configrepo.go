// Package configrepo owns the layout of the configuration repository
// (DOMAIN.md §2): which environments a commit has, and reading, parsing and
// validating each environment's files into a Bundle.
//
// It works on an fs.FS of the repository tree at one commit, so it never
// touches git or the disk itself. Files may be JSON or YAML; both are parsed
// into the JSON data model, and every problem is reported with the file,
// line, column and JSON path it concerns, all of them at once.
package configrepo

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
)

// PolicyPath is where the deployment policy lives in the repository.
const PolicyPath = ".gitops/deployment-policy.yaml"

// CommonDir is the folder whose shared configuration goes into every bundle.
const CommonDir = "environments/common"

// envName is the rule for environment names (DOMAIN.md §2): a DNS label.
var envName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

const envNameRule = "an environment name is 1 to 63 lowercase letters, digits and dashes, starting and ending with a letter or digit"

// ValidEnvironmentName reports whether name may name an environment: it
// matches ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ and is not "common".
func ValidEnvironmentName(name string) bool {
	return name != "common" && envName.MatchString(name)
}

// Bundle is one environment's configuration at one commit, read, parsed and
// valid.
type Bundle struct {
	Environment string
	// Files are the bundle's files as they are in the repository, keyed by
	// bundle path: "metadata.json" (or "metadata.yaml"), "datasources.json"
	// (or .yaml), "appsettings.json" (or .yaml) when present, and
	// "shared-config.json" (or .yaml) from environments/common when present.
	// The bytes are untouched.
	Files map[string][]byte
	// The parsed documents in the JSON data model (map[string]any, []any,
	// string, float64, bool, nil) whether they came from JSON or YAML; nil
	// when the file is absent (app settings, shared config).
	Metadata, DataSources, AppSettings, SharedConfig any
	// Typed views of the documents, in file order. Keys they do not name
	// stay in the documents above.
	Services []Service
	Layers   []Layer
	Sources  []DataSource
}

// Environments lists the environment folders of the commit: every directory
// under environments/ except common, sorted. A folder whose name breaks the
// naming rule is not returned; it is reported as a Problem instead, and
// never used as a path. Files under environments/ are ignored.
func Environments(fsys fs.FS) ([]string, []Problem) {
	entries, err := fs.ReadDir(fsys, "environments")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, []Problem{{File: "environments", Message: "folder is missing; each environment is a folder under environments/"}}
	}
	if err != nil {
		return nil, []Problem{{File: "environments", Message: fmt.Sprintf("cannot read: %v", err)}}
	}
	var envs []string
	var problems []Problem
	for _, e := range entries {
		name := e.Name()
		switch {
		case !e.IsDir() || name == "common":
			// not an environment
		case envName.MatchString(name):
			envs = append(envs, name)
		default:
			problems = append(problems, Problem{File: "environments",
				Message: fmt.Sprintf("folder %q is not a valid environment name: %s", name, envNameRule)})
		}
	}
	slices.Sort(envs)
	return envs, problems
}

// Load reads, parses and validates environment env at one commit. fsys is
// the whole repository tree at the commit. It returns every problem found,
// sorted by file, line and column; the Bundle is nil when there are any.
func Load(fsys fs.FS, env string) (*Bundle, []Problem) {
	if env == "common" {
		return nil, []Problem{{File: CommonDir, Message: "common holds the shared configuration; it is not an environment"}}
	}
	if !envName.MatchString(env) {
		return nil, []Problem{{Message: fmt.Sprintf("environment name %q is invalid: %s", env, envNameRule)}}
	}
	dir := "environments/" + env
	if fi, err := fs.Stat(fsys, dir); err != nil || !fi.IsDir() {
		return nil, []Problem{{File: dir, Message: "environment folder does not exist"}}
	}

	var problems []Problem
	b := &Bundle{Environment: env, Files: make(map[string][]byte)}
	meta := readDocument(fsys, dir, "metadata", true, &problems)
	ds := readDocument(fsys, dir, "datasources", true, &problems)
	app := readDocument(fsys, dir, "appsettings", false, &problems)
	shared := readDocument(fsys, CommonDir, "shared-config", false, &problems)

	var dsIDs map[string]bool
	if ds.root != nil {
		b.Sources, dsIDs = checkDataSources(checker{ds.reporter(&problems)}, ds.root)
	}
	if meta.root != nil {
		b.Services, b.Layers = checkMetadata(checker{meta.reporter(&problems)}, meta.root, dsIDs, ds.file)
	}
	for _, d := range []document{app, shared} {
		if d.root != nil {
			checker{d.reporter(&problems)}.object(d.root, "")
		}
	}

	for _, d := range []document{meta, ds, app, shared} {
		if d.data != nil {
			b.Files[d.key] = d.data
		}
	}
	b.Metadata, b.DataSources = meta.root.value(), ds.root.value()
	b.AppSettings, b.SharedConfig = app.root.value(), shared.root.value()

	if len(problems) > 0 {
		sortProblems(problems)
		return nil, problems
	}
	return b, nil
}

// document is one file of a bundle.
type document struct {
	key  string // bundle path, e.g. metadata.json
	file string // repository path
	data []byte // nil when absent
	root *node  // nil when absent or not parsed
}

func (d document) reporter(problems *[]Problem) reporter {
	return reporter{file: d.file, problems: problems}
}

// readDocument reads and parses dir/base.json or dir/base.yaml. A missing
// required file, both files at once and parse errors are problems.
func readDocument(fsys fs.FS, dir, base string, required bool, problems *[]Problem) document {
	jsonName, yamlName, ymlName := base+".json", base+".yaml", base+".yml"
	jsonData, jsonOK := readFile(fsys, dir+"/"+jsonName, problems)
	yamlData, yamlOK := readFile(fsys, dir+"/"+yamlName, problems)
	if _, err := fs.Stat(fsys, dir+"/"+ymlName); err == nil {
		// Ignoring it quietly would deploy without what the user wrote.
		*problems = append(*problems, Problem{File: dir + "/" + ymlName,
			Message: fmt.Sprintf("file is not read; name it %s", yamlName)})
	}

	d := document{key: jsonName, file: dir + "/" + jsonName, data: jsonData}
	switch {
	case jsonOK && yamlOK:
		*problems = append(*problems, Problem{File: dir + "/" + yamlName,
			Message: fmt.Sprintf("both %s and %s exist; keep one", jsonName, yamlName)})
	case yamlOK:
		d = document{key: yamlName, file: dir + "/" + yamlName, data: yamlData}
	case !jsonOK:
		if required {
			*problems = append(*problems, Problem{File: d.file,
				Message: fmt.Sprintf("required file is missing (%s is accepted too)", yamlName)})
		}
		return d
	}
	if d.data == nil { // unreadable, and reported
		return d
	}
	r := d.reporter(problems)
	if d.key == yamlName {
		d.root = parseYAML(r, d.data)
	} else {
		d.root = parseJSON(r, d.data)
	}
	return d
}

// readFile reads a file that may be absent, and reports whether it exists.
// A file that exists but cannot be read is a problem, and its data is nil.
func readFile(fsys fs.FS, name string, problems *[]Problem) ([]byte, bool) {
	fi, err := fs.Stat(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	if err == nil && fi.IsDir() {
		err = errors.New("it is a folder, not a file")
	}
	var data []byte
	if err == nil {
		data, err = fs.ReadFile(fsys, name)
	}
	if err != nil {
		*problems = append(*problems, Problem{File: name, Message: fmt.Sprintf("cannot read: %v", err)})
		return nil, true
	}
	if data == nil {
		data = []byte{}
	}
	return data, true
}

// ReadPolicy returns the raw deployment policy (.gitops/deployment-policy.yaml)
// of the commit, and false when the repository has none. Parsing it belongs
// to package policy.
func ReadPolicy(fsys fs.FS) ([]byte, bool, error) {
	data, err := fs.ReadFile(fsys, PolicyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", PolicyPath, err)
	}
	return data, true, nil
}

// MergedSettings returns the settings a Honua server sees: the environment's
// app settings laid over the shared configuration. Objects merge key by
// key, recursively; any other value of the environment, null included,
// replaces the shared one. A nil document (an absent file) adds nothing.
// The result shares nothing with the arguments, which are not modified.
func MergedSettings(shared, app any) any {
	if app == nil {
		return deepCopy(shared)
	}
	return merge(shared, app)
}

func merge(shared, app any) any {
	so, sok := shared.(map[string]any)
	ao, aok := app.(map[string]any)
	if !sok || !aok {
		return deepCopy(app)
	}
	m := make(map[string]any, len(so)+len(ao))
	for k, v := range so {
		m[k] = deepCopy(v)
	}
	for k, v := range ao {
		if sv, ok := so[k]; ok {
			m[k] = merge(sv, v)
		} else {
			m[k] = deepCopy(v)
		}
	}
	return m
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, e := range t {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}
