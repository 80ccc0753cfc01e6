package cluster

// Tests of the keyring file in the data dir: its format, its atomic
// replacement, and which keyring a starting node uses.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/gossipkey"
)

func TestKeyringFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gossip-keyring.json")
	k1, k2 := testKey(1), testKey(2)
	for _, keys := range [][][]byte{{k1}, {k2, k1}, {k2}} {
		if err := saveKeyring(path, keys); err != nil {
			t.Fatalf("saveKeyring(%d keys): %v", len(keys), err)
		}
		got, err := loadKeyring(path)
		if err != nil {
			t.Fatalf("loadKeyring: %v", err)
		}
		if !slices.EqualFunc(got, keys, bytes.Equal) {
			t.Errorf("loadKeyring = %x; want %x", got, keys)
		}
		var onDisk []string
		b, _ := os.ReadFile(path)
		if err := json.Unmarshal(b, &onDisk); err != nil || len(onDisk) != len(keys) || onDisk[0] != gossipkey.Encode(keys[0]) {
			t.Errorf("the file holds %q (%v); want the base64 keys, primary first", b, err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("keyring file mode = %v; want 0600", fi.Mode().Perm())
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the directory holds %v; want only the keyring (no temporary file left)", names)
	}
}

// TestKeyringFileIsReplacedWhole reads the keyring while it is rewritten
// over and over: every read finds a whole keyring, the old or the new one,
// never a truncated or empty file.
func TestKeyringFileIsReplacedWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gossip-keyring.json")
	a := [][]byte{testKey(1)}
	b := [][]byte{testKey(2), testKey(3), testKey(4), testKey(5)}
	if err := saveKeyring(path, a); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var bad atomic.Value
	var reads atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			got, err := loadKeyring(path)
			reads.Add(1)
			if err != nil {
				bad.Store(err.Error())
				return
			}
			if !slices.EqualFunc(got, a, bytes.Equal) && !slices.EqualFunc(got, b, bytes.Equal) {
				bad.Store(fmt.Sprintf("read %d keys that are neither keyring", len(got)))
				return
			}
		}
	}()
	for i := 0; i < 200 || reads.Load() < 50; i++ {
		keys := a
		if i%2 == 0 {
			keys = b
		}
		if err := saveKeyring(path, keys); err != nil {
			t.Fatal(err)
		}
		if bad.Load() != nil {
			break
		}
	}
	stop.Store(true)
	<-done
	if v := bad.Load(); v != nil {
		t.Fatalf("a read during the rewrites failed: %v", v)
	}
}

func TestKeyringFileRefusesBadContent(t *testing.T) {
	k := gossipkey.Encode(testKey(1))
	for _, c := range []struct{ name, content, want string }{
		{"not JSON", "nope", "not a JSON list"},
		{"empty list", "[]", "holds no key"},
		{"not a key", `["` + k + `", "c2hvcnQ="]`, "key 2"},
		{"twice the same", `["` + k + `", "` + k + `"]`, "key 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gossip-keyring.json")
			if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := loadKeyring(path)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("loadKeyring(%s) = %v; want an error naming the file and saying %q", c.content, err, c.want)
			}
			if strings.Contains(err.Error(), k[:12]) {
				t.Errorf("the error %q quotes a key", err)
			}
		})
	}
}

// TestKeyringInDataDirWins starts a node whose data dir has a keyring and
// which is given another key, or none: the keyring is used, and the log
// says so.
func TestKeyringInDataDirWins(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	for _, c := range []struct {
		name string
		key  []byte
		want string
	}{
		{"another key given", k1, "does not hold the key of --gossip-key-file"},
		{"no key given", nil, "gossip is encrypted with the keyring in the data dir"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, "node1", 1)
			if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := saveKeyring(filepath.Join(cfg.DataDir, "gossip-keyring.json"), [][]byte{k2}); err != nil {
				t.Fatal(err)
			}
			cfg.GossipKey = c.key
			logs := captureLogs(&cfg)
			n, err := New(cfg, fsm.New(nil))
			if err != nil {
				t.Fatal(err)
			}
			defer n.Shutdown(false)
			if kr := n.GossipKeyring(); !kr.Encrypted || kr.Primary != gossipkey.Fingerprint(k2) {
				t.Errorf("keyring = %+v; want k2 from the data dir", kr)
			}
			if !strings.Contains(logs.String(), c.want) {
				t.Errorf("the log does not say %q:\n%s", c.want, logs)
			}
			for _, k := range [][]byte{k1, k2} {
				if strings.Contains(logs.String(), gossipkey.Encode(k)[:12]) {
					t.Errorf("the log holds a key:\n%s", logs)
				}
			}
		})
	}
}
