package target

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ManifestPath is where every bundle holds its manifest, relative to the
// bundle's root.
const ManifestPath = ".honua/deployment.json"

// manifestDir is the directory of ManifestPath; bundle files may not use it.
const manifestDir = ".honua"

// Manifest describes a bundle; it is written into every bundle as
// .honua/deployment.json.
type Manifest struct {
	DeploymentID string    `json:"deploymentId"`
	Environment  string    `json:"environment"`
	Commit       string    `json:"commit"`
	Kind         string    `json:"kind"` // auto, manual-sync, rollback, ...
	FencingToken uint64    `json:"fencingToken"`
	Time         time.Time `json:"time"`
}

// BundleID names the bundle the manifest describes on a target:
// "<deploymentId>-<fencingToken>". A directory target keeps each bundle in
// a directory of that name.
func (m Manifest) BundleID() string {
	return m.DeploymentID + "-" + strconv.FormatUint(m.FencingToken, 10)
}

// sameApply reports whether m and o describe the same apply: equal in every
// field but Time, which a retry may set anew.
func (m Manifest) sameApply(o Manifest) bool {
	return m.DeploymentID == o.DeploymentID && m.Environment == o.Environment &&
		m.Commit == o.Commit && m.Kind == o.Kind && m.FencingToken == o.FencingToken
}

// encode returns the manifest as targets write it: indented JSON and a
// newline.
func (m Manifest) encode() []byte {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		// A Manifest holds strings, a number and a time: only a time
		// outside years 0-9999 fails, which Validate rules out.
		panic("target: encode manifest: " + err.Error())
	}
	return append(data, '\n')
}

// decodeManifest parses a manifest written by encode.
func decodeManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Bundle is what is deployed: an environment's files (paths relative,
// slash-separated, e.g. "metadata.json", "datasources.json",
// "appsettings.json", "shared-config.json") and its manifest. Targets add
// .honua/deployment.json themselves; Files must not contain it.
type Bundle struct {
	Manifest Manifest
	Files    map[string][]byte
}

// deploymentID is the rule for deployment ids: they name directories.
var deploymentID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Validate checks that the bundle can be written anywhere: a deployment id
// that is safe in a file name, at least one file, and file paths that are
// clean, relative and slash-separated, with no "..", nothing under .honua/,
// and no file that is also another file's directory.
func (b *Bundle) Validate() error {
	if b == nil {
		return errors.New("invalid bundle: nil")
	}
	if !deploymentID.MatchString(b.Manifest.DeploymentID) {
		return fmt.Errorf("invalid bundle: deployment id %q: must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit", b.Manifest.DeploymentID)
	}
	if y := b.Manifest.Time.Year(); y < 0 || y > 9999 {
		return fmt.Errorf("invalid bundle: manifest time %v is out of range", b.Manifest.Time)
	}
	if len(b.Files) == 0 {
		return errors.New("invalid bundle: it has no files")
	}
	for name := range b.Files {
		if err := validPath(name); err != nil {
			return fmt.Errorf("invalid bundle: file %q: %w", name, err)
		}
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			if _, ok := b.Files[dir]; ok {
				return fmt.Errorf("invalid bundle: %q is a file and also the directory of %q", dir, name)
			}
		}
	}
	return nil
}

// validPath checks one bundle file path.
func validPath(name string) error {
	switch {
	case name == "":
		return errors.New("empty path")
	case strings.ContainsAny(name, "\\\x00"):
		return errors.New("must be slash-separated, without backslashes or NUL")
	case path.IsAbs(name):
		return errors.New("must be relative")
	case path.Clean(name) != name:
		return errors.New("must be clean (no '.', '..', empty or trailing elements)")
	case name == ".." || strings.HasPrefix(name, "../"):
		return errors.New("must not leave the bundle")
	case name == manifestDir || strings.HasPrefix(name, manifestDir+"/"):
		return errors.New("is under .honua/, which holds the manifest targets write")
	}
	return nil
}
