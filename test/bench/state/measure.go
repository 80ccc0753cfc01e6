package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/test/bench/benchrun"
	"github.com/honua-io/honua-gitops/test/harness"
)

// backupFile is the backup the fill wrote.
type backupFile struct {
	path  string
	bytes []byte
	// state is the FSM snapshot after the header line.
	state []byte
}

type fillResult struct {
	deployments int
	commands    int64
	took        time.Duration
}

// fillState fills an in-process node and saves its state as a backup file.
func fillState(r *benchrun.Runner, envs, perEnv int) (backupFile, fillResult) {
	dir := r.TempDir()
	node, err := startNode(dir)
	if err != nil {
		r.Fatalf("start the in-process node: %v", err)
	}
	defer func() { _ = node.Shutdown(false) }()
	f := &filler{do: nodeApply(node), envs: envs, perEnv: perEnv, start: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	start := time.Now()
	if err := f.fill(); err != nil {
		r.Fatalf("fill: %v", err)
	}
	res := fillResult{took: time.Since(start), commands: f.applied.Load()}
	res.deployments = len(node.FSM().Deployments("", 0, 0))
	if want := envs * perEnv; res.deployments != want {
		r.Fatalf("fill: the state holds %d deployments; want %d", res.deployments, want)
	}
	var buf bytes.Buffer
	if err := node.SaveBackup(&buf); err != nil {
		r.Fatalf("save backup: %v", err)
	}
	b := buf.Bytes()
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		r.Fatalf("the backup has no header line")
	}
	path := filepath.Join(dir, "state.snap")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		r.Fatalf("write backup: %v", err)
	}
	return backupFile{path: path, bytes: b, state: b[nl+1:]}, res
}

// stats are the durations of repeated runs.
type stats []time.Duration

