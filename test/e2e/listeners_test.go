package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/test/gitserver"
	"github.com/honua-io/honua-gitops/test/harness"
)

// hostileConn is a connection the test holds open to a node's API and
// watches for the node to close.
type hostileConn struct {
	conn   net.Conn
	closed chan struct{}
	at     time.Time // when the node closed it; set before closed is
}

// dialHostile connects to addr and writes opening. With trickle it then
// writes a byte every interval, as a client sending a body slowly does. It
// reads (and drops) whatever the node answers until the node closes.
func dialHostile(addr, opening string, trickle time.Duration) (*hostileConn, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	h := &hostileConn{conn: conn, closed: make(chan struct{})}
	if _, err := io.WriteString(conn, opening); err != nil {
		conn.Close()
		return nil, err
	}
	go func() {
		_, _ = io.Copy(io.Discard, conn)
		h.at = time.Now()
		close(h.closed)
	}()
	if trickle > 0 {
		go func() {
			tick := time.NewTicker(trickle)
			defer tick.Stop()
			for {
				select {
				case <-h.closed:
					return
				case <-tick.C:
				}
				if _, err := conn.Write([]byte("x")); err != nil {
					return
				}
			}
		}()
	}
	return h, nil
}

func (h *hostileConn) isClosed() bool {
	select {
	case <-h.closed:
		return true
	default:
		return false
	}
}

// fdSampler records the most file descriptors a node held while it ran.
type fdSampler struct {
	stop chan struct{}
	done chan struct{}
	max  int
	err  error
}

func sampleFDs(n *harness.Node) *fdSampler {
	s := &fdSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			c, err := n.OpenFiles()
			if err != nil {
				s.err = err
				return
			}
			s.max = max(s.max, c)
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *fdSampler) finish() (int, error) {
	close(s.stop)
	<-s.done
	return s.max, s.err
}

