package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/cluster/clustertest"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/gossipkey"
	"github.com/honua-io/honua-gitops/internal/rpc"
)

// keyringCluster is an in-process cluster with encrypted gossip whose nodes
// serve the real API over real HTTP, for honuactl keyring to fan out over.
type keyringCluster struct {
	*clustertest.Cluster
	addrs   []string
	servers []*http.Server
	admin   string
	viewer  string
}

var (
	ctlKey1 = bytes.Repeat([]byte{1}, gossipkey.Size)
	ctlKey2 = bytes.Repeat([]byte{2}, gossipkey.Size)
)

func startKeyringCluster(t *testing.T, key []byte) *keyringCluster {
	t.Helper()
	kc := &keyringCluster{addrs: make([]string, 3), servers: make([]*http.Server, 3)}
	admin, adminEntry, err := rpc.NewToken("root", rpc.RoleAdmin, nil)
	if err != nil {
		t.Fatal(err)
	}
	viewer, viewerEntry, err := rpc.NewToken("vera", rpc.RoleViewer, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc.admin, kc.viewer = admin, viewer
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(path, []byte("tokens:\n"+adminEntry+viewerEntry), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := rpc.LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	listeners := make([]net.Listener, 3)
	kc.Cluster = clustertest.Start(t, 3, clustertest.Options{
		Adjust: func(i int, cfg *cluster.Config) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			listeners[i], kc.addrs[i] = ln, ln.Addr().String()
			cfg.APIAddr = kc.addrs[i]
			cfg.GossipKey = key
		},
		Setup: func(i int, n *cluster.Node, f *fsm.FSM) {
			kc.servers[i] = &http.Server{Handler: rpc.NewServer(rpc.Config{Cluster: n, Store: f, Tokens: tokens, Keyring: n})}
			go kc.servers[i].Serve(listeners[i])
			t.Cleanup(func() { kc.servers[i].Close() })
		},
	})
	return kc
}

// ctl runs honuactl as the admin against the first node only: the command
// must find the others itself.
func (kc *keyringCluster) ctl(t *testing.T, args ...string) result {
	t.Helper()
	r := invocation{env: map[string]string{"HONUA_TOKEN": kc.admin}, clock: time.Now}.run(t,
		append([]string{"--addr", kc.addrs[0]}, args...)...)
	t.Logf("honuactl %s → %s", strings.Join(args, " "), r)
	return r
}

// keys returns each node's key fingerprints, primary first, by node id.
func (kc *keyringCluster) keys() map[string][]string {
	out := map[string][]string{}
	for _, n := range kc.Running() {
		out[n.ID()] = n.GossipKeyring().Keys
	}
	return out
}

func keyFile(t *testing.T, key []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gossip.key")
	if err := os.WriteFile(path, []byte(gossipkey.Encode(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKeyringRotation(t *testing.T) {
	kc := startKeyringCluster(t, ctlKey1)
	fp1, fp2 := gossipkey.Fingerprint(ctlKey1), gossipkey.Fingerprint(ctlKey2)

	r := kc.ctl(t, "keyring", "list")
	wantCode(t, r, exitOK)
	wantLines(t, r.stdout, []string{"NODE", "RESULT", "PRIMARY", "KEYS"},
		[]string{"node1", "ok", fp1}, []string{"node2", "ok", fp1}, []string{"node3", "ok", fp1})

	steps := []struct {
		args   []string
		result string
		keys   []string
	}{
		{[]string{"install", "@" + keyFile(t, ctlKey2)}, "installed", []string{fp1, fp2}},
		{[]string{"install", gossipkey.Encode(ctlKey2)}, "already installed", []string{fp1, fp2}},
		{[]string{"use", "@" + keyFile(t, ctlKey2)}, "now primary", []string{fp2, fp1}},
		{[]string{"remove", gossipkey.Encode(ctlKey1)}, "removed", []string{fp2}},
		{[]string{"remove", gossipkey.Encode(ctlKey1)}, "not installed", []string{fp2}},
	}
	for _, s := range steps {
		r := kc.ctl(t, append([]string{"keyring"}, s.args...)...)
		wantCode(t, r, exitOK)
		for _, id := range []string{"node1", "node2", "node3"} {
			wantLines(t, r.stdout, []string{id, s.result, strings.Join(s.keys, ",")})
		}
		for _, k := range [][]byte{ctlKey1, ctlKey2} {
			if strings.Contains(r.stdout+r.stderr, gossipkey.Encode(k)) {
				t.Errorf("honuactl keyring %s printed a key:\n%s", s.args[0], r)
			}
		}
		for id, keys := range kc.keys() {
			if !slices.Equal(keys, s.keys) {
				t.Errorf("after keyring %s, %s holds %v; want %v", s.args[0], id, keys, s.keys)
			}
		}
	}

	r = kc.ctl(t, "keyring", "list", "-o", "json")
	wantCode(t, r, exitOK)
	var got []keyringResult
	decode(t, r.stdout, &got)
	if len(got) != 3 || got[0].Node != "node1" || got[0].Keyring == nil || got[0].Keyring.Primary != fp2 || got[0].Error != "" {
		t.Errorf("keyring list -o json = %+v; want three nodes with primary %s", got, fp2)
	}
}

// TestKeyringUseNeedsTheKeyEverywhere: using a key that a live member lacks
// would cut that member off, so honuactl refuses before changing anything.
func TestKeyringUseNeedsTheKeyEverywhere(t *testing.T) {
	kc := startKeyringCluster(t, ctlKey1)
	if _, err := kc.Nodes()[0].InstallGossipKey(ctlKey2); err != nil {
		t.Fatal(err)
	}
	before := kc.keys()
	r := kc.ctl(t, "keyring", "use", gossipkey.Encode(ctlKey2))
	wantCode(t, r, exitRefused)
	for _, want := range []string{"node2", "node3", gossipkey.Fingerprint(ctlKey2), "nothing was changed", "install"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
		}
	}
	if after := kc.keys(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("keyrings changed from %v to %v", before, after)
	}
}

// TestKeyringRemoveRefusesAPrimaryKey: removing a key that a live member
// still encrypts with would cut it off; refused before anything changes.
func TestKeyringRemoveRefusesAPrimaryKey(t *testing.T) {
	kc := startKeyringCluster(t, ctlKey1)
	for _, n := range kc.Nodes() {
		if _, err := n.InstallGossipKey(ctlKey2); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kc.Nodes()[1].UseGossipKey(ctlKey2); err != nil {
		t.Fatal(err)
	}
	before := kc.keys()
	r := kc.ctl(t, "keyring", "remove", gossipkey.Encode(ctlKey2))
	wantCode(t, r, exitRefused)
	for _, want := range []string{"node2", gossipkey.Fingerprint(ctlKey2), "primary", "nothing was changed"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
		}
	}
	if after := kc.keys(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("keyrings changed from %v to %v", before, after)
	}
}

// TestKeyringNamesTheNodeItCannotReach: a live member whose API does not
// answer gets no install, and honuactl fails naming it; use is refused.
func TestKeyringNamesTheNodeItCannotReach(t *testing.T) {
	kc := startKeyringCluster(t, ctlKey1)
	kc.servers[2].Close()
	r := kc.ctl(t, "keyring", "install", gossipkey.Encode(ctlKey2))
	wantCode(t, r, exitRefused)
	wantLines(t, r.stdout, []string{"node1", "installed"}, []string{"node2", "installed"}, []string{"node3", "failed"})
	if !strings.Contains(r.stderr, "node3") || strings.Contains(r.stderr, "node1") {
		t.Errorf("stderr should name node3 alone:\n%s", r.stderr)
	}
	r = kc.ctl(t, "keyring", "use", gossipkey.Encode(ctlKey2))
	wantCode(t, r, exitRefused)
	if !strings.Contains(r.stderr, "node3") || !strings.Contains(r.stderr, "nothing was changed") {
		t.Errorf("use with node3 unreachable: stderr should say nothing changed because of node3:\n%s", r.stderr)
	}
	if kr := kc.Nodes()[0].GossipKeyring(); kr.Primary != gossipkey.Fingerprint(ctlKey1) {
		t.Errorf("node1's primary is %s; want it unchanged", kr.Primary)
	}
}

// TestKeyringReportsADeadMember: a member seen dead is not reached, and
// honuactl says so and fails, while the live ones get the change.
func TestKeyringReportsADeadMember(t *testing.T) {
	kc := startKeyringCluster(t, ctlKey1)
	dead := kc.Nodes()[2]
	kc.servers[2].Close()
	kc.Stop(dead)
	clustertest.WaitFor(t, dead.ID()+" to be seen dead", func() error {
		for _, m := range kc.Nodes()[0].Members() {
			if m.ID == dead.ID() && m.Status != cluster.StatusDead {
				return fmt.Errorf("%s is %s", m.ID, m.Status)
			}
		}
		return nil
	})
	r := kc.ctl(t, "keyring", "install", gossipkey.Encode(ctlKey2))
	wantCode(t, r, exitRefused)
	wantLines(t, r.stdout, []string{"node1", "installed"}, []string{"node2", "installed"}, []string{"node3", "dead"})
	if !strings.Contains(r.stderr, "node3") {
		t.Errorf("stderr does not name node3:\n%s", r.stderr)
	}
	// A dead member gossips with no one: it does not hold the live ones
	// back, and is named as missed.
	r = kc.ctl(t, "keyring", "use", gossipkey.Encode(ctlKey2))
	wantCode(t, r, exitRefused)
	wantLines(t, r.stdout, []string{"node1", "now primary"}, []string{"node2", "now primary"}, []string{"node3", "dead"})
	if !strings.Contains(r.stderr, "failed on 1 of 3 members: node3") {
		t.Errorf("stderr does not name node3 alone:\n%s", r.stderr)
	}
}

func TestKeyringCommandLine(t *testing.T) {
	kc := startKeyringCluster(t, ctlKey1)
	secret := gossipkey.Encode(ctlKey2)
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no subcommand", []string{"keyring"}, exitUsage, "list, install, use or remove"},
		{"no key", []string{"keyring", "install"}, exitUsage, "missing argument"},
		{"two keys", []string{"keyring", "install", secret, secret}, exitUsage, "unexpected argument"},
		{"a short key", []string{"keyring", "install", gossipkey.Encode(ctlKey2[:20])}, exitUsage, "decodes to 20 bytes"},
		{"not base64", []string{"keyring", "use", "#" + secret[1:]}, exitUsage, "is not base64"},
		{"a missing key file", []string{"keyring", "install", "@/nonexistent/gossip.key"}, exitUsage, "no such file"},
		{"list takes no key", []string{"keyring", "list", secret}, exitUsage, "unexpected argument"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := kc.ctl(t, c.args...)
			wantCode(t, r, c.code)
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr does not say %q:\n%s", c.want, r.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, secret[1:13]) {
				t.Errorf("honuactl printed the key:\n%s", r)
			}
		})
	}
	r := invocation{env: map[string]string{"HONUA_TOKEN": kc.viewer}, clock: time.Now}.run(t,
		"--addr", kc.addrs[0], "keyring", "install", secret)
	wantCode(t, r, exitRefused)
	if !strings.Contains(r.stderr, "403 forbidden") {
		t.Errorf("a viewer's install: stderr does not say 403 forbidden:\n%s", r.stderr)
	}
	if kr := kc.Nodes()[0].GossipKeyring(); kr.Count != 1 {
		t.Errorf("node1 holds %d keys after refused commands; want 1", kr.Count)
	}
}
