package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

// The flood mode (-flood) measures the leader while one follower is
// flooded: -clients clients approve back to back on the leader for
// -duration with no flood, then again while -flood-clients clients flood
// the follower, each from its own loopback address (127.1.x.y, so that each
// is its own client for the follower's limits; the measuring clients and
// the nodes use 127.0.0.1). The flood clients take the kinds of -flood-kinds
// in turn:
//
//   - wrong-token: GET /v1/status with a token that is no one's (401, then
//     429 once the address has used up its failures);
//   - webhook: POST /v1/webhooks/generic, a push to the watched branch,
//     which the follower forwards to the leader (a poll) until the
//     address's rate is used up (429);
//   - consistent-read: GET /v1/status?consistent=true with a valid token,
//     forwarded to the leader, which confirms its leadership with a quorum
//     for each;
//   - forwarded-write: an approval with a valid token, forwarded to the
//     leader, which commits it (a duplicate after the first: still a Raft
//     entry).
//
// Flood clients never back off. The authenticated kinds are bounded only by
// the follower's --http-max-forwarded (503 busy past it). One more client
// sends approvals one at a time to the flooded follower, from 127.0.0.1, as
// a legitimate client of it would.
//
// The flood runs in a process of its own (this command, with
// -flood-worker). With -priority (the default), the leader, the other
// follower and this process, which measures, run at nice -10, and the
// flood and the flooded follower at 0: on a machine they all share, that is
// the nearest to the leader having CPUs of its own, which a flood from
// elsewhere could not take.

// floodKinds are the kinds of flood request, as -flood-kinds names them.
var floodKinds = []string{"wrong-token", "webhook", "consistent-read", "forwarded-write"}

// floodSpec is what a flood worker does; it is handed over in the
// environment (it holds tokens).
type floodSpec struct {
	Target      string
	Clients     int
	Kinds       []int
	Reader      string // a valid token for consistent reads
	Writer      string // a valid approver token for writes
	Deployments []string
}

// floodSpecEnv holds a worker's floodSpec as JSON.
const floodSpecEnv = "HONUA_BENCH_FLOOD_SPEC"

// floodCounts are a flood's answers by kind and status, and how many
// requests it sent.
type floodCounts struct {
	ByKind []map[string]int
	Sent   int
	// Bound says whether each client had its own address.
	Bound bool
}

// flooder is a client of the flood: its own address and connection.
type flooder struct {
	kind   int
	http   *http.Client
	counts map[string]int // answers by status (and error code), or "transport"
}

// floodAddr is the source address of flood client i.
func floodAddr(i int) net.IP { return net.IPv4(127, 1, byte(i/250), byte(i%250+1)) }

// newFlooder returns flood client i, of kind kind, bound to its own
// loopback address when bind is true.
func newFlooder(i, kind int, bind bool) *flooder {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if bind {
		d.LocalAddr = &net.TCPAddr{IP: floodAddr(i)}
	}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 1, IdleConnTimeout: 30 * time.Second}
	return &flooder{kind: kind, http: &http.Client{Transport: tr, Timeout: requestTimeout}, counts: map[string]int{}}
}

// canBind reports whether this machine lets a client use 127.1.0.1 as its
// source address (Linux routes all of 127/8 to the loopback).
func canBind(target string) bool {
	d := &net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: floodAddr(0)}}
	c, err := d.Dial("tcp", target)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// send sends the flooder's k-th request.
func (f *flooder) send(spec *floodSpec, k int) {
	var req *http.Request
	base := "http://" + spec.Target
	switch f.kind {
	case 0:
		req, _ = http.NewRequest("GET", base+"/v1/status", nil)
		req.Header.Set("Authorization", "Bearer honua_wrong"+strconv.Itoa(k))
	case 1:
		req, _ = http.NewRequest("POST", base+"/v1/webhooks/generic", strings.NewReader(`{"ref":"refs/heads/main"}`))
		req.Header.Set("Content-Type", "application/json")
	case 2:
		req, _ = http.NewRequest("GET", base+"/v1/status?consistent=true", nil)
		req.Header.Set("Authorization", "Bearer "+spec.Reader)
	default:
		id := spec.Deployments[k%len(spec.Deployments)]
		req, _ = http.NewRequest("POST", base+"/v1/deployments/"+id+"/approve", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+spec.Writer)
	}
	resp, err := f.http.Do(req)
	if err != nil {
		f.counts["transport"]++
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	key := strconv.Itoa(resp.StatusCode)
	if resp.StatusCode >= 300 {
		if _, code, ok := strings.Cut(string(body), `"code": "`); ok {
			code, _, _ = strings.Cut(code, `"`)
			key += " " + code
		}
	}
	f.counts[key]++
}

// runFlooders floods spec.Target until stop is closed; started is closed
// once every client runs.
func runFlooders(spec *floodSpec, started chan<- struct{}, stop <-chan struct{}) floodCounts {
	bind := canBind(spec.Target)
	fs := make([]*flooder, spec.Clients)
	for i := range fs {
		fs[i] = newFlooder(i, spec.Kinds[i%len(spec.Kinds)], bind)
	}
	var wg sync.WaitGroup
	for _, f := range fs {
		wg.Go(func() {
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				f.send(spec, k)
			}
		})
	}
	close(started)
	wg.Wait()
	res := floodCounts{ByKind: make([]map[string]int, len(floodKinds)), Bound: bind}
	for i := range res.ByKind {
		res.ByKind[i] = map[string]int{}
	}
	for _, f := range fs {
		for k, v := range f.counts {
			res.ByKind[f.kind][k] += v
			res.Sent += v
		}
		f.http.CloseIdleConnections()
	}
	return res
}

