package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/honua-io/honua-gitops/internal/gossipkey"
)

func TestKeygenPrintsANewKey(t *testing.T) {
	var keys []string
	for range 2 {
		var out bytes.Buffer
		app := newApp()
		app.Writer = &out
		if err := app.Run([]string{"honuad", "keygen"}); err != nil {
			t.Fatalf("honuad keygen: %v", err)
		}
		if !strings.HasSuffix(out.String(), "\n") || strings.Count(out.String(), "\n") != 1 {
			t.Errorf("honuad keygen printed %q; want one line", out.String())
		}
		if _, err := gossipkey.Parse(out.Bytes()); err != nil {
			t.Errorf("honuad keygen printed %q, which is no key: %v", out.String(), err)
		}
		keys = append(keys, out.String())
	}
	if keys[0] == keys[1] {
		t.Errorf("honuad keygen printed %q twice", keys[0])
	}
	if got := run([]string{"honuad", "keygen", "extra"}); got != 2 {
		t.Errorf("honuad keygen extra = exit %d; want 2", got)
	}
}

func TestGossipKeyFileOption(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "honuad.yaml")
	if err := os.WriteFile(file, []byte("gossip-key-file: /from/file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"file", "", nil, "/from/file"},
		{"environment over file", "/from/env", nil, "/from/env"},
		{"flag over environment", "/from/env", []string{"--gossip-key-file", "/from/flag"}, "/from/flag"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("HONUA_GOSSIP_KEY_FILE", c.env)
			if c.env == "" {
				os.Unsetenv("HONUA_GOSSIP_KEY_FILE")
			}
			got, err := parse(t, append([]string{"--config", file}, c.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if got.GossipKeyFile != c.want {
				t.Errorf("GossipKeyFile = %q; want %q", got.GossipKeyFile, c.want)
			}
		})
	}
}

// TestBadGossipKeyFileExits2 starts honuad agent with key files it cannot
// use: each is refused before anything starts, with exit 2, naming the
// field and the file and saying why, without quoting the file.
func TestBadGossipKeyFileExits2(t *testing.T) {
	dir := t.TempDir()
	good := bytes.Repeat([]byte{7}, gossipkey.Size)
	enc := base64.StdEncoding.EncodeToString(good)
	for _, c := range []struct {
		name, content, want string
		noFile, isDir       bool
	}{
		{name: "empty", content: "", want: "is empty"},
		{name: "whitespace", content: " \n\t\n", want: "is empty"},
		{name: "not base64", content: "this is not a key, it is a sentence\n", want: "is not base64"},
		{name: "16 bytes", content: base64.StdEncoding.EncodeToString(good[:16]) + "\n", want: "decodes to 16 bytes"},
		{name: "two keys", content: enc + "\n" + enc + "\n", want: "is not base64"},
		{name: "missing", noFile: true, want: "no such file or directory"},
		{name: "a directory", isDir: true, want: "is a directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".key")
			switch {
			case c.isDir:
				if err := os.Mkdir(path, 0o700); err != nil {
					t.Fatal(err)
				}
			case !c.noFile:
				if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{"--node-id", "n1", "--data-dir", filepath.Join(dir, "data-"+c.name), "--gossip-key-file", path}
			cfg, err := parse(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			want := fmt.Sprintf("gossip-key-file %q: ", path)
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate() = %v; want an error saying %s...%s", err, want, c.want)
			}
			if strings.Contains(err.Error(), enc[:12]) || (len(c.content) > 12 && strings.Contains(err.Error(), strings.TrimSpace(c.content)[:12])) {
				t.Errorf("the error %q quotes the file", err)
			}
			if got := run(append([]string{"honuad", "agent"}, args...)); got != 2 {
				t.Errorf("honuad agent with a %s key file = exit %d; want 2", c.name, got)
			}
			if _, err := os.Stat(filepath.Join(dir, "data-"+c.name)); !os.IsNotExist(err) {
				t.Errorf("honuad created its data dir before refusing the key file (%v)", err)
			}
		})
	}
}
