package main

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

// sample is what the benchmark reads of the cluster and of itself at the
// start and end of a phase, to tell where the work and the CPU went.
type sample struct {
	at     time.Time
	commit uint64 // the leader's commit index
	nodes  []nodeSample
	self   time.Duration
	selfOK bool
}

// nodeSample is one node's counters.
type nodeSample struct {
	id, role  string
	pid       int
	cpu       time.Duration
	cpuOK     bool
	forwarded float64            // honua_api_forwarded_total
	approves  map[string]float64 // honua_api_requests_total{route="approve"} by code
}

// usage is the difference of two samples: what one phase cost.
type usage struct {
	wall    time.Duration
	entries uint64 // Raft entries committed
	nodes   []nodeUsage
	self    time.Duration
	selfOK  bool
}

// nodeUsage is what one phase cost one node.
type nodeUsage struct {
	id, role  string
	cpu       time.Duration
	cpuOK     bool
	forwarded int
	approves  map[string]int
}

// take samples the leader's commit index, then each node (leader first)
// and this process.
func (b *bench) take() sample {
	s := sample{at: time.Now()}
	s.commit = b.commitIndex()
	for i, n := range append([]*harness.Node{b.leader}, b.followers...) {
		ns := nodeSample{id: n.ID(), role: "follower"}
		if i == 0 {
			ns.role = "leader"
		}
		ns.cpu, ns.pid, ns.cpuOK = processCPU(n.DataDir())
		var err error
		ns.forwarded, ns.approves, err = scrapeMetrics(n)
		if err != nil {
			b.r.Fatalf("%v", err)
		}
		s.nodes = append(s.nodes, ns)
	}
	s.self, s.selfOK = selfCPU()
	return s
}

// since returns what happened between an earlier sample and s.
func (s sample) since(before sample) usage {
	u := usage{wall: s.at.Sub(before.at), entries: s.commit - before.commit,
		self: s.self - before.self, selfOK: s.selfOK && before.selfOK}
	for i, n := range s.nodes {
		b := before.nodes[i]
		nu := nodeUsage{id: n.id, role: n.role, cpu: n.cpu - b.cpu, cpuOK: n.cpuOK && b.cpuOK && n.pid == b.pid,
			forwarded: int(n.forwarded - b.forwarded), approves: map[string]int{}}
		for code, v := range n.approves {
			if d := int(v - b.approves[code]); d != 0 {
				nu.approves[code] = d
			}
		}
		u.nodes = append(u.nodes, nu)
	}
	return u
}

// scrapeMetrics reads the API's request counters from n's /metrics.
func scrapeMetrics(n *harness.Node) (forwarded float64, approves map[string]float64, err error) {
	// The harness's client of n (https with -tls), with a longer timeout
	// than its own: a node busy with the benchmark answers late.
	c := *n.HTTPClient()
	c.Timeout = 5 * time.Second
	resp, err := c.Get(n.URL() + "/metrics")
	if err != nil {
		return 0, nil, fmt.Errorf("metrics of %s: %w", n, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, nil, fmt.Errorf("metrics of %s: %s", n, resp.Status)
	}
	approves = map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		name, rest, _ := strings.Cut(line, " ")
		switch {
		case name == "honua_api_forwarded_total":
			forwarded, _ = strconv.ParseFloat(rest, 64)
		case strings.HasPrefix(name, "honua_api_requests_total{") && strings.Contains(name, `route="approve"`):
			labels, value, _ := strings.Cut(line, "} ")
			_, code, _ := strings.Cut(labels, `code="`)
			code, _, _ = strings.Cut(code, `"`)
			v, _ := strconv.ParseFloat(value, 64)
			approves[code] += v
		}
	}
	if err := sc.Err(); err != nil {
		return 0, nil, fmt.Errorf("metrics of %s: %w", n, err)
	}
	return forwarded, approves, nil
}

// cpuShare formats CPU time over wall time as a percentage of one core.
func cpuShare(cpu, wall time.Duration, ok bool) string {
	if !ok || wall <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", 100*cpu.Seconds()/wall.Seconds())
}

// String is one line per process: CPU share, approvals answered by code,
// and requests forwarded.
func (u usage) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d Raft entries committed in %v (%.0f/s); CPU as %% of one core:",
		u.entries, u.wall.Round(time.Millisecond), float64(u.entries)/u.wall.Seconds())
	for _, n := range u.nodes {
		fmt.Fprintf(&b, "\n      %-8s %-3s cpu %5s  approve answers %v, forwarded to the leader %d",
			n.role, n.id, cpuShare(n.cpu, u.wall, n.cpuOK), n.approves, n.forwarded)
	}
	fmt.Fprintf(&b, "\n      %-12s cpu %5s", "benchmark", cpuShare(u.self, u.wall, u.selfOK))
	return b.String()
}
