package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// moduleBinary is one command of the module built once per process.
type moduleBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

var built, builtCtl moduleBinary

// Build builds honuad from the module's source once per process and returns
// the moduleBinary's path. The moduleBinary lives in a temporary directory that outlives
// the tests; RemoveBuild deletes it (call it from TestMain after m.Run).
func Build(t TB) string {
	t.Helper()
	return built.get(t, "honuad")
}

// BuildHonuactl builds honuactl once per process, as Build does honuad, and
// returns the moduleBinary's path.
func BuildHonuactl(t TB) string {
	t.Helper()
	return builtCtl.get(t, "honuactl")
}

func (b *moduleBinary) get(t TB, name string) string {
	t.Helper()
	b.once.Do(func() { b.dir, b.path, b.err = build(name) })
	if b.err != nil {
		t.Fatalf("build %s: %v", name, b.err)
	}
	return b.path
}

// RemoveBuild deletes the binaries Build and BuildHonuactl made, if any.
func RemoveBuild() {
	for _, b := range []*moduleBinary{&built, &builtCtl} {
		if b.dir != "" {
			os.RemoveAll(b.dir)
		}
	}
}

// build builds ./cmd/<name> into a new temporary directory.
func build(name string) (dir, path string, err error) {
	root, err := moduleRoot()
	if err != nil {
		return "", "", err
	}
	dir, err = os.MkdirTemp("", name+"-harness-")
	if err != nil {
		return "", "", err
	}
	path = filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", path, "./cmd/"+name)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("go build ./cmd/%s in %s: %w\n%s", name, root, err, out)
	}
	return dir, path, nil
}

// moduleRoot asks the go command for the go.mod of the working directory,
// which is the test's package directory under go test.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the honua-gitops module: run from its source tree")
	}
	return filepath.Dir(gomod), nil
}
