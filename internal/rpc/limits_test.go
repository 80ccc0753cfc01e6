package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// blockingCollector holds every scrape of /metrics until released.
type blockingCollector struct {
	entered chan struct{}
	release chan struct{}
}

func (c *blockingCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- prometheus.NewDesc("test_blocking", "holds scrapes", nil, nil)
}

func (c *blockingCollector) Collect(ch chan<- prometheus.Metric) {
	c.entered <- struct{}{}
	<-c.release
}

// An address holding MaxClientRequests requests on an open endpoint gets
// 429 with a Retry-After and a JSON body for the next one; other endpoints
// and later requests are not affected.
func TestOpenEndpointPerClientLimit(t *testing.T) {
	reg := prometheus.NewRegistry()
	held := &blockingCollector{entered: make(chan struct{}, 8), release: make(chan struct{})}
	reg.MustRegister(held)
	s := NewServer(Config{Cluster: &fakeCluster{leader: "node1"}, Store: newTestFSM(t).f, Registry: reg,
		Limits: Limits{MaxClientRequests: 2}})
	ts := httptest.NewServer(s)
	defer ts.Close()
	client := &http.Client{Timeout: 10 * time.Second}

	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(ts.URL + "/metrics")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
		<-held.entered
	}
	released := false
	release := func() {
		if !released {
			close(held.release)
			released = true
		}
	}
	defer release()

	resp, err := client.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct{ Error, Code string }
	if resp.StatusCode != http.StatusTooManyRequests || json.Unmarshal(body, &e) != nil || e.Code != "too_many_requests" {
		t.Errorf("third /metrics in flight = %d %s; want 429 too_many_requests", resp.StatusCode, body)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After = %q; want 1", ra)
	}
	t.Logf("429 body: %s", strings.TrimSpace(string(body)))
	if resp, err := client.Get(ts.URL + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz from the same address while /metrics is at its limit = %v, %v; want 200", resp, err)
	} else {
		resp.Body.Close()
	}

	release()
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("a held /metrics answered %d; want 200", c)
		}
	}
	if got := testutil.ToFloat64(s.metrics.throttled.WithLabelValues("metrics", "in_flight")); got != 1 {
		t.Errorf("honua_api_throttled_total{endpoint=metrics} = %v; want 1", got)
	}
	if resp, err := client.Get(ts.URL + "/metrics"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/metrics once the others finished = %v, %v; want 200", resp, err)
	} else {
		resp.Body.Close()
	}
}

// waitPast waits until the wall clock is past t: the tests below need a
// server's deadline to have passed, which is the condition under test.
func waitPast(t time.Time) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(t) {
		<-tick.C
	}
}

// serveWithTimeouts serves h as honuad does, with short timeouts.
func serveWithTimeouts(h http.Handler, read, write time.Duration) *httptest.Server {
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ReadTimeout, ts.Config.ReadHeaderTimeout, ts.Config.WriteTimeout = read, read, write
	ts.Start()
	return ts
}

// The event stream stays open past the server's write timeout: each event
// pushes the deadline ahead.
func TestEventStreamOutlivesWriteTimeout(t *testing.T) {
	const write = 300 * time.Millisecond
	f := newAPIFixture(t)
	f.s = NewServer(Config{Cluster: f.c, Store: f.c.tf.f, Pipeline: &fakePipeline{c: f.c},
		Repository: &RepositoryInfo{URL: "git://x/config.git", Branch: "main"}, Limits: Limits{WriteTimeout: write}})
	ts := serveWithTimeouts(f.s, time.Second, write)
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/v1/events", nil)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("open events: %v %v", resp, err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	events := func(n int) {
		t.Helper()
		for n > 0 {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read the stream %v after it opened: %v", time.Since(start).Round(time.Millisecond), err)
			}
			if strings.HasPrefix(line, "data: ") {
				n--
			}
		}
	}
	events(4)
	waitPast(start.Add(3 * write))
	if _, err := f.c.Apply(context.Background(), &fsm.CreateDeployment{Environment: "staging", Commit: "c2", Kind: fsm.KindAuto, Time: t0}); err != nil {
		t.Fatal(err)
	}
	events(1)
}

// slowBackupCluster takes a while to save and restore, as a big state
// does.
type slowBackupCluster struct {
	fakeCluster
	until time.Time
}

func (c *slowBackupCluster) SaveBackup(w io.Writer) error {
	waitPast(c.until)
	return c.fakeCluster.SaveBackup(w)
}

// A backup that takes longer than the write timeout to prepare is still
// answered, and one uploaded more slowly than the read timeout, but steadily,
// is still read.
func TestBackupsOutliveTimeouts(t *testing.T) {
	// A second: the uploader's byte every timeout/20 must come within the
	// timeout however loaded the machine is (300ms failed once, the
	// uploader starved under a full make test beside other work).
	const timeout = time.Second
	c := &slowBackupCluster{fakeCluster: fakeCluster{leader: "node1"}}
	s := NewServer(Config{Cluster: c, Store: newTestFSM(t).f, Limits: Limits{ReadTimeout: timeout, WriteTimeout: timeout}})
	ts := serveWithTimeouts(s, timeout, timeout)
	defer ts.Close()
	client := &http.Client{Timeout: 30 * time.Second}

	c.until = time.Now().Add(3 * timeout)
	resp, err := client.Get(ts.URL + "/v1/snapshot")
	if err != nil {
		t.Fatalf("GET /v1/snapshot prepared for %v with a %v write timeout: %v", 3*timeout, timeout, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || string(body) != fakeBackup("node1") {
		t.Errorf("GET /v1/snapshot = %d %q %v; want 200 with the backup", resp.StatusCode, body, err)
	}

	// Upload node1's backup a byte every timeout/20: three times the read
	// timeout in all.
	pr, pw := io.Pipe()
	go func() {
		tick := time.NewTicker(timeout / 20)
		defer tick.Stop()
		for _, b := range []byte(fakeBackup("node1")) {
			<-tick.C
			if _, err := pw.Write([]byte{b}); err != nil {
				return
			}
		}
		pw.Close()
	}()
	start := time.Now()
	resp, err = client.Post(ts.URL+"/v1/snapshot", "application/octet-stream", pr)
	if err != nil {
		t.Fatalf("POST /v1/snapshot sent over %v with a %v read timeout: %v", time.Since(start).Round(time.Millisecond), timeout, err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "77") {
		t.Errorf("POST /v1/snapshot = %d %s; want 200 with the applied index", resp.StatusCode, body)
	}
	t.Logf("upload took %v", time.Since(start).Round(time.Millisecond))
}
