package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/honua-io/honua-gitops/internal/agent"
	"github.com/honua-io/honua-gitops/internal/targetagent"
)

// parseTargetAgent runs honuad target-agent's command line up to its
// configuration, and returns it.
func parseTargetAgent(t *testing.T, args ...string) (targetagent.Config, error) {
	t.Helper()
	app := newApp()
	var got targetagent.Config
	var cfgErr error
	for _, c := range app.Commands {
		if c.Name == "target-agent" {
			c.Action = func(c *cli.Context) error {
				got, cfgErr = targetAgentConfigFrom(c)
				return cfgErr
			}
		}
	}
	err := app.Run(append([]string{"honuad", "target-agent"}, args...))
	if err != nil && cfgErr == nil {
		return got, err
	}
	return got, cfgErr
}

// TestTargetAgentEveryOptionFromEverySource sets each of honuad
// target-agent's options from the file, the environment and a flag, and
// checks that the later source wins: defaults < file < env < flags.
func TestTargetAgentEveryOptionFromEverySource(t *testing.T) {
	def := targetagent.DefaultConfig()
	for _, o := range targetagent.Options() {
		if o.Field(&def) == nil {
			continue
		}
		var values map[string]string
		switch o.Field(&def).(type) {
		case *string:
			values = map[string]string{"file": "from-file", "env": "from-env", "flag": "from-flag"}
		case *int:
			values = map[string]string{"file": "7", "env": "8", "flag": "9"}
		case *bool:
			values = map[string]string{"file": "true", "env": "false", "flag": "true"}
		case *agent.Duration:
			values = map[string]string{"file": "7s", "env": "8s", "flag": "9s"}
		case *agent.Size:
			values = map[string]string{"file": "7KiB", "env": "8KiB", "flag": "9KiB"}
		case *agent.ClientAuth:
			values = map[string]string{"file": "request", "env": "require", "flag": "request"}
		default:
			t.Fatalf("no sample values for --%s (%T)", o.Name, o.Field(&def))
		}
		t.Run(o.Name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "agent.yaml")
			if err := os.WriteFile(file, []byte(o.Name+": "+values["file"]+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			check := func(what string, got targetagent.Config, want string) {
				t.Helper()
				var w targetagent.Config
				if err := setText(o.Field(&w), want); err != nil {
					t.Fatal(err)
				}
				g := reflect.ValueOf(o.Field(&got)).Elem().Interface()
				if wv := reflect.ValueOf(o.Field(&w)).Elem().Interface(); !reflect.DeepEqual(g, wv) {
					t.Errorf("%s: %s = %v; want %v", what, o.Name, g, wv)
				}
			}
			got, err := parseTargetAgent(t, "--config", file)
			if err != nil {
				t.Fatal(err)
			}
			check("file over default", got, values["file"])
			t.Setenv(o.Env(), values["env"])
			if got, err = parseTargetAgent(t, "--config", file); err != nil {
				t.Fatal(err)
			}
			check("env over file", got, values["env"])
			if got, err = parseTargetAgent(t, "--config", file, "--"+o.Name+"="+values["flag"]); err != nil {
				t.Fatal(err)
			}
			check("flag over env", got, values["flag"])
		})
	}
}

// TestTargetAgentRefusesBadConfig: a configuration the agent cannot run
// with exits 2, naming the option.
func TestTargetAgentRefusesBadConfig(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--insecure-no-auth"}, "dir: is required"},
		{[]string{"--dir", filepath.Join(t.TempDir(), "m")}, "tokens-file: is required"},
		{[]string{"--dir", filepath.Join(t.TempDir(), "m"), "--insecure-no-auth", "--keep", "0"}, "keep"},
		{[]string{"--max-bundle-size", "lots"}, "max-bundle-size"},
		{[]string{"extra"}, "takes no arguments"},
	} {
		err := newApp().Run(append([]string{"honuad", "target-agent"}, c.args...))
		if err == nil || !strings.Contains(err.Error(), c.want) || exitCode(err) != 2 {
			t.Errorf("honuad target-agent %q: %v (exit %d); want exit 2 saying %q", c.args, err, exitCode(err), c.want)
		}
	}
}
