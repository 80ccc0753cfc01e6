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

var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Build builds honuad from the module's source once per process and returns
// the binary's path. The binary lives in a temporary directory that outlives
// the tests; RemoveBuild deletes it (call it from TestMain after m.Run).
func Build(t TB) string {
	t.Helper()
	built.once.Do(func() { built.dir, built.path, built.err = build() })
	if built.err != nil {
		t.Fatalf("build honuad: %v", built.err)
	}
	return built.path
}

// RemoveBuild deletes the binary Build made, if any.
func RemoveBuild() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}

func build() (dir, path string, err error) {
	root, err := moduleRoot()
	if err != nil {
		return "", "", err
	}
	dir, err = os.MkdirTemp("", "honuad-harness-")
	if err != nil {
		return "", "", err
	}
	path = filepath.Join(dir, "honuad")
	cmd := exec.Command("go", "build", "-o", path, "./cmd/honuad")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("go build ./cmd/honuad in %s: %w\n%s", root, err, out)
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
