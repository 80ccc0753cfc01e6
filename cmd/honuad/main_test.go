package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/time/rate"

	"github.com/honua-io/honua-gitops/internal/agent"
)

// parse runs honuad's command line with args and returns the configuration
// the agent command would run with.
func parse(t *testing.T, args ...string) (agent.Config, error) {
	t.Helper()
	app := newApp()
	var got agent.Config
	var cfgErr error
	app.Commands[0].Action = func(c *cli.Context) error {
		got, cfgErr = configFrom(c)
		return cfgErr
	}
	err := app.Run(append([]string{"honuad", "agent"}, args...))
	if err != nil && cfgErr == nil {
		return got, err
	}
	return got, cfgErr
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "honuad.yaml")
	if err := os.WriteFile(file, []byte(`
node-id: from-file
data-dir: /file/data
http-addr: 127.0.0.1:9001
raft-addr: 127.0.0.1:9002
bootstrap-expect: 5
join: [10.0.0.1:7401, 10.0.0.2:7401]
log-level: warn
dead-server-grace: 3m
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HONUA_NODE_ID", "from-env")
	t.Setenv("HONUA_HTTP_ADDR", "127.0.0.1:8001")
	t.Setenv("HONUA_LOG_LEVEL", "debug")

	got, err := parse(t, "--config", file, "--node-id", "from-flag", "--bootstrap-expect", "3")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		field string
		got   any
		want  any
	}{
		{"node-id (flag over env over file)", got.NodeID, "from-flag"},
		{"http-addr (env over file)", got.HTTPAddr, "127.0.0.1:8001"},
		{"log-level (env over file)", got.LogLevel, "debug"},
		{"bootstrap-expect (flag over file)", got.BootstrapExpect, 3},
		{"data-dir (file)", got.DataDir, "/file/data"},
		{"raft-addr (file over default)", got.RaftAddr, "127.0.0.1:9002"},
		{"join (file)", got.Join, []string{"10.0.0.1:7401", "10.0.0.2:7401"}},
		{"dead-server-grace (file)", got.DeadServerGrace, agent.Duration(3 * 60e9)},
		{"gossip-addr (default)", got.GossipAddr, agent.DefaultConfig().GossipAddr},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s = %v; want %v", tt.field, tt.got, tt.want)
		}
	}
}

func TestConfigFileErrorsNameTheLine(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, body, want string
	}{
		{"unknown key", "node-id: n1\nnode_id: n2\n", "line 2: field node_id not found"},
		{"bad duration", "dead-server-grace: soon\n", `line 1: "soon" is not a duration`},
		{"wrong type", "bootstrap-expect: three\n", "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(dir, tt.name+".yaml")
			if err := os.WriteFile(file, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := parse(t, "--config", file)
			if err == nil {
				t.Fatal("config accepted; want an error")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), file) {
				t.Errorf("error = %q; want it to name %s and say %q", err, file, tt.want)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"unknown flag", []string{"honuad", "agent", "--bogus"}, 2},
		{"missing node id", []string{"honuad", "agent", "--data-dir", t.TempDir()}, 2},
		{"bad address", []string{"honuad", "agent", "--node-id", "n1", "--data-dir", t.TempDir(), "--http-addr", "nonsense"}, 2},
		{"bad log format", []string{"honuad", "agent", "--node-id", "n1", "--data-dir", t.TempDir(), "--log-format", "xml"}, 2},
		{"stray argument", []string{"honuad", "agent", "extra"}, 2},
		{"unknown command", []string{"honuad", "frobnicate"}, 2},
		{"all interfaces without tokens", []string{"honuad", "agent", "--node-id", "n1", "--data-dir", t.TempDir(),
			"--http-addr", "0.0.0.0:0", "--advertise-addr", "127.0.0.1"}, 2},
		{"token create without a name", []string{"honuad", "token", "create"}, 2},
		{"token create with a bad role", []string{"honuad", "token", "create", "--name", "a", "--role", "root"}, 2},
		{"token create with the group of every group", []string{"honuad", "token", "create", "--name", "a", "--group", "*"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := run(tt.args); got != tt.want {
				t.Errorf("run(%q) = %d; want %d", tt.args, got, tt.want)
			}
		})
	}
}

// TestWebhookSecretFileWithoutASecret: a secret file that is empty or holds
// only whitespace would turn the webhook's signature check off (the secret
// is trimmed); honuad refuses either at start with status 2, naming the
// field and the file.
func TestWebhookSecretFileWithoutASecret(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content, want string
	}{
		{"empty", "", "is empty"},
		{"whitespace only", " \n\t\r\n", "holds only whitespace"},
		{"a secret", "s3cret\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret := filepath.Join(dir, tt.name+".secret")
			if err := os.WriteFile(secret, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			config := filepath.Join(dir, tt.name+".yaml")
			if err := os.WriteFile(config, []byte("webhooks:\n  githubSecretFile: "+secret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"--config", config, "--node-id", "n1", "--data-dir", filepath.Join(dir, tt.name)}
			cfg, err := parse(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("a secret file holding a secret: %v", err)
				}
				return
			}
			want := fmt.Sprintf("webhooks.githubSecretFile %q: %s", secret, tt.want)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Validate() = %v; want an error saying %s", err, want)
			}
			if got := run(append([]string{"honuad", "agent"}, args...)); got != 2 {
				t.Errorf("honuad agent with a secret file %s = exit %d; want 2", tt.name, got)
			}
		})
	}
}

func TestSizeOptions(t *testing.T) {
	def, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if def.MaxFileSize != 4<<20 || def.MaxEnvironmentSize != 16<<20 || def.MaxCommandSize != 1<<20 {
		t.Errorf("default sizes = file %d, environment %d, command %d; want 4 MiB, 16 MiB and 1 MiB",
			def.MaxFileSize, def.MaxEnvironmentSize, def.MaxCommandSize)
	}

	file := filepath.Join(t.TempDir(), "honuad.yaml")
	if err := os.WriteFile(file, []byte("max-file-size: 8MiB\nmax-environment-size: 33554432\nmax-command-size: 1 MiB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HONUA_MAX_COMMAND_SIZE", "2MiB")
	got, err := parse(t, "--config", file, "--max-file-size", "512KiB")
	if err != nil {
		t.Fatal(err)
	}
	if got.MaxFileSize != 512<<10 || got.MaxEnvironmentSize != 32<<20 || got.MaxCommandSize != 2<<20 {
		t.Errorf("sizes = file %d (flag), environment %d (file), command %d (env); want 512 KiB, 32 MiB, 2 MiB",
			got.MaxFileSize, got.MaxEnvironmentSize, got.MaxCommandSize)
	}

	for _, tt := range []struct {
		name string
		args []string
		file string
		want string
	}{
		{"not a size", []string{"--max-file-size", "4XB"}, "", `max-file-size "4XB"`},
		{"not a size in the file", nil, "max-command-size: lots\n", "line 1"},
		{"a command cap too small", []string{"--max-command-size", "1KiB"}, "", "max-command-size"},
		{"a file larger than its environment", []string{"--max-file-size", "32MiB"}, "", "max-file-size"},
		{"zero", []string{"--max-environment-size", "0"}, "", "max-environment-size"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--node-id", "n1", "--data-dir", t.TempDir()}, tt.args...)
			if tt.file != "" {
				f := filepath.Join(t.TempDir(), "honuad.yaml")
				if err := os.WriteFile(f, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", f)
			}
			cfg, err := parse(t, args...)
			if err == nil {
				err = cfg.Validate()
			}
			var ce *agent.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("honuad agent %q = %v; want a configuration error saying %q", args, err, tt.want)
			}
		})
	}
}

// The abuse limits' rates are written as events per unit of time, from the
// file, the environment or a flag; "off" turns one off.
func TestRateOptions(t *testing.T) {
	def, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	lim := agent.APILimits(def)
	if lim.WebhookRate != 10 || lim.WebhookBurst != 20 || lim.AuthFailureRate != rate.Every(12*time.Second) ||
		lim.AuthFailureBurst != 10 || lim.MaxForwarded != 256 {
		t.Errorf("default limits = webhooks %v/s burst %d, auth failures %v/s burst %d, forwarded %d; "+
			"want 10/s burst 20, 5/min burst 10, 256", lim.WebhookRate, lim.WebhookBurst, lim.AuthFailureRate,
			lim.AuthFailureBurst, lim.MaxForwarded)
	}

	file := filepath.Join(t.TempDir(), "honuad.yaml")
	if err := os.WriteFile(file, []byte("http-webhook-rate: 2/s\nhttp-auth-failure-rate: off\nhttp-auth-failure-burst: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HONUA_HTTP_WEBHOOK_BURST", "7")
	got, err := parse(t, "--node-id", "n1", "--data-dir", t.TempDir(), "--config", file, "--http-webhook-rate", "30/m", "--http-max-forwarded", "64")
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	lim = agent.APILimits(got)
	if lim.WebhookRate != 0.5 || lim.WebhookBurst != 7 || lim.AuthFailureRate != rate.Inf || lim.AuthFailureBurst != 3 || lim.MaxForwarded != 64 {
		t.Errorf("limits = webhooks %v/s (flag) burst %d (env), auth failures %v/s (file) burst %d (file), forwarded %d (flag); "+
			"want 0.5/s, 7, +Inf (off), 3, 64", lim.WebhookRate, lim.WebhookBurst, lim.AuthFailureRate, lim.AuthFailureBurst, lim.MaxForwarded)
	}

	for _, tt := range []struct {
		name string
		args []string
		file string
		want string
	}{
		{"not a rate", []string{"--http-webhook-rate", "10"}, "", `http-webhook-rate "10"`},
		{"an unknown unit", []string{"--http-auth-failure-rate", "5/fortnight"}, "", `http-auth-failure-rate "5/fortnight"`},
		{"zero", []string{"--http-webhook-rate", "0/s"}, "", `http-webhook-rate "0/s"`},
		{"not a rate in the file", nil, "http-auth-failure-rate: many\n", "line 1"},
		{"no burst", []string{"--http-webhook-burst", "0"}, "", "http-webhook-burst"},
		{"a negative burst", []string{"--http-auth-failure-burst", "-2"}, "", "http-auth-failure-burst"},
		{"nothing forwarded", []string{"--http-max-forwarded", "0"}, "", "http-max-forwarded"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--node-id", "n1", "--data-dir", t.TempDir()}, tt.args...)
			if tt.file != "" {
				f := filepath.Join(t.TempDir(), "honuad.yaml")
				if err := os.WriteFile(f, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", f)
			}
			cfg, err := parse(t, args...)
			if err == nil {
				err = cfg.Validate()
			}
			var ce *agent.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("honuad agent %q = %v; want a configuration error saying %q", args, err, tt.want)
			}
		})
	}
}

// ParseRate reads events per unit of time, and Rate writes them back the
// same way.
func TestParseRate(t *testing.T) {
	for _, tt := range []struct {
		in      string
		perSec  float64
		written string
	}{
		{"10/s", 10, "10/s"},
		{"5/m", 5.0 / 60, "5/m"},
		{"90/h", 90.0 / 3600, "90/h"},
		{"1/10s", 0.1, "6/m"},
		{"2.5/s", 2.5, "150/m"},
		{"off", math.Inf(1), "off"},
	} {
		r, err := agent.ParseRate(tt.in)
		if err != nil {
			t.Errorf("ParseRate(%q) = %v", tt.in, err)
			continue
		}
		if got := float64(r); math.Abs(got-tt.perSec) > 1e-12 && got != tt.perSec {
			t.Errorf("ParseRate(%q) = %v/s; want %v/s", tt.in, got, tt.perSec)
		}
		if got := r.String(); got != tt.written {
			t.Errorf("ParseRate(%q).String() = %q; want %q", tt.in, got, tt.written)
		}
	}
}