// floodWorker is the command run with -flood-worker: it floods as its
// environment's floodSpec says, writes "started" when it does, and, once
// its standard input is closed, stops and writes its floodCounts as JSON.
func floodWorker() {
	var spec floodSpec
	if err := json.Unmarshal([]byte(os.Getenv(floodSpecEnv)), &spec); err != nil || spec.Clients < 1 || len(spec.Kinds) == 0 {
		fmt.Fprintf(os.Stderr, "flood worker: bad %s: %v\n", floodSpecEnv, err)
		os.Exit(2)
	}
	stop := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	started := make(chan struct{})
	done := make(chan floodCounts)
	go func() { done <- runFlooders(&spec, started, stop) }()
	<-started
	fmt.Println("started")
	if err := json.NewEncoder(os.Stdout).Encode(<-done); err != nil {
		os.Exit(1)
	}
}

// floodProcess is a running flood worker.
type floodProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startFlood starts a flood worker, at niceness 10 above this process's
// when nice is true, and waits until it floods.
func startFlood(b *bench, spec floodSpec, nice bool) *floodProcess {
	exe, err := os.Executable()
	if err != nil {
		b.r.Fatalf("flood worker: %v", err)
	}
	js, _ := json.Marshal(spec)
	args := []string{exe, "-flood-worker"}
	if nice {
		args = append([]string{"nice", "-n", "10"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), floodSpecEnv+"="+string(js))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.r.Fatalf("flood worker: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.r.Fatalf("flood worker: %v", err)
	}
	if err := cmd.Start(); err != nil {
		b.r.Fatalf("start flood worker: %v", err)
	}
	p := &floodProcess{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	b.r.Cleanup(func() { p.stdin.Close(); _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
	if line, err := p.out.ReadString('\n'); err != nil || strings.TrimSpace(line) != "started" {
		b.r.Fatalf("flood worker did not start: %q %v", line, err)
	}
	return p
}

// stop stops the flood and returns its counts and the CPU it used.
func (p *floodProcess) stop(b *bench) (floodCounts, time.Duration) {
	p.stdin.Close()
	var c floodCounts
	if err := json.NewDecoder(p.out).Decode(&c); err != nil {
		b.r.Fatalf("flood worker's counts: %v", err)
	}
	if err := p.cmd.Wait(); err != nil {
		b.r.Fatalf("flood worker: %v", err)
	}
	return c, p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
}

// floodResult is one measurement: the leader's clients, the legitimate
// client of the follower, and what the flood got.
type floodResult struct {
	name     string
	leader   throughputResult
	follower outcomes
	flood    floodCounts
	// floodWall is how long the flood ran, floodCPU the CPU its
	// process used.
	floodWall, floodCPU time.Duration
	// throttled is the follower's honua_api_throttled_total over the phase,
	// by "endpoint/reason".
	throttled map[string]int
}

// benchFlood measures the leader with groups's clients approving on it for
// duration, and a legitimate client approving one at a time through the
// follower followers[0]; with spec (not nil), while that follower is
// flooded. The flood starts a settle time before the measurement, so that
// the follower's limits have caught up with it.
func benchFlood(b *bench, name string, groups []identityGroup, legit identityGroup, duration time.Duration,
	spec *floodSpec, nice bool) floodResult {
	const settle = 3 * time.Second
	res := floodResult{name: name}
	target := b.followers[0]
	before := scrapeThrottled(b, target)
	var fp *floodProcess
	floodStart := time.Now()
	if spec != nil {
		fp = startFlood(b, *spec, nice)
		say("   flooding %s with %d clients; measuring in %v\n", target.ID(), spec.Clients, settle)
		time.Sleep(settle) // a benchmark, not a test: let the flood reach its steady state
	}

	legitDone := make(chan struct{})
	legitStop := make(chan struct{})
	go func() {
		defer close(legitDone)
		clients := b.clients(legit, target)
		ctx := context.Background()
		for k := 0; ; k++ {
			select {
			case <-legitStop:
				return
			default:
			}
			c, id := clients[(k/len(b.deployments))%len(clients)], b.deployments[k%len(b.deployments)]
			t0 := time.Now()
			ar, err := c.Approve(ctx, id, "")
			res.follower.record(time.Since(t0), ar, err)
		}
	}()
	res.leader = benchThroughput(b, name, []*harness.Node{b.leader}, groups, duration)
	close(legitStop)
	<-legitDone
	if fp != nil {
		res.flood, res.floodCPU = fp.stop(b)
		res.floodWall = time.Since(floodStart)
	}
	after := scrapeThrottled(b, target)
	res.throttled = map[string]int{}
	for k, v := range after {
		if d := int(v - before[k]); d != 0 {
			res.throttled[k] = d
		}
	}
	say("   legitimate client of %s (one approval at a time): %s\n", target.ID(), res.follower.describe())
	if spec != nil {
		say("   flood: %d requests in %v (%.0f/s), each client from its own address: %v; its process used %s of one core\n",
			res.flood.Sent, res.floodWall.Round(time.Millisecond), float64(res.flood.Sent)/res.floodWall.Seconds(), res.flood.Bound,
			cpuShare(res.floodCPU, res.floodWall, true))
		for _, k := range spec.Kinds {
			say("      %-16s %s\n", floodKinds[k], countsLine(res.flood.ByKind[k]))
		}
		say("   %s's honua_api_throttled_total over the phase: %s\n", target.ID(), countsLine(res.throttled))
	}
	return res
}

// scrapeThrottled reads n's honua_api_throttled_total by "endpoint/reason".
func scrapeThrottled(b *bench, n *harness.Node) map[string]float64 {
	c := *n.HTTPClient()
	c.Timeout = 5 * time.Second
	resp, err := c.Get(n.URL() + "/metrics")
	if err != nil {
		b.r.Fatalf("metrics of %s: %v", n, err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "honua_api_throttled_total{")
		if !ok {
			continue
		}
		labels, value, _ := strings.Cut(rest, "} ")
		var endpoint, reason string
		for l := range strings.SplitSeq(labels, ",") {
			k, v, _ := strings.Cut(l, "=")
			v = strings.Trim(v, `"`)
			switch k {
			case "endpoint":
				endpoint = v
			case "reason":
				reason = v
			}
		}
		f, _ := strconv.ParseFloat(value, 64)
		out[endpoint+"/"+reason] += f
	}
	return out
}

// parseFloodKinds parses -flood-kinds: a comma-separated list of
// floodKinds.
func parseFloodKinds(s string) ([]int, error) {
	var out []int
	for name := range strings.SplitSeq(s, ",") {
		k := slices.Index(floodKinds, strings.TrimSpace(name))
		if k < 0 {
			return nil, fmt.Errorf("-flood-kinds: %q is not one of %s", name, strings.Join(floodKinds, ", "))
		}
		out = append(out, k)
	}
	return out, nil
}

// countsLine writes counts sorted by key.
func countsLine(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// printFloodSummary writes the table of the flood mode: each figure
// without and with the flood.
func printFloodSummary(w io.Writer, quiet, flooded floodResult, priority string) {
	fmt.Fprintln(w, "== summary (flood mode)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "measure\t%s\t%s\n", quiet.name, flooded.name)
	q, f := quiet.leader, flooded.leader
	fmt.Fprintf(tw, "acknowledged approvals/s on the leader, %d clients\t%.0f/s\t%.0f/s\n", q.clients, q.rate(), f.rate())
	fmt.Fprintf(tw, "  approve latency on the leader\t%s\t%s\n", spread(q.res), spread(f.res))
	fmt.Fprintf(tw, "  errors by code\t%s\t%s\n", errorCounts(q.res), errorCounts(f.res))
	fmt.Fprintf(tw, "Raft entries committed/s (all clients, flood included)\t%.0f/s\t%.0f/s\n",
		float64(q.usage.entries)/q.usage.wall.Seconds(), float64(f.usage.entries)/f.usage.wall.Seconds())
	fmt.Fprintf(tw, "legitimate client of the flooded follower: acknowledged\t%d (%s)\t%d (%s)\n",
		len(quiet.follower.times), spreadTimes(quiet.follower.times), len(flooded.follower.times), spreadTimes(flooded.follower.times))
	fmt.Fprintf(tw, "  its errors by code\t%s\t%s\n", errorCounts(quiet.follower), errorCounts(flooded.follower))
	fmt.Fprintf(tw, "flood requests/s on the follower (the flood's own CPU)\t-\t%.0f/s (%s of one core)\n",
		float64(flooded.flood.Sent)/flooded.floodWall.Seconds(), cpuShare(flooded.floodCPU, flooded.floodWall, true))
	fmt.Fprintf(tw, "CPU, %% of one core (with the git commands each ran)\t%s\t%s\n", cpuLine(q.usage), cpuLine(f.usage))
	tw.Flush()
	fmt.Fprintf(w, "Priorities: %s. The nodes, the measuring clients and the flood share this machine's CPUs.\n", priority)
}
