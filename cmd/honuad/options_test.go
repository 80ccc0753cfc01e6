package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/honua-io/honua-gitops/internal/agent"
)

// TestAgentFlagsAreTheOptions: honuad agent has exactly one flag for each
// option, with its environment variable, its usage and the default
// agent.DefaultConfig holds, in the table's order.
func TestAgentFlagsAreTheOptions(t *testing.T) {
	var cmd *cli.Command
	for _, c := range newApp().Commands {
		if c.Name == "agent" {
			cmd = c
		}
	}
	opts := agent.Options()
	if len(cmd.Flags) != len(opts) {
		t.Fatalf("honuad agent has %d flags; agent.Options has %d", len(cmd.Flags), len(opts))
	}
	for i, o := range opts {
		f, ok := cmd.Flags[i].(cli.DocGenerationFlag)
		if !ok {
			t.Fatalf("flag %d (%T) does not describe itself", i, cmd.Flags[i])
		}
		if got := cmd.Flags[i].Names()[0]; got != o.Name {
			t.Errorf("flag %d is --%s; option %d is %s", i, got, i, o.Name)
		}
		if got := f.GetEnvVars(); !reflect.DeepEqual(got, []string{o.Env()}) {
			t.Errorf("--%s is read from %v; want [%s]", o.Name, got, o.Env())
		}
		if f.GetUsage() != o.Usage {
			t.Errorf("--%s usage = %q; want %q", o.Name, f.GetUsage(), o.Usage)
		}
		if got := f.GetDefaultText(); got != o.Default() {
			t.Errorf("--%s shows default %q; want %q", o.Name, got, o.Default())
		}
	}
}

// TestShownDefaultsAreTheDefaults: every default --help shows, given back
// as the option's value on the command line, in the environment and in
// the file, yields DefaultConfig's value, so that the text shown is the
// default and not a rounding of it.
func TestShownDefaultsAreTheDefaults(t *testing.T) {
	def := agent.DefaultConfig()
	for _, o := range agent.Options() {
		if o.Field(&def) == nil || o.Default() == "" {
			continue
		}
		want := reflect.ValueOf(o.Field(&def)).Elem().Interface()
		for _, source := range []string{"flag", "env", "file"} {
			t.Run(o.Name+"/"+source, func(t *testing.T) {
				var args []string
				switch source {
				case "flag":
					args = []string{"--" + o.Name + "=" + o.Default()}
				case "env":
					t.Setenv(o.Env(), o.Default())
				case "file":
					file := filepath.Join(t.TempDir(), "honuad.yaml")
					if err := os.WriteFile(file, []byte(fileEntry(o, o.Default())), 0o600); err != nil {
						t.Fatal(err)
					}
					args = []string{"--config", file}
				}
				// The value set is parsed from the text shown: a
				// rounded or misspelt default would differ.
				got, err := parse(t, args...)
				if err != nil {
					t.Fatal(err)
				}
				if v := reflect.ValueOf(o.Field(&got)).Elem().Interface(); !reflect.DeepEqual(v, want) {
					t.Errorf("%s %q = %#v; DefaultConfig has %#v", source, o.Default(), v, want)
				}
			})
		}
	}
}

// fileEntry writes o's file key with value as YAML: "a:\n  b: v", and
// "[v]" for a list.
func fileEntry(o agent.Option, value string) string {
	var c agent.Config
	if _, list := o.Field(&c).(*[]string); list {
		value = "[" + value + "]"
	}
	parts := strings.Split(o.Key, ".")
	var b strings.Builder
	for i, p := range parts {
		b.WriteString(strings.Repeat("  ", i) + p + ":")
		if i < len(parts)-1 {
			b.WriteString("\n")
		}
	}
	fmt.Fprintf(&b, " %s\n", value)
	return b.String()
}

// TestEveryOptionFromEverySource sets each option, in turn, from the file,
// the environment and a flag, to a value unlike its default, and checks
// that the later source wins over the earlier one: defaults < file < env
// < flags.
func TestEveryOptionFromEverySource(t *testing.T) {
	def := agent.DefaultConfig()
	for _, o := range agent.Options() {
		if o.Field(&def) == nil {
			continue
		}
		values := sampleValues(t, o)
		t.Run(o.Name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "honuad.yaml")
			if err := os.WriteFile(file, []byte(fileEntry(o, values["file"])), 0o600); err != nil {
				t.Fatal(err)
			}
			check := func(what string, got agent.Config, want string) {
				t.Helper()
				var w agent.Config
				if err := setText(o.Field(&w), want); err != nil {
					t.Fatal(err)
				}
				g := reflect.ValueOf(o.Field(&got)).Elem().Interface()
				if wv := reflect.ValueOf(o.Field(&w)).Elem().Interface(); !reflect.DeepEqual(g, wv) {
					t.Errorf("%s: %s = %v; want %v", what, o.Name, g, wv)
				}
			}
			got, err := parse(t, "--config", file)
			if err != nil {
				t.Fatal(err)
			}
			check("file over default", got, values["file"])
			t.Setenv(o.Env(), values["env"])
			if got, err = parse(t, "--config", file); err != nil {
				t.Fatal(err)
			}
			check("env over file", got, values["env"])
			if got, err = parse(t, "--config", file, "--"+o.Name+"="+values["flag"]); err != nil {
				t.Fatal(err)
			}
			check("flag over env", got, values["flag"])
		})
	}
}

// sampleValues are three values of the option's type, none its default.
func sampleValues(t *testing.T, o agent.Option) map[string]string {
	t.Helper()
	var c agent.Config
	switch o.Field(&c).(type) {
	case *string, *[]string:
		return map[string]string{"file": "from-file", "env": "from-env", "flag": "from-flag"}
	case *int, *uint64:
		return map[string]string{"file": "7", "env": "8", "flag": "9"}
	case *bool:
		if o.Default() == "true" {
			return map[string]string{"file": "false", "env": "true", "flag": "false"}
		}
		return map[string]string{"file": "true", "env": "false", "flag": "true"}
	case *agent.Duration:
		return map[string]string{"file": "7s", "env": "8s", "flag": "9s"}
	case *agent.Size:
		return map[string]string{"file": "7KiB", "env": "8KiB", "flag": "9KiB"}
	case *agent.Rate:
		return map[string]string{"file": "7/s", "env": "8/s", "flag": "9/s"}
	case *agent.ClientAuth:
		return map[string]string{"file": "request", "env": "require", "flag": "request"}
	}
	t.Fatalf("no sample values for --%s (%T)", o.Name, o.Field(&c))
	return nil
}

// setText sets *p from its text, as a test's expectation.
func setText(p any, s string) error {
	switch p := p.(type) {
	case *string:
		*p = s
	case *[]string:
		*p = []string{s}
	case *int:
		_, err := fmt.Sscan(s, p)
		return err
	case *uint64:
		_, err := fmt.Sscan(s, p)
		return err
	case *bool:
		*p = s == "true"
	case *agent.Duration:
		d, err := time.ParseDuration(s)
		*p = agent.Duration(d)
		return err
	case interface{ UnmarshalText([]byte) error }:
		return p.UnmarshalText([]byte(s))
	default:
		return fmt.Errorf("cannot set %T", p)
	}
	return nil
}
