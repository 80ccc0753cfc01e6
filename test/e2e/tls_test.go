package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/honua-io/honua-gitops/test/harness"
)

// TestTLSCluster: three nodes with TLS on the API, mutual TLS on raft and
// gossip encrypted. A write through a follower is forwarded to the leader
// over TLS; honuactl needs https:// and says so; raft requests from a
// plain TCP client and from a client certificate of the cluster's CA are
// refused; a fourth node with a certificate of another CA, which holds the
// gossip key and so joins gossip, never joins raft; and none of them
// changes the cluster's state or term.
func TestTLSCluster(t *testing.T) {
	skipIfShort(t)
	f := newTLSFixture(t)
	ctl := harness.BuildHonuactl(t)
	leader := f.start()
	var follower *harness.Node
	for _, n := range f.c.Nodes() {
		if n != leader {
			follower = n
			break
		}
	}

	t.Run("a write through a follower", func(t *testing.T) {
		id := f.awaiting(f.repo.Head())
		res, err := f.mustClient("alice", follower.URL()).Approve(context.Background(), id, "through "+follower.ID())
		if err != nil {
			t.Fatalf("approve %s through follower %s: %v", id, follower, err)
		}
		if len(res.Deployment.Approvals) != 1 || res.Deployment.Approvals[0].Identity != "alice" {
			t.Fatalf("approvals %+v; want alice's", res.Deployment.Approvals)
		}
		if _, err := f.waitFor(f.repo.Head(), "Completed", func(err error) { t.Errorf("read: %v", err) }); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("honuactl", func(t *testing.T) {
		addr := follower.APIAddr()
		res := runHonuactl(t, ctl, nil, "--addr", addr, "--token", f.tokens["admin"], "status")
		if want := "the server at " + addr + " speaks TLS: use https://" + addr; res.code == 0 || !strings.Contains(res.stderr, want) {
			t.Errorf("honuactl over plain http to a TLS node: %s; want a failure saying %q", res, want)
		}
		res = runHonuactl(t, ctl, []string{"HONUA_CACERT=" + f.clientCA, "HONUA_TOKEN=" + f.tokens["admin"]},
			"--addr", strings.Join(f.c.URLs(), ","), "members")
		if res.code != 0 || !strings.Contains(res.stdout, "n3") {
			t.Errorf("honuactl over https with HONUA_CACERT: %s", res)
		}
		// keyring reaches every member at its own address, over https too.
		res = runHonuactl(t, ctl, []string{"HONUA_CACERT=" + f.clientCA, "HONUA_TOKEN=" + f.tokens["admin"]},
			"--addr", follower.URL(), "keyring", "list")
		if res.code != 0 || strings.Count(res.stdout, " ok ") != 3 {
			t.Errorf("honuactl keyring list over https: %s; want every node ok", res)
		}
	})

	before := clusterSnapshot(t, f)
	t.Run("strangers on the raft port", func(t *testing.T) {
		target := raft.ServerAddress(follower.RaftAddr())
		// Raw bytes: raft's AppendEntries type byte and a msgpack map.
		conn, err := net.DialTimeout("tcp", string(target), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(waitTimeout))
		if _, err := conn.Write(append([]byte{0, 0x8f}, make([]byte, 62)...)); err != nil {
			t.Fatal(err)
		}
		if n, err := conn.Read(make([]byte, 64)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("a raw TCP client on the raft port got %d bytes, %v; want the connection closed", n, err)
		}
		conn.Close()

		mallory, malloryKey := f.c.PKI().Client("mallory")
		cert, err := tls.LoadX509KeyPair(mallory, malloryKey)
		if err != nil {
			t.Fatal(err)
		}
		st := mustStatus(t, follower)
		for _, s := range []struct {
			name string
			tr   *raft.NetworkTransport
		}{
			{"plain TCP", plainRaftTransport(t)},
			{"a client certificate of the cluster's CA", tlsRaftTransport(t, &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true})},
		} {
			header := raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("mallory"), Addr: []byte(s.tr.LocalAddr())}
			var vote raft.RequestVoteResponse
			if err := s.tr.RequestVote(raft.ServerID(follower.ID()), target, &raft.RequestVoteRequest{RPCHeader: header,
				Term: st.Term + 100, LastLogIndex: st.LastIndex + 100, LastLogTerm: st.Term + 100}, &vote); err == nil {
				t.Errorf("%s: RequestVote was answered (granted %v)", s.name, vote.Granted)
			}
			var app raft.AppendEntriesResponse
			if err := s.tr.AppendEntries(raft.ServerID(follower.ID()), target, &raft.AppendEntriesRequest{RPCHeader: header,
				Term: st.Term + 100, PrevLogEntry: st.LastIndex, PrevLogTerm: st.Term, LeaderCommitIndex: st.LastIndex + 1,
				Entries: []*raft.Log{{Index: st.LastIndex + 1, Term: st.Term + 100, Type: raft.LogCommand, Data: []byte{1, 2, 3}}},
			}, &app); err == nil {
				t.Errorf("%s: AppendEntries was answered (success %v)", s.name, app.Success)
			}
		}
		clusterSnapshot(t, f).mustEqual(t, before, "after strangers spoke raft")
	})

	t.Run("a node of another CA", func(t *testing.T) {
		// In the test's directory, which outlives the subtest (and n4).
		// n4 holds the gossip key (from the cluster's Options.Args): only
		// its certificate keeps it out.
		files := harness.NewPKI(t, f.c.Dir(), "other").Server("n4")
		n4 := f.c.Add(harness.NodeConfig{TLS: &files})
		n4.Start()
		l := f.c.Node(before.leader)
		if err := harness.Poll(waitTimeout, "the leader to refuse n4", func() error {
			for _, line := range strings.Split(l.Log(), "\n") {
				if strings.Contains(line, "not adding member as voter") && strings.Contains(line, "member=n4") {
					t.Logf("%s: %s", l, line)
					return nil
				}
			}
			return errors.New("not refused yet")
		}); err != nil {
			t.Fatal(err)
		}
		after := clusterSnapshot(t, f)
		after.mustEqual(t, before, "after a node of another CA joined gossip")
		for _, n := range f.c.Nodes()[:3] {
			for _, m := range mustStatus(t, n).Members {
				if m.ID == "n4" && m.Voter {
					t.Errorf("%s lists n4 as a voter", n)
				}
			}
		}
		// Without the gossip key, a node of another CA is not even a
		// gossip member.
		other := harness.NewPKI(t, f.c.Dir(), "other5").Server("n5")
		n5 := f.c.Add(harness.NodeConfig{TLS: &other, Args: []string{"--gossip-key-file", writeGossipKey(t, f.c.Dir(), "n5.key")}})
		n5.Start()
		if err := harness.Poll(waitTimeout, "n5, with another gossip key, to be refused by gossip", func() error {
			if !strings.Contains(n5.Log(), "gossip is encrypted with another key") {
				return errors.New("not refused yet")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, n := range f.c.Nodes()[:3] {
			for _, m := range mustStatus(t, n).Members {
				if m.ID == "n5" {
					t.Errorf("%s lists n5, which holds another gossip key: %+v", n, m)
				}
			}
		}
		if st, err := n4.Status(); err == nil && (st.LeaderID() != "" || st.AppliedIndex > 0) {
			t.Errorf("n4 joined raft: %s", st)
		}
	})

	t.Run("half a configuration", func(t *testing.T) {
		files := f.c.PKI().Server("n9")
		code, stderr := runHonuad(t, agentArgs(t, map[string]string{"tls-ca-file": files.CA, "tls-cert-file": files.Cert})...)
		if want := "--tls-ca-file and --tls-cert-file are set but --tls-key-file is not"; code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("honuad with a certificate and no key: exit %d, %q; want exit 2 saying %q", code, lastLine(stderr), want)
		}
	})
}

// clusterState is what the strangers must not change: each node's state
// digest and term, and the leader.
type clusterState struct {
	leader  string
	digests map[string]stateDigest
	terms   map[string]uint64
}

// clusterSnapshot waits for n1 to n3 to agree on their state and returns
// it.
func clusterSnapshot(t *testing.T, f *tlsFixture) clusterState {
	t.Helper()
	s := clusterState{digests: map[string]stateDigest{}, terms: map[string]uint64{}}
	err := harness.Poll(waitTimeout, "n1 to n3 to agree on their state", func() error {
		var first *stateDigest
		for _, n := range f.c.Nodes()[:3] {
			d, err := digestOf(n, f.tokens["admin"])
			if err != nil {
				return err
			}
			st, err := n.Status()
			if err != nil {
				return err
			}
			if first != nil && d != *first {
				return fmt.Errorf("%s has %s; n1 has %s", n, d, *first)
			}
			first = &d
			s.digests[n.ID()], s.terms[n.ID()], s.leader = d, st.Term, st.LeaderID()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s clusterState) mustEqual(t *testing.T, before clusterState, when string) {
	t.Helper()
	if s.leader != before.leader {
		t.Errorf("%s the leader is %s; it was %s", when, s.leader, before.leader)
	}
	for id, d := range before.digests {
		if s.digests[id] != d || s.terms[id] != before.terms[id] {
			t.Errorf("%s %s has %s in term %d; it had %s in term %d", when, id, s.digests[id], s.terms[id], d, before.terms[id])
		}
	}
}

// plainRaftTransport is a raft transport over plain TCP, as a stranger on
// the network would speak it.
func plainRaftTransport(t *testing.T) *raft.NetworkTransport {
	t.Helper()
	tr, err := raft.NewTCPTransport("127.0.0.1:0", nil, 1, 5*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// tlsRaftTransport is a raft transport that dials with cfg.
func tlsRaftTransport(t *testing.T, cfg *tls.Config) *raft.NetworkTransport {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := raft.NewNetworkTransport(tlsDialer{Listener: ln, cfg: cfg}, 1, 5*time.Second, io.Discard)
	t.Cleanup(func() { tr.Close() })
	return tr
}

// tlsDialer is a raft stream layer that dials with TLS (and accepts
// nothing the tests use).
type tlsDialer struct {
	net.Listener
	cfg *tls.Config
}

func (d tlsDialer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(addr), d.cfg)
}
