package kubernetes

import (
	"os"
	"testing"

	"github.com/honua-io/honua-gitops/test/harness"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBuild()
	os.Exit(code)
}