// openFiles returns the node's open file count, skipping the test where
// it cannot be read.
func openFiles(t *testing.T, n *harness.Node) int {
	t.Helper()
	c, err := n.OpenFiles()
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSlowAndIdleClients floods a node with connections that trickle a
// body and connections that sit idle on keep-alive, several times its
// connection cap, and checks that the timeouts close them all, that the
// node's open files stay bounded, that a well-behaved client is still
// answered, and that one address holding too many webhook deliveries gets
// 429.
func TestSlowAndIdleClients(t *testing.T) {
	skipIfShort(t)
	gitserver.RequireGit(t)
	const (
		maxConns    = 64
		perClient   = 4
		readTimeout = 3 * time.Second
		idleTimeout = 2 * time.Second
		trickling   = 250
		idle        = 250
		trickleGap  = 500 * time.Millisecond
	)
	repo := gitserver.NewRepo(t)
	repo.Commit(map[string]string{"README.md": "config\n"}, "first")
	config := filepath.Join(t.TempDir(), "honuad.yaml")
	if err := os.WriteFile(config, []byte("repository:\n  url: "+repo.Path()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := harness.Start(t, 1, harness.Options{Args: []string{"--config", config,
		"--http-read-timeout", readTimeout.String(), "--http-idle-timeout", idleTimeout.String(),
		"--http-max-conns", strconv.Itoa(maxConns), "--http-max-client-requests", strconv.Itoa(perClient),
		// The 429 below is the cap on deliveries in flight, not their rate.
		"--http-webhook-rate", "off"}})
	n := waitForHealthy(t, c, "n1")
	addr := n.APIAddr()
	base := openFiles(t, n)

	// One address holding perClient deliveries on the webhook endpoint
	// (their bodies trickle in) gets 429 for the next.
	webhook := "POST /v1/webhooks/generic HTTP/1.1\r\nHost: honua\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
	client := &http.Client{Timeout: 10 * time.Second}
	var throttled *http.Response
	var throttledBody []byte
	err := harness.Poll(waitTimeout, fmt.Sprintf("429 while %d deliveries are in flight", perClient), func() error {
		var held []*hostileConn
		defer func() {
			for _, h := range held {
				h.conn.Close()
			}
		}()
		for range perClient {
			h, err := dialHostile(addr, webhook, 100*time.Millisecond)
			if err != nil {
				return err
			}
			held = append(held, h)
		}
		// Sent back to back, well within the read timeout that ends the
		// held deliveries.
		for range 20 {
			resp, err := client.Post("http://"+addr+"/v1/webhooks/generic", "application/json", strings.NewReader(`{"ref":"refs/heads/main"}`))
			if err != nil {
				return err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusTooManyRequests {
				throttled, throttledBody = resp, body
				return nil
			}
		}
		return fmt.Errorf("no 429 in 20 deliveries while %d were held", perClient)
	})
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error, Code string }
	if json.Unmarshal(throttledBody, &e) != nil || e.Code != "too_many_requests" || throttled.Header.Get("Retry-After") == "" {
		t.Errorf("throttled delivery: %s, Retry-After %q; want a JSON too_many_requests and a Retry-After",
			throttledBody, throttled.Header.Get("Retry-After"))
	}
	t.Logf("429 to the delivery past %d in flight: %s", perClient, e.Error)

	// The flood: bodies that trickle in, and keep-alive connections that
	// sit idle after one request.
	fds := sampleFDs(n)
	start := time.Now()
	var hostile []*hostileConn
	defer func() {
		for _, h := range hostile {
			h.conn.Close()
		}
	}()
	for i := range trickling + idle {
		opening, gap := "GET /v1/status HTTP/1.1\r\nHost: honua\r\n\r\n", time.Duration(0)
		if i%2 == 0 {
			opening = "POST /v1/deployments/none/approve HTTP/1.1\r\nHost: honua\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
			gap = trickleGap
		}
		h, err := dialHostile(addr, opening, gap)
		if err != nil {
			t.Fatalf("dial hostile connection %d: %v", i, err)
		}
		hostile = append(hostile, h)
	}
	t.Logf("%d hostile connections open after %v (cap %d)", len(hostile), time.Since(start).Round(time.Millisecond), maxConns)

	// A well-behaved client, on fresh connections, is answered.
	good := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 3 * time.Minute}
	for i := range 3 {
		t0 := time.Now()
		resp, err := good.Get("http://" + addr + "/v1/status")
		if err != nil {
			t.Fatalf("well-behaved request %d during the flood: %v", i+1, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("well-behaved request %d during the flood: %d; want 200", i+1, resp.StatusCode)
		}
		t.Logf("well-behaved request %d answered %d after %v", i+1, resp.StatusCode, time.Since(t0).Round(time.Millisecond))
	}

	// The node closes every hostile connection.
	err = harness.Poll(3*time.Minute, "the node to close every hostile connection", func() error {
		open := 0
		for _, h := range hostile {
			if !h.isClosed() {
				open++
			}
		}
		if open > 0 {
			return fmt.Errorf("%d of %d still open", open, len(hostile))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var last time.Time
	for _, h := range hostile {
		if h.at.After(last) {
			last = h.at
		}
	}
	peak, err := fds.finish()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("all %d hostile connections closed by the node %v after the flood began; open files: %d before, %d at most during it",
		len(hostile), last.Sub(start).Round(time.Millisecond), base, peak)
	// The cap, and some slack for git polls and the harness's own
	// connections.
	if bound := base + maxConns + 32; peak > bound {
		t.Errorf("the node held %d open files during the flood; want at most %d (%d before it, a cap of %d connections)", peak, bound, base, maxConns)
	}
	if err := harness.Poll(waitTimeout, "the node's open files to fall back", func() error {
		if now := openFiles(t, n); now > base+8 {
			return fmt.Errorf("%d open files; %d before the flood", now, base)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// TestExhaustedLeaderHandsOver runs a three-node cluster, lowers the
// leader's open-file limit, and fills it with API connections. The leader
// must report not ready and hand its leadership to another node; once the
// connections go, it comes back as a ready follower.
func TestExhaustedLeaderHandsOver(t *testing.T) {
	skipIfShort(t)
	// A cap above the limit, so that the connections exhaust the
	// descriptors as in the incident.
	c := harness.Start(t, 3, harness.Options{Args: []string{"--http-max-conns", "100000"}})
	old := waitForHealthy(t, c, "n1", "n2", "n3")
	addr := old.APIAddr()

	// A keep-alive connection opened now lets the test ask the exhausted
	// leader for /readyz when it can accept no other.
	watch := &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Hour}}
	readyz := func() (int, string, error) {
		resp, err := watch.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var e struct{ Error string }
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &e)
		return resp.StatusCode, e.Error, nil
	}
	// A leader elected a moment ago is ready once its barrier commits.
	if err := harness.Poll(30*time.Second, "leader "+old.String()+" to be ready before the test", func() error {
		if code, why, err := readyz(); err != nil || code != http.StatusOK {
			return fmt.Errorf("/readyz = %d %q %v; want 200", code, why, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	before := openFiles(t, old)
	limit := uint64(before + 64)
	if err := old.SetFileLimit(limit); err != nil {
		t.Fatal(err)
	}
	t.Logf("leader %s holds %d open files; its limit is now %d", old, before, limit)
	start := time.Now()
	var attack []*hostileConn
	defer func() {
		for _, h := range attack {
			h.conn.Close()
		}
	}()
	for i := range 200 {
		h, err := dialHostile(addr, "GET /healthz HTTP/1.1\r\nHost: honua\r\n\r\n", 0)
		if err != nil {
			t.Fatalf("dial connection %d: %v", i, err)
		}
		attack = append(attack, h)
	}

	var notReady string
	var notReadyAt time.Time
	others := []*harness.Node{}
	for _, n := range c.Nodes() {
		if n != old {
			others = append(others, n)
		}
	}
	var leader string
	err := harness.Poll(waitTimeout, "another node to lead while "+old.String()+" is out of file descriptors", func() error {
		if notReady == "" {
			if code, why, err := readyz(); err == nil && code == http.StatusServiceUnavailable && strings.Contains(why, "too many open files") {
				notReady, notReadyAt = why, time.Now()
			}
		}
		for _, n := range others {
			st, err := n.Status()
			if err != nil {
				return err
			}
			if st.LeaderID() == "" || st.LeaderID() == old.ID() {
				return fmt.Errorf("%s", st)
			}
			leader = st.LeaderID()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	handedOver := time.Since(start)
	if n, err := old.OpenFiles(); err == nil {
		t.Logf("%s holds %d open files of its limit %d", old, n, limit)
	}
	if err := harness.Poll(waitTimeout, old.String()+" to report itself out of file descriptors", func() error {
		if notReady != "" {
			return nil
		}
		code, why, err := readyz()
		if err != nil {
			return err
		}
		if code == http.StatusServiceUnavailable && strings.Contains(why, "too many open files") {
			notReady, notReadyAt = why, time.Now()
			return nil
		}
		return fmt.Errorf("/readyz %d %q", code, why)
	}); err != nil {
		t.Error(err)
	}
	t.Logf("%s: /readyz 503 %q %v after the connections began; %s leads %v after", old, notReady,
		notReadyAt.Sub(start).Round(time.Millisecond), leader, handedOver.Round(time.Millisecond))

	for _, h := range attack {
		h.conn.Close()
	}
	recovered := time.Now()
	waitForHealthy(t, c, "n1", "n2", "n3")
	if err := harness.Poll(waitTimeout, old.String()+" to be ready again", func() error {
		ready, why, err := old.Ready()
		if err == nil && !ready {
			err = errors.New(why)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s ready again %v after the connections closed", old, time.Since(recovered).Round(time.Millisecond))
}

// TestListenerLimitsRefused: limits that cannot work are refused at start.
func TestListenerLimitsRefused(t *testing.T) {
	skipIfShort(t)
	for _, c := range []struct {
		flags map[string]string
		want  string
	}{
		{map[string]string{"http-write-timeout": "20s"}, "http-write-timeout"},
		{map[string]string{"http-read-timeout": "0s"}, "http-read-timeout"},
		{map[string]string{"http-max-conns": "0"}, "http-max-conns"},
		{map[string]string{"http-max-client-requests": "-1"}, "http-max-client-requests"},
	} {
		code, stderr := runHonuad(t, agentArgs(t, c.flags)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("honuad agent %v: exit %d, %q; want 2 naming %s", c.flags, code, lastLine(stderr), c.want)
		}
	}
}