func (s stats) sorted() stats {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func (s stats) median() time.Duration {
	c := s.sorted()
	if len(c) == 0 {
		return 0
	}
	return c[len(c)/2]
}

func (s stats) String() string {
	c := s.sorted()
	if len(c) == 0 {
		return "no runs"
	}
	return fmt.Sprintf("median %v, best %v", s.median().Round(time.Microsecond), c[0].Round(time.Microsecond))
}

type inProcess struct {
	snapshot, persist, restore stats
	// reference is reading the backup from disk and decoding its bytes
	// with encoding/json into generic values, the same run.
	reference                 stats
	size                      int
	heap                      uint64
	deployments, environments int
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct{ bytes.Buffer }

func (*memSink) ID() string    { return "bench" }
func (*memSink) Cancel() error { return nil }
func (*memSink) Close() error  { return nil }

// measureInProcess times the FSM's Snapshot, Persist and Restore of the
// state.
func measureInProcess(r *benchrun.Runner, path string, state []byte, runs int) inProcess {
	var out inProcess
	runs = max(runs, 1)
	for range runs {
		start := time.Now()
		b, err := os.ReadFile(path)
		if err != nil {
			r.Fatalf("read backup: %v", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		for {
			var v any
			if err := dec.Decode(&v); err == io.EOF {
				break
			} else if err != nil {
				r.Fatalf("decode backup: %v", err)
			}
		}
		out.reference = append(out.reference, time.Since(start))
	}
	var f *fsm.FSM
	for range runs {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		g := fsm.New(nil)
		start := time.Now()
		if err := g.Restore(io.NopCloser(bytes.NewReader(state))); err != nil {
			r.Fatalf("restore: %v", err)
		}
		out.restore = append(out.restore, time.Since(start))
		runtime.GC()
		runtime.ReadMemStats(&after)
		if after.HeapAlloc > before.HeapAlloc {
			out.heap = after.HeapAlloc - before.HeapAlloc
		}
		f = g
	}
	for range runs {
		start := time.Now()
		snap, err := f.Snapshot()
		if err != nil {
			r.Fatalf("snapshot: %v", err)
		}
		out.snapshot = append(out.snapshot, time.Since(start))
		var sink memSink
		start = time.Now()
		if err := snap.Persist(&sink); err != nil {
			r.Fatalf("persist: %v", err)
		}
		out.persist = append(out.persist, time.Since(start))
		snap.Release()
		out.size = sink.Len()
		if !bytes.Equal(sink.Bytes(), state) {
			r.Fatalf("the restored FSM's snapshot differs from the one it was restored from")
		}
	}
	out.deployments = len(f.Deployments("", 0, 0))
	out.environments = len(f.Environments())
	runtime.KeepAlive(f)
	return out
}

type processFigures struct {
	pid                            int
	idle, afterRestore, afterReads int64
	afterRestart, afterScrape      int64
	// What the fresh process's VmRSS is made of: anonymous memory (the Go
	// heap and stacks, mostly) and file pages (the raft log's mmapped
	// bolt file, the binary), and the Go heap in use as /metrics says.
	restartAnon, restartFile, heapInuse int64
	peak, peakRestart                   int64
	restore, startup                    time.Duration
	metricsBytes                        int
	// steady is the restarted process's VmRSS after a round of reads;
	// peakSave and afterSave are VmHWM and VmRSS over a snapshot save.
	steady, peakSave, afterSave int64
	save                        time.Duration
	hwmReset                    bool
	// restoreSteps and restartSteps are the times of the node's log lines
	// (see logSteps) during the restore and the restart.
	restoreSteps, restartSteps []time.Duration
}

// measureProcess restores the backup into a real one-node honuad with
// honuactl and reads its memory.
func measureProcess(r *benchrun.Runner, b backupFile, envs, perEnv int) processFigures {
	var p processFigures
	// The node keeps as much history as the backup holds: a leader applies
	// its own --history-retention when it takes over, which would prune
	// the restored history after the restart.
	c := harness.Start(r, 1, harness.Options{Args: append([]string{"--history-retention", strconv.Itoa(perEnv)}, nodeArgs...), Env: nodeEnv})
	n := c.Nodes()[0]
	waitReady(r, n)
	p.pid = n.PID()
	p.idle = procStatus(r, p.pid, "VmRSS")

	ctl := harness.BuildHonuactl(r)
	p.hwmReset = resetHWM(p.pid)
	start := time.Now()
	honuactl(r, ctl, n, "snapshot", "restore", b.path, "--yes")
	p.restore = time.Since(start)
	// Read before anything else asks the node for the state: a GET
	// /v1/debug/state encodes the whole state, which costs memory too.
	p.afterRestore = procStatus(r, p.pid, "VmRSS")
	p.peak = procStatus(r, p.pid, "VmHWM")
	readAll(r, n, envs)
	p.afterReads = procStatus(r, p.pid, "VmRSS")
	p.restoreSteps = logSteps(n.Log(), "creating new snapshot", "copied to local snapshot", "restored user snapshot",
		"replicated state replaced from a backup")

	// A snapshot saved (honuactl snapshot save: the leader's SaveBackup,
	// sent as one response).
	resetHWM(p.pid)
	saved := filepath.Join(r.TempDir(), "saved.snap")
	start = time.Now()
	honuactl(r, ctl, n, "snapshot", "save", saved)
	p.save = time.Since(start)
	p.peakSave = procStatus(r, p.pid, "VmHWM")
	p.afterSave = procStatus(r, p.pid, "VmRSS")
	want := dumpSum(r, b.state)
	checkState(r, n, want)

	if code, err := n.Stop(); err != nil || code != 0 {
		r.Fatalf("stop honuad: exit %d, %v", code, err)
	}
	start = time.Now()
	n.Restart()
	waitReady(r, n)
	p.startup = time.Since(start)
	p.afterRestart = procStatus(r, n.PID(), "VmRSS")
	p.restartAnon = procStatus(r, n.PID(), "RssAnon")
	p.restartFile = procStatus(r, n.PID(), "RssFile")
	var metrics []byte
	if err := getRaw(n, "/metrics", &metrics); err != nil {
		r.Fatalf("%s: %v", n, err)
	}
	p.heapInuse = metricValue(metrics, "go_memstats_heap_inuse_bytes")
	p.afterScrape = procStatus(r, n.PID(), "VmRSS")
	p.peakRestart = procStatus(r, n.PID(), "VmHWM")
	readAll(r, n, envs)
	p.steady = procStatus(r, n.PID(), "VmRSS")
	checkState(r, n, want)
	p.metricsBytes = len(metrics)
	p.restartSteps = logSteps(n.Log(), "starting restore from snapshot", "restored from snapshot",
		"entering follower state", "entering leader state", "leadership established")
	return p
}

// honuactl runs honuactl against node n.
func honuactl(r *benchrun.Runner, ctl string, n *harness.Node, args ...string) {
	cmd := exec.Command(ctl, append([]string{"--addr", n.APIAddr()}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + r.TempDir(), "NO_COLOR=1"}
	if out, err := cmd.CombinedOutput(); err != nil {
		r.Fatalf("honuactl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// resetHWM sets the process's VmHWM back to its VmRSS (Linux's clear_refs
// 5), so that the next reading is the peak of what follows. It reports
// whether it could.
func resetHWM(pid int) bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
}

// logSteps returns the times, in a node's log, of the first line after
// the last occurrence of the first message holding each message in turn,
// as durations since the first; -1 for a message not found.
func logSteps(log string, msgs ...string) []time.Duration {
	lines := strings.Split(log, "\n")
	from := 0
	for i, l := range lines {
		if strings.Contains(l, `msg="`+msgs[0]+`"`) {
			from = i
		}
	}
	out := make([]time.Duration, len(msgs))
	var t0 time.Time
	for k, m := range msgs {
		out[k] = -1
		for _, l := range lines[from:] {
			if !strings.Contains(l, `msg="`+m+`"`) {
				continue
			}
			ts, _, _ := strings.Cut(strings.TrimPrefix(l, "time="), " ")
			t, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil {
				break
			}
			if k == 0 {
				t0 = t
			}
			out[k] = t.Sub(t0)
			break
		}
	}
	return out
}

// dumpSum returns the SHA-256 of the FSM's Dump of the state a snapshot
// holds, which GET /v1/debug/state hashes.
func dumpSum(r *benchrun.Runner, state []byte) string {
	f := fsm.New(nil)
	if err := f.Restore(io.NopCloser(bytes.NewReader(state))); err != nil {
		r.Fatalf("restore: %v", err)
	}
	d, err := f.Dump()
	if err != nil {
		r.Fatalf("dump: %v", err)
	}
	sum := sha256.Sum256(d)
	return hex.EncodeToString(sum[:])
}

func waitReady(r *benchrun.Runner, n *harness.Node) {
	err := harness.Poll(waitTimeout, n.ID()+" to be ready", func() error {
		ready, why, err := n.Ready()
		if err == nil && !ready {
			err = errors.New(why)
		}
		return err
	})
	if err != nil {
		r.Fatalf("%v", err)
	}
}

var client = &http.Client{Timeout: time.Minute}

// getRaw GETs path from the node and returns the 200 answer's body.
func getRaw(n *harness.Node, path string, body *[]byte) error {
	resp, err := client.Get("http://" + n.APIAddr() + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	*body = b
	return nil
}

// get GETs path from the node and decodes the 200 answer into out.
func get(n *harness.Node, path string, out any) error {
	var body []byte
	if err := getRaw(n, path, &body); err != nil {
		return err
	}
	return json.Unmarshal(body, out)
}

// checkState checks that the node holds the state whose snapshot hashes to
// want.
func checkState(r *benchrun.Runner, n *harness.Node, want string) {
	var d struct {
		SHA256 string `json:"sha256"`
		Bytes  int    `json:"bytes"`
	}
	if err := get(n, "/v1/debug/state", &d); err != nil {
		r.Fatalf("%s: %v", n, err)
	}
	if d.SHA256 != want {
		r.Fatalf("%s holds state %.12s (%d bytes); want the backup's, %.12s", n, d.SHA256, d.Bytes, want)
	}
}

// readAll reads what an operator's dashboards would: every environment,
// every environment's whole history, and the newest 1,000 deployments.
func readAll(r *benchrun.Runner, n *harness.Node, envs int) {
	var list []json.RawMessage
	if err := get(n, "/v1/environments", &list); err != nil || len(list) != envs {
		r.Fatalf("%s: GET /v1/environments: %d environments, %v; want %d", n, len(list), err, envs)
	}
	for i := range envs {
		var h struct {
			Deployments []json.RawMessage `json:"deployments"`
		}
		path := fmt.Sprintf("/v1/environments/%s/history?limit=1000", envName(envs, i+1))
		if err := get(n, path, &h); err != nil {
			r.Fatalf("%s: %v", n, err)
		}
	}
	if err := get(n, "/v1/deployments?limit=1000", &list); err != nil {
		r.Fatalf("%s: %v", n, err)
	}
}

// metricValue returns the value of an unlabelled metric in a Prometheus
// text exposition, or -1.
func metricValue(exposition []byte, name string) int64 {
	for line := range strings.SplitSeq(string(exposition), "\n") {
		v, ok := strings.CutPrefix(line, name+" ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return -1
		}
		return int64(f)
	}
	return -1
}

// procStatus reads a size field (VmRSS, VmHWM) of /proc/<pid>/status, in
// bytes.
func procStatus(r *benchrun.Runner, pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		r.Fatalf("read memory of pid %d: %v (this benchmark needs Linux's /proc)", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		fs := strings.Fields(rest)
		if len(fs) != 2 || fs[1] != "kB" {
			break
		}
		kb, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			break
		}
		return kb << 10
	}
	r.Fatalf("/proc/%d/status has no %s in kB", pid, field)
	return 0
}
