package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHTTPTargetFiles: an http target's tokenFile, caFile, certFile and
// keyFile are read from the file, checked (readable, only for http, TLS
// files only for https, certificate and key together), and refused with
// their field otherwise.
func TestHTTPTargetFiles(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "agent.token")
	empty := filepath.Join(dir, "empty.token")
	for name, content := range map[string]string{token: "honua_abc\n", empty: " \n"} {
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	target := func(lines string) string {
		return "environments:\n  production:\n    targets:\n      - " + strings.ReplaceAll(lines, "\n", "\n        ") + "\n"
	}
	for _, tt := range []struct{ name, yaml, wantErr string }{
		{"token", target("type: http\nurl: http://honua-a:7501/v1/bundle\ntokenFile: " + token), ""},
		{"missing token file", target("type: http\nurl: http://honua-a:7501/v1/bundle\ntokenFile: " + filepath.Join(dir, "none")),
			"environments.production.targets[0].tokenFile"},
		{"empty token file", target("type: http\nurl: http://honua-a:7501/v1/bundle\ntokenFile: " + empty), "holds no token"},
		{"token on a directory target", target("type: directory\npath: /srv/x\ntokenFile: " + token), "is only for an http target"},
		{"ca without https", target("type: http\nurl: http://honua-a:7501/v1/bundle\ncaFile: " + token), "needs an https url"},
		{"cert without key", target("type: http\nurl: https://honua-a:7501/v1/bundle\ncertFile: " + token), "certFile and keyFile go together"},
		{"unknown key", target("type: http\nurl: http://honua-a:7501/v1/bundle\ntoken: x"), "field token not found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "honuad.yaml")
			if err := os.WriteFile(p, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := testConfig(t)
			err := cfg.LoadFile(p)
			if err == nil {
				err = cfg.Validate()
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("load %q: %v", tt.yaml, err)
				}
				if got := cfg.Environments["production"].Targets[0].TokenFile; got != token {
					t.Errorf("tokenFile = %q; want %q", got, token)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("load %q: error %v; want one containing %q", tt.yaml, err, tt.wantErr)
			}
		})
	}
}
