package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/api"
	"github.com/honua-io/honua-gitops/internal/certs"
	"github.com/honua-io/honua-gitops/test/harness"
)

// TestTLSRotationUnderLoad: while alice approves every new deployment of
// production through a random node and reads from every node (consistent
// reads are forwarded to the leader over TLS), every node's certificate is
// replaced by a new one of the same CA, then the CA is rotated through a
// bundle, then a token is added and another removed, then every node gets
// SIGHUP. No request fails, nothing acknowledged is lost, the leader and
// its term stay, the new token works and the removed one is refused within
// seconds, and a follower restarted at the end rejoins with the new CA's
// certificate.
func TestTLSRotationUnderLoad(t *testing.T) {
	skipIfShort(t)
	f := newTLSFixture(t)
	f.start()
	nodes := f.c.Nodes()
	before := clusterSnapshot(t, f)
	load := startLoad(t, f)
	load.waitProgress(t, "before any rotation")

	// New certificates of the same CA.
	f.reissue(t, f.c.PKI())
	load.waitProgress(t, "after every node got a new certificate")

	// A new CA: first trusted beside the old one, then the nodes'
	// certificates, then the old CA goes.
	ca2 := harness.NewPKI(t, f.c.Dir(), "ca2")
	bundle := append(append([]byte{}, f.c.PKI().CACert()...), ca2.CACert()...)
	f.setClientCA(bundle)
	f.c.TrustCA(f.clientCA)
	for _, n := range nodes {
		seen := reloads(n)
		replaceFile(t, n.TLSFiles().CA, bundle)
		waitReload(t, n, seen, "cas=2")
	}
	load.waitProgress(t, "after the CA bundle")
	f.reissue(t, ca2)
	load.waitProgress(t, "after every node got a certificate of the new CA")
	for _, n := range nodes {
		seen := reloads(n)
		replaceFile(t, n.TLSFiles().CA, ca2.CACert())
		waitReload(t, n, seen, "cas=1")
	}
	f.setClientCA(ca2.CACert())
	f.c.TrustCA(f.clientCA)
	load.waitProgress(t, "after the old CA was removed")

	// Tokens: carol's is added, bob's removed.
	start := time.Now()
	f.writeTokens("admin", "alice", "carol")
	for _, n := range nodes {
		if err := harness.Poll(waitTimeout, "carol's new token to work on "+n.ID(), func() error {
			_, err := f.mustClient("carol", n.URL()).Status(context.Background())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := harness.Poll(waitTimeout, "bob's removed token to be refused by "+n.ID(), func() error {
			_, err := f.mustClient("bob", n.URL()).Status(context.Background())
			var ae *api.Error
			if !errors.As(err, &ae) || ae.StatusCode != http.StatusUnauthorized {
				return fmt.Errorf("bob's status: %v", err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("the tokens file change applied on every node within %v", time.Since(start).Round(time.Millisecond))
	load.waitProgress(t, "after the tokens changed")

	for _, n := range nodes {
		seen := strings.Count(n.Log(), "reloading tls files and tokens")
		n.Reload()
		if err := harness.Poll(waitTimeout, n.ID()+" to reload on SIGHUP", func() error {
			if strings.Count(n.Log(), "reloading tls files and tokens") == seen {
				return fmt.Errorf("no reload logged")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	load.waitProgress(t, "after SIGHUP")
	acked := load.stop(t)

	for _, n := range nodes {
		if !n.Running() {
			t.Errorf("%s is not running", n)
		}
	}
	after := clusterSnapshot(t, f)
	if after.leader != before.leader || after.terms[after.leader] != before.terms[before.leader] {
		t.Errorf("the leader went from %s (term %d) to %s (term %d)", before.leader, before.terms[before.leader],
			after.leader, after.terms[after.leader])
	}
	for _, id := range acked {
		d, err := f.mustClient("admin").Deployment(context.Background(), id, &api.QueryOptions{Consistent: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Approvals) != 1 || d.Approvals[0].Identity != "alice" {
			t.Errorf("acknowledged approval of %s is lost: approvals %+v", id, d.Approvals)
		}
	}
	t.Logf("%d approvals acknowledged and kept, %d reads", len(acked), load.readCount())

	// A restarted follower dials and is dialled with the new CA's
	// certificates only.
	var follower *harness.Node
	for _, n := range nodes {
		if n.ID() != after.leader {
			follower = n
		}
	}
	if code, err := follower.Stop(); err != nil || code != 0 {
		t.Fatalf("stop %s: exit %d, %v", follower, code, err)
	}
	follower.Restart()
	leader := waitForHealthy(t, f.c, "n1", "n2", "n3")
	if err := follower.WaitForApplied(mustStatus(t, leader).AppliedIndex, waitTimeout); err != nil {
		t.Fatal(err)
	}
}

// reissue gives every node a new server certificate of pki, key first,
// and waits until each serves it.
func (f *tlsFixture) reissue(t *testing.T, pki *harness.PKI) {
	t.Helper()
	for _, n := range f.c.Nodes() {
		certPEM, keyPEM := pki.Issue(certs.CertOptions{Name: n.ID(), Server: true})
		block, _ := pem.Decode(certPEM)
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		files := n.TLSFiles()
		replaceFile(t, files.Key, keyPEM)
		replaceFile(t, files.Cert, certPEM)
		if err := harness.Poll(waitTimeout, n.ID()+" to serve its new certificate", func() error {
			got, err := servedSerial(n.APIAddr())
			if err == nil && got != cert.SerialNumber.Text(16) {
				err = fmt.Errorf("serves serial %s; want %s", got, cert.SerialNumber.Text(16))
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// servedSerial returns the serial number of the certificate the API at
// addr presents to a new connection.
func servedSerial(addr string) (string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Text(16), nil
}

// reloads counts the reloads of TLS material n logged.
func reloads(n *harness.Node) int {
	return strings.Count(n.Log(), "tls certificates reloaded")
}

// waitReload waits for n to log a reload after the seen ones, that says
// want.
func waitReload(t *testing.T, n *harness.Node, seen int, want string) {
	t.Helper()
	err := harness.Poll(waitTimeout, fmt.Sprintf("%s to reload its TLS files (%s)", n, want), func() error {
		var lines []string
		for _, l := range strings.Split(n.Log(), "\n") {
			if strings.Contains(l, "tls certificates reloaded") {
				lines = append(lines, l)
			}
		}
		if len(lines) <= seen || !strings.Contains(lines[len(lines)-1], want) {
			return fmt.Errorf("%d reloads logged", len(lines))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// tlsLoad is alice at work: a writer that commits a revision of production,
// approves its deployment through a random node and waits for it to
// complete, and a reader that reads from every node in turn, consistently
// too. Every failed request is counted.
type tlsLoad struct {
	f    *tlsFixture
	done chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	failures []string
	acked    []string // deployments whose approval was acknowledged
	reads    int
	progress chan struct{} // poked after each approval
}

func startLoad(t *testing.T, f *tlsFixture) *tlsLoad {
	l := &tlsLoad{f: f, done: make(chan struct{}), progress: make(chan struct{}, 1)}
	l.wg.Add(2)
	go l.write()
	go l.read()
	t.Cleanup(func() {
		select {
		case <-l.done:
		default:
			close(l.done)
			l.wg.Wait()
		}
	})
	return l
}

func (l *tlsLoad) stopped() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

func (l *tlsLoad) fail(what string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, fmt.Sprintf("%s: %v", what, err))
}

func (l *tlsLoad) write() {
	defer l.wg.Done()
	rng := rand.New(rand.NewPCG(1, 2))
	for !l.stopped() {
		commit := l.f.commit()
		id, err := l.f.waitFor(commit, "AwaitingApproval", func(err error) { l.fail("read deployments", err) })
		if err != nil {
			l.fail("wait for approval", err)
			continue
		}
		urls := l.f.c.URLs()[:3]
		rng.Shuffle(len(urls), func(i, j int) { urls[i], urls[j] = urls[j], urls[i] })
		c, err := l.f.client("alice", urls...)
		if err != nil {
			l.fail("client", err)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout/2)
		_, err = c.Approve(ctx, id, "")
		cancel()
		if err != nil {
			l.fail("approve "+id, err)
			continue
		}
		l.mu.Lock()
		l.acked = append(l.acked, id)
		l.mu.Unlock()
		if _, err := l.f.waitFor(commit, "Completed", func(err error) { l.fail("read deployments", err) }); err != nil {
			l.fail("wait for completion", err)
		}
		select {
		case l.progress <- struct{}{}:
		default:
		}
	}
}

func (l *tlsLoad) read() {
	defer l.wg.Done()
	for i := 0; !l.stopped(); i++ {
		n := l.f.c.Nodes()[i%3]
		c, err := l.f.client("alice", n.URL())
		if err != nil {
			l.fail("client", err)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout/2)
		_, err = c.Environment(ctx, "production", &api.QueryOptions{Consistent: i%2 == 0})
		cancel()
		if err != nil {
			l.fail("read production on "+n.ID(), err)
			continue
		}
		l.mu.Lock()
		l.reads++
		l.mu.Unlock()
	}
}

// waitProgress waits for the next acknowledged approval, so that the load
// ran across what the test just did.
func (l *tlsLoad) waitProgress(t *testing.T, when string) {
	t.Helper()
	select {
	case <-l.progress:
	default:
	}
	select {
	case <-l.progress:
	case <-time.After(2 * waitTimeout):
		t.Fatalf("no approval completed %s within %v; failures: %v", when, 2*waitTimeout, l.failed())
	}
}

func (l *tlsLoad) failed() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.failures...)
}

func (l *tlsLoad) readCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reads
}

// stop ends the load, fails the test if any request failed, and returns
// the acknowledged approvals.
func (l *tlsLoad) stop(t *testing.T) []string {
	t.Helper()
	close(l.done)
	l.wg.Wait()
	if fs := l.failed(); len(fs) > 0 {
		t.Errorf("%d requests failed under rotation; want none:\n%s", len(fs), strings.Join(fs[:min(len(fs), 20)], "\n"))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.acked...)
}
