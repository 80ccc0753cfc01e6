package docs

import (
	"testing"

	"github.com/honua-io/honua-gitops/internal/agent"
)

// TestOptionTables checks the tables of honuad agent's options, in
// configuration.md and README.md, against agent.Options, the one list the
// flags, the environment variables and the file keys are derived from:
// a row for each option and none other, each with the option's
// environment variable, its default (agent.DefaultConfig's) and, in
// configuration.md, its file key.
func TestOptionTables(t *testing.T) {
	for _, tab := range []struct {
		page, section, envColumn string
		keys                     bool
	}{
		{"configuration.md", "honuad agent", "environment variable", true},
		{"../README.md", "Running honuad", "env", false},
	} {
		t.Run(tab.page, func(t *testing.T) {
			rows := flagTable(t, tab.page, tab.section)
			for _, o := range agent.Options() {
				row, ok := rows[o.Name]
				if !ok {
					t.Errorf("%s, section %q, does not list --%s", tab.page, tab.section, o.Name)
					continue
				}
				delete(rows, o.Name)
				if got := row[tab.envColumn]; got != o.Env() {
					t.Errorf("%s: --%s is read from %q; the option's variable is %s", tab.page, o.Name, got, o.Env())
				}
				if got := row["default"]; got != o.Default() {
					t.Errorf("%s: --%s defaults to %q; agent.DefaultConfig has %q", tab.page, o.Name, got, o.Default())
				}
				if got := row["config file key"]; tab.keys && got != o.Key {
					t.Errorf("%s: --%s has config file key %q; the option's key is %q", tab.page, o.Name, got, o.Key)
				}
			}
			for name := range rows {
				t.Errorf("%s, section %q, lists --%s, which honuad agent does not have", tab.page, tab.section, name)
			}
		})
	}
}
