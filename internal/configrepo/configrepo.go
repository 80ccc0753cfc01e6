// Package configrepo owns the layout of the configuration repository
// (docs/domain.md#repository): which environments a commit has, and reading, parsing and
// validating each environment's files into a Bundle.
//
// It works on an fs.FS of the repository tree at one commit, so it never
// touches git or the disk itself. Files may be JSON or YAML; both are parsed
// into the JSON data model, and every problem is reported with the file,
// line, column and JSON path it concerns, all of them at once. Files are
// read under size limits (Config): a file over its limit is a problem that
// names it and the limit, and is never read into memory.
package configrepo

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"

	"github.com/dustin/go-humanize"
)

// PolicyPath is where the deployment policy lives in the repository.
const PolicyPath = ".gitops/deployment-policy.yaml"

// CommonDir is the folder whose shared configuration goes into every bundle.
const CommonDir = "environments/common"

// envName is the rule for environment names (docs/domain.md#repository): a DNS label.
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

// Load reads, parses and validates environment env at one commit under the
// default limits; see Config.Load.
func Load(fsys fs.FS, env string) (*Bundle, []Problem) {
	return Config{}.Load(fsys, env)
}

// Load reads, parses and validates environment env at one commit. fsys is
// the whole repository tree at the commit. It returns every problem found,
// sorted by file, line and column; the Bundle is nil when there are any.
// Files over the limits are refused before they are read.
func (c Config) Load(fsys fs.FS, env string) (*Bundle, []Problem) {
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
	docs := []*document{
		c.locate(fsys, dir, "metadata", true, &problems),
		c.locate(fsys, dir, "datasources", true, &problems),
		c.locate(fsys, dir, "appsettings", false, &problems),
		c.locate(fsys, CommonDir, "shared-config", false, &problems),
	}
	// The sizes the files say they have, before any is read; and the sizes
	// they turned out to have, in case that was less than the truth.
	if total := totalSize(docs); total > c.maxEnvironment() {
		problems = append(problems, c.environmentTooLarge(dir, total))
		sortProblems(problems)
		return nil, problems
	}
	for _, d := range docs {
		c.read(fsys, d, &problems)
	}
	if total := totalSize(docs); total > c.maxEnvironment() {
		problems = append(problems, c.environmentTooLarge(dir, total))
		sortProblems(problems)
		return nil, problems
	}
	meta, ds, app, shared := *docs[0], *docs[1], *docs[2], *docs[3]

	b := &Bundle{Environment: env, Files: make(map[string][]byte)}
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
	// size is the file's size; readable is false when the file is absent,
	// cannot be read or is over the limit (and that was reported).
	size     int64
	readable bool
	data     []byte // nil when absent or not read
	root     *node  // nil when absent or not parsed
}

func (d document) reporter(problems *[]Problem) reporter {
	return reporter{file: d.file, problems: problems}
}

// totalSize is the size of the documents that are to be read, or were.
func totalSize(docs []*document) int64 {
	var total int64
	for _, d := range docs {
		if d.data != nil {
			total += int64(len(d.data))
		} else if d.readable {
			total += d.size
		}
	}
	return total
}

func (c Config) environmentTooLarge(dir string, total int64) Problem {
	return Problem{File: dir, Message: fmt.Sprintf("the environment's files, the shared configuration included, total %s; the limit is %s per environment (honuad --max-environment-size)",
		sizeText(total), humanize.IBytes(uint64(c.maxEnvironment())))}
}

// locate finds dir/base.json or dir/base.yaml and checks its size, without
// reading it. A missing required file, both files at once, a .yml file and
// a file over the limit are problems.
func (c Config) locate(fsys fs.FS, dir, base string, required bool, problems *[]Problem) *document {
	jsonName, yamlName, ymlName := base+".json", base+".yaml", base+".yml"
	jsonDoc := &document{key: jsonName, file: dir + "/" + jsonName}
	yamlDoc := &document{key: yamlName, file: dir + "/" + yamlName}
	jsonOK := statFile(fsys, jsonDoc, problems)
	yamlOK := statFile(fsys, yamlDoc, problems)
	if _, err := fs.Stat(fsys, dir+"/"+ymlName); err == nil {
		// Ignoring it quietly would deploy without what the user wrote.
		*problems = append(*problems, Problem{File: dir + "/" + ymlName,
			Message: fmt.Sprintf("file is not read; name it %s", yamlName)})
	}

	d := jsonDoc
	switch {
	case jsonOK && yamlOK:
		*problems = append(*problems, Problem{File: yamlDoc.file,
			Message: fmt.Sprintf("both %s and %s exist; keep one", jsonName, yamlName)})
	case yamlOK:
		d = yamlDoc
	case !jsonOK:
		if required {
			*problems = append(*problems, Problem{File: d.file,
				Message: fmt.Sprintf("required file is missing (%s is accepted too)", yamlName)})
		}
		return d
	}
	if d.readable && d.size > c.maxFile() {
		*problems = append(*problems, Problem{File: d.file, Message: c.fileTooLarge(d.size)})
		d.readable = false
	}
	return d
}

// statFile learns whether d's file exists, and its size. A file that exists
// but cannot be read is a problem, and is not readable.
func statFile(fsys fs.FS, d *document, problems *[]Problem) bool {
	fi, err := fs.Stat(fsys, d.file)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err == nil && fi.IsDir() {
		err = errors.New("it is a folder, not a file")
	}
	if err != nil {
		*problems = append(*problems, Problem{File: d.file, Message: fmt.Sprintf("cannot read: %v", err)})
		return true
	}
	d.size, d.readable = fi.Size(), true
	return true
}

// read reads and parses a located document, at most the limit of it.
func (c Config) read(fsys fs.FS, d *document, problems *[]Problem) {
	if !d.readable {
		return
	}
	data, size, err := readLimited(fsys, d.file, c.maxFile())
	switch {
	case errors.Is(err, errTooLarge):
		*problems = append(*problems, Problem{File: d.file, Message: c.fileTooLarge(size)})
		return
	case err != nil:
		*problems = append(*problems, Problem{File: d.file, Message: fmt.Sprintf("cannot read: %v", err)})
		return
	}
	d.data = data
	r := d.reporter(problems)
	if strings.HasSuffix(d.key, ".yaml") {
		d.root = parseYAML(r, d.data)
	} else {
		d.root = parseJSON(r, d.data)
	}
}

// ReadPolicy returns the raw deployment policy under the default limits;
// see Config.ReadPolicy.
func ReadPolicy(fsys fs.FS) ([]byte, bool, error) {
	return Config{}.ReadPolicy(fsys)
}

// ReadPolicy returns the raw deployment policy (.gitops/deployment-policy.yaml)
// of the commit, and false when the repository has none. A policy over the
// per-file limit is not read: the error is then a Problem naming the file
// and the limit. Parsing it belongs to package policy.
func (c Config) ReadPolicy(fsys fs.FS) ([]byte, bool, error) {
	data, size, err := readLimited(fsys, PolicyPath, c.maxFile())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, nil
	case errors.Is(err, errTooLarge):
		return nil, true, Problem{File: PolicyPath, Message: c.fileTooLarge(size)}
	case err != nil:
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
