package target

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestBundleValidate(t *testing.T) {
	ok := Manifest{DeploymentID: "production-12", Environment: "production", FencingToken: 3}
	files := func(names ...string) map[string][]byte {
		m := map[string][]byte{}
		for _, n := range names {
			m[n] = []byte("{}")
		}
		return m
	}
	tests := []struct {
		name    string
		b       *Bundle
		wantErr string // "" when valid
	}{
		{"valid", &Bundle{Manifest: ok, Files: files("metadata.json", "datasources.json", "layers/roads.json")}, ""},
		{"nested valid", &Bundle{Manifest: ok, Files: files("a/b/c.json", "a/b/d.json", "a-b")}, ""},
		{"empty file is fine", &Bundle{Manifest: ok, Files: map[string][]byte{"metadata.json": nil}}, ""},
		{"nil", nil, "nil"},
		{"no files", &Bundle{Manifest: ok}, "no files"},
		{"no id", &Bundle{Manifest: Manifest{}, Files: files("a.json")}, "deployment id"},
		{"id with slash", &Bundle{Manifest: Manifest{DeploymentID: "a/b"}, Files: files("a.json")}, "deployment id"},
		{"id dot-dot", &Bundle{Manifest: Manifest{DeploymentID: ".."}, Files: files("a.json")}, "deployment id"},
		{"id hidden", &Bundle{Manifest: Manifest{DeploymentID: ".tmp"}, Files: files("a.json")}, "deployment id"},
		{"time out of range", &Bundle{Manifest: Manifest{DeploymentID: "x", Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, Files: files("a.json")}, "time"},
		{"empty path", &Bundle{Manifest: ok, Files: files("")}, "empty path"},
		{"absolute", &Bundle{Manifest: ok, Files: files("/etc/passwd")}, "relative"},
		{"dot-dot", &Bundle{Manifest: ok, Files: files("../x.json")}, "leave the bundle"},
		{"dot-dot alone", &Bundle{Manifest: ok, Files: files("..")}, "leave the bundle"},
		{"inner dot-dot", &Bundle{Manifest: ok, Files: files("a/../b.json")}, "clean"},
		{"dot", &Bundle{Manifest: ok, Files: files("./a.json")}, "clean"},
		{"trailing slash", &Bundle{Manifest: ok, Files: files("a/")}, "clean"},
		{"double slash", &Bundle{Manifest: ok, Files: files("a//b")}, "clean"},
		{"backslash", &Bundle{Manifest: ok, Files: files(`a\b.json`)}, "slash-separated"},
		{"manifest", &Bundle{Manifest: ok, Files: files(".honua/deployment.json")}, ".honua"},
		{"under .honua", &Bundle{Manifest: ok, Files: files(".honua/x")}, ".honua"},
		{".honua itself", &Bundle{Manifest: ok, Files: files(".honua")}, ".honua"},
		{"file and dir", &Bundle{Manifest: ok, Files: files("layers", "layers/roads.json")}, "also the directory"},
		{"file and deep dir", &Bundle{Manifest: ok, Files: files("a", "a/b/c.json")}, "also the directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.b.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v; want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v; want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestManifestBundleID(t *testing.T) {
	m := Manifest{DeploymentID: "production-7", FencingToken: 57}
	if got := m.BundleID(); got != "production-7-57" {
		t.Errorf("BundleID() = %q; want %q", got, "production-7-57")
	}
}

func TestManifestRoundTrip(t *testing.T) {
	m := testBundle("production-1", 9).Manifest
	got, err := decodeManifest(m.encode())
	if err != nil {
		t.Fatal(err)
	}
	if !got.sameApply(m) || !got.Time.Equal(m.Time) {
		t.Errorf("decode(encode(%+v)) = %+v", m, *got)
	}
	if s := string(m.encode()); !strings.Contains(s, `"deploymentId": "production-1"`) || !strings.Contains(s, `"fencingToken": 9`) {
		t.Errorf("encoded manifest %s lacks the JSON field names", s)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		want    string // String() of the target
		wantErr string
	}{
		{"directory", Config{Type: "directory", Path: "/srv/honua/production"}, "directory /srv/honua/production", ""},
		{"directory cleaned", Config{Type: "directory", Path: "/srv/honua//production/"}, "directory /srv/honua/production", ""},
		{"directory no path", Config{Type: "directory"}, "", "path: is required"},
		{"directory root", Config{Type: "directory", Path: "/"}, "", "path: \"/\": must not be the root"},
		{"directory negative keep", Config{Type: "directory", Path: "/srv/x", Keep: -1}, "", "keep: -1"},
		{"http", Config{Type: "http", URL: "https://honua-prod:8080/admin/bundle"}, "http https://honua-prod:8080/admin/bundle", ""},
		{"http password redacted", Config{Type: "http", URL: "https://u:secret@h/x"}, "http https://u:xxxxx@h/x", ""},
		{"http no url", Config{Type: "http"}, "", "url: \"\""},
		{"http bad scheme", Config{Type: "http", URL: "ftp://h/x"}, "", "url: \"ftp://h/x\": must be an http or https URL"},
		{"http no host", Config{Type: "http", URL: "http:///x"}, "", "url:"},
		{"http negative timeout", Config{Type: "http", URL: "http://h/x", Timeout: -time.Second}, "", "timeout: -1s"},
		{"exec", Config{Type: "exec", Command: []string{"/usr/local/bin/notify-honua", "--env", "production"}}, "exec /usr/local/bin/notify-honua", ""},
		{"exec no command", Config{Type: "exec"}, "", "command: is required"},
		{"exec empty program", Config{Type: "exec", Command: []string{""}}, "", "command: is required"},
		{"no type", Config{}, "", "type: is required"},
		{"bad type", Config{Type: "s3"}, "", "type: \"s3\" is not directory, http or exec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New(%+v) error = %v; want one containing %q", tt.cfg, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%+v): %v", tt.cfg, err)
			}
			if got := tg.String(); got != tt.want {
				t.Errorf("String() = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	d := newDir(t, "/srv/honua/production", 0)
	if d.keep != DefaultKeep {
		t.Errorf("keep = %d; want %d", d.keep, DefaultKeep)
	}
	if d.area != "/srv/honua/.production.honua" || d.bundles != "/srv/honua/.production.honua/bundles" {
		t.Errorf("area, bundles = %s, %s", d.area, d.bundles)
	}
	h := newTarget(t, Config{Type: "http", URL: "http://h/x"}).(*httpTarget)
	if h.timeout != DefaultTimeout {
		t.Errorf("timeout = %v; want %v", h.timeout, DefaultTimeout)
	}
	cmd := []string{"/bin/true", "a"}
	e := newTarget(t, Config{Type: "exec", Command: cmd}).(*execTarget)
	cmd[0] = "changed"
	if e.argv[0] != "/bin/true" {
		t.Errorf("exec target shares the caller's Command slice")
	}
}

func TestFencedError(t *testing.T) {
	tests := []struct {
		err  *FencedError
		want string
	}{
		{&FencedError{Token: 41, Highest: 57}, "fencing token 41 is lower than 57, already accepted"},
		{&FencedError{Token: 41, Detail: "409 Conflict: stale"}, "the server refused fencing token 41 (409 Conflict: stale)"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q; want %q", got, tt.want)
		}
		wrapped := &Error{Target: "directory /x", Op: "fencing", Err: tt.err}
		if !errors.Is(wrapped, ErrFenced) {
			t.Errorf("%v does not match ErrFenced", wrapped)
		}
	}
}
