// Package dashboard tests the web dashboard (internal/ui) in a real
// browser: chromedp drives Debian's chromium, headless, against a real
// three-node honuad cluster with TLS and a tokens file, watching a real
// git repository, through the harness as test/e2e does. The tests sign
// in through the form, read and act on the pages by the ids and classes
// of the contract between the server and its tests, watch the pages
// update live and survive the death of the leader, and run axe-core over
// every page.
//
// Without chromium the tests skip, saying so loudly (.ci/run installs it).
// With -short they skip, as every test that starts honuad does. With
// -dashboard.screenshots=DIR they write the pages' screenshots for
// docs/dashboard.md into DIR.
package dashboard

import (
	"flag"
	"os"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

// waitTimeout bounds every wait, for the cluster and for the browser. The
// machine is small and shared: it is generous, and no test asserts how
// fast anything happens.
const waitTimeout = 60 * time.Second

// screenshots is where the tests write the documentation's screenshots;
// empty writes none.
var screenshots = flag.String("dashboard.screenshots", "",
	"write the dashboard's screenshots for docs/dashboard.md (overview.png, ...) into this directory")

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	harness.RemoveBuild()
	os.Exit(code)
}

func skipIfShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts honuad processes and chromium; skipped with -short")
	}
}
