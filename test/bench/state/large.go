package main

// -large: ten times the environments of the default run, 1,000
// environments × 100 deployments (100,000), and what honuad does with them:
// resident memory, list latency, snapshot time, and the latency of writes
// while raft snapshots the state.
//
// The state is generated, not written through raft: the same commands the
// default run sends through an in-process node (filler) are applied to an
// FSM directly, one at a time at increasing indexes, which builds the
// state raft would (930,000 commands through raft on disk take minutes on
// the 2-core machine). Its snapshot, behind a backup header, is then
// restored into an in-process node (raft and raft-boltdb on disk, as
// honuad runs them) and into a real honuad with honuactl snapshot
// restore, and everything measured there goes through the real paths.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/honua-io/honua-gitops/internal/cluster"
	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/test/bench/benchrun"
	"github.com/honua-io/honua-gitops/test/bench/figures"
	"github.com/honua-io/honua-gitops/test/harness"
)

// Goals of the issue for -large.
const (
	goalLargeRSS      = 256 << 20
	goalLargeList     = 50 * time.Millisecond
	goalLargeSnapshot = 3 * time.Second
	goalLargeApply    = 50 * time.Millisecond
)

func runLarge(r *benchrun.Runner, envs, perEnv int) {
	backup, gen := generateBackup(r, envs, perEnv)
	fmt.Printf("large: generated %d environments × %d deployments (%d commands applied to an FSM directly, no raft) in %v\n",
		envs, perEnv, gen.commands, gen.took.Round(time.Millisecond))
	fmt.Printf("large: backup %s (%d bytes), %s\n", mib(int64(len(backup.bytes))), len(backup.bytes), backup.path)

	in := measureLargeInProcess(r, backup, envs)
	fmt.Printf("large, in process: RestoreBackup %v; FSM snapshot (view under the lock) %s; persist to a file %s\n",
		in.restore.Round(time.Millisecond), in.view, in.persist)
	fmt.Printf("large, in process: apply p50 %v p99 %v with no snapshot (%d writes); p50 %v p99 %v max %v while raft snapshots (%d writes, %d snapshots)\n",
		in.quiet.pct(50), in.quiet.pct(99), len(in.quiet), in.during.pct(50), in.during.pct(99), in.during.pct(100),
		len(in.during), in.snapshots)

	p := measureLargeProcess(r, backup, envs)
	fmt.Printf("large, process: honuactl snapshot restore %v; VmRSS after it %s, peak %s\n",
		p.restore.Round(time.Millisecond), mib(p.afterRestore), mib(p.peakRestore))
	fmt.Printf("large, process: GET /v1/deployments?env=… p50 %v p99 %v (%d requests); GET /v1/environments p50 %v p99 %v (%d)\n",
		p.list.pct(50), p.list.pct(99), len(p.list), p.overview.pct(50), p.overview.pct(99), len(p.overview))
	fmt.Printf("large, process: VmRSS after the reads %s\n", mib(p.afterReads))
	fmt.Printf("large, process: honuactl snapshot save %v; peak %s\n", p.save.Round(time.Millisecond), mib(p.peakSave))

	listP99 := max(p.list.pct(99), p.overview.pct(99))
	rss := max(p.afterRestore, p.afterReads)
	snap := in.view.median() + in.persist.median()
	fmt.Println()
	fmt.Printf("%-58s %12s %12s\n", "figure (100k deployments)", "measured", "goal")
	fmt.Printf("%-58s %12s %12s\n", "resident memory holding the state", mib(rss), mib(goalLargeRSS))
	fmt.Printf("%-58s %12s %12s\n", "list p99 (one environment's deployments, the overview)", listP99.Round(time.Microsecond), goalLargeList)
	fmt.Printf("%-58s %12s %12s\n", "FSM snapshot (view + persist to a file)", snap.Round(time.Millisecond), goalLargeSnapshot)
	fmt.Printf("%-58s %12s %12s\n", "apply p99 while raft snapshots", in.during.pct(99), goalLargeApply)
	err := figures.Record(figures.Figure{
		Bench: "state", Name: "100k deployments: RSS, list p99, snapshot, apply p99 during snapshot",
		Measured: fmt.Sprintf("%s, %v, %v, %v", mib(rss), listP99.Round(100*time.Microsecond), snap.Round(time.Millisecond),
			in.during.pct(99)),
		Goal:      "≤ 256 MiB, ≤ 50 ms, ≤ 3 s, ≤ 50 ms",
		Met:       rss <= goalLargeRSS && listP99 <= goalLargeList && snap <= goalLargeSnapshot && in.during.pct(99) <= goalLargeApply,
		Reference: fmt.Sprintf("apply p99 with no snapshot %v", in.quiet.pct(99)),
		Ratio:     ratio(float64(in.during.pct(99)), float64(in.quiet.pct(99))),
	})
	if err != nil {
		r.Fatalf("%v", err)
	}
}

type generated struct {
	commands int64
	took     time.Duration
}

// generateBackup builds the state in an FSM and writes it as a backup.
func generateBackup(r *benchrun.Runner, envs, perEnv int) (backupFile, generated) {
	f := fsm.New(nil)
	fl := &filler{do: directApply(f), envs: envs, perEnv: perEnv, start: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	start := time.Now()
	if err := fl.fill(); err != nil {
		r.Fatalf("generate: %v", err)
	}
	gen := generated{commands: fl.applied.Load(), took: time.Since(start)}
	var state bytes.Buffer
	index, err := f.WriteSnapshot(&state)
	if err != nil {
		r.Fatalf("snapshot: %v", err)
	}
	// The backup header, as cluster.SaveBackup writes it.
	sum := sha256.Sum256(state.Bytes())
	line, _ := json.Marshal(map[string]any{"format": "honua-backup", "version": 1, "index": index, "term": 1,
		"size": state.Len(), "sha256": hex.EncodeToString(sum[:]), "node": "generated", "time": time.Now().UTC().Format(time.RFC3339)})
	b := append(append(line, '\n'), state.Bytes()...)
	path := filepath.Join(r.TempDir(), "large.snap")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		r.Fatalf("write backup: %v", err)
	}
	return backupFile{path: path, bytes: b, state: state.Bytes()}, gen
}

// latencies are the durations of single operations.
type latencies []time.Duration

// pct returns the p-th percentile (100: the maximum).
func (l latencies) pct(p int) time.Duration {
	if len(l) == 0 {
		return 0
	}
	c := slices.Clone(l)
	slices.Sort(c)
	i := min(len(c)-1, len(c)*p/100)
	return c[i].Round(10 * time.Microsecond)
}

type largeInProcess struct {
	restore       time.Duration
	view, persist stats
	quiet, during latencies
	snapshots     int
}

// snapshotWatch is a slog handler that records when raft's snapshots start
// and end (raft logs "starting snapshot up to" and "snapshot complete up
// to").
type snapshotWatch struct {
	mu      sync.Mutex
	windows [][2]time.Time
}

func (w *snapshotWatch) Enabled(context.Context, slog.Level) bool { return true }
func (w *snapshotWatch) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *snapshotWatch) WithGroup(string) slog.Handler            { return w }
func (w *snapshotWatch) Handle(_ context.Context, rec slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case strings.HasPrefix(rec.Message, "starting snapshot up to"):
		w.windows = append(w.windows, [2]time.Time{rec.Time})
	case strings.HasPrefix(rec.Message, "snapshot complete up to") && len(w.windows) > 0:
		w.windows[len(w.windows)-1][1] = rec.Time
	}
	return nil
}

// during reports whether [from, to] overlaps a snapshot, and how many
// snapshots completed.
func (w *snapshotWatch) overlaps(from, to time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, win := range w.windows {
		end := win[1]
		if end.IsZero() {
			end = time.Now()
		}
		if from.Before(end) && to.After(win[0]) {
			return true
		}
	}
	return false
}

func (w *snapshotWatch) completed() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, win := range w.windows {
		if !win[1].IsZero() {
			n++
		}
	}
	return n
}

// measureLargeInProcess restores the backup into an in-process node whose
// raft snapshots after every 256 entries (checked every 100 ms), and
// measures writes (ObserveCommit, through raft) one after another, each
// counted as during a snapshot when it overlapped one: from the time the
// FSM's view takes before raft logs the snapshot's start, to its end.
func measureLargeInProcess(r *benchrun.Runner, b backupFile, envs int) largeInProcess {
	var out largeInProcess
	watch := &snapshotWatch{}
	cfg := cluster.DefaultConfig()
	cfg.NodeID = "large"
	cfg.DataDir = filepath.Join(r.TempDir(), "large")
	cfg.RaftBind, cfg.GossipBind, cfg.APIAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:1"
	cfg.BootstrapExpect = 1
	cfg.Logger = slog.New(watch)
	cfg.SnapshotThreshold, cfg.SnapshotInterval = 256, 100*time.Millisecond
	n, err := startNodeWith(cfg)
	if err != nil {
		r.Fatalf("start the in-process node: %v", err)
	}
	defer func() { _ = n.Shutdown(false) }()
	start := time.Now()
	if _, err := n.RestoreBackup(bytes.NewReader(b.bytes)); err != nil {
		r.Fatalf("restore backup: %v", err)
	}
	out.restore = time.Since(start)
	for range 3 {
		start := time.Now()
		snap, err := n.FSM().Snapshot()
		if err != nil {
			r.Fatalf("snapshot: %v", err)
		}
		out.view = append(out.view, time.Since(start))
		sink, err := newFileSink(filepath.Join(r.TempDir(), "persist.snap"))
		if err != nil {
			r.Fatalf("%v", err)
		}
		start = time.Now()
		if err := snap.Persist(sink); err != nil {
			r.Fatalf("persist: %v", err)
		}
		out.persist = append(out.persist, time.Since(start))
	}
	write := func(i int) (time.Time, time.Duration) {
		c := &fsm.ObserveCommit{Environment: envName(envs, 1), Commit: commitHash("large", i), Time: time.Unix(int64(i), 0).UTC()}
		start := time.Now()
		if _, err := n.Apply(context.Background(), c); err != nil {
			r.Fatalf("apply: %v", err)
		}
		return start, time.Since(start)
	}
	pad := out.view.median()
	first := watch.completed()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; time.Now().Before(deadline) && (watch.completed()-first < 5 || len(out.during) < 200 || len(out.quiet) < 200); i++ {
		at, d := write(i)
		if watch.overlaps(at, at.Add(d).Add(pad)) {
			out.during = append(out.during, d)
		} else {
			out.quiet = append(out.quiet, d)
		}
	}
	out.snapshots = watch.completed()
	return out
}

// fileSink is a raft.SnapshotSink writing to a file.
type fileSink struct{ *os.File }

func newFileSink(path string) (*fileSink, error) {
	f, err := os.Create(path)
	return &fileSink{f}, err
}

func (s *fileSink) ID() string { return "bench" }
func (s *fileSink) Cancel() error {
	return errors.Join(s.File.Close(), os.Remove(s.Name()))
}
func (s *fileSink) Close() error { return errors.Join(s.File.Sync(), s.File.Close()) }

type largeProcess struct {
	restore                   time.Duration
	afterRestore, peakRestore int64
	afterReads                int64
	list, overview            latencies
	save                      time.Duration
	peakSave                  int64
}

// measureLargeProcess restores the backup into a real honuad and measures
// the reads an operator's dashboards make.
func measureLargeProcess(r *benchrun.Runner, b backupFile, envs int) largeProcess {
	var p largeProcess
	c := harness.Start(r, 1, harness.Options{Args: []string{"--history-retention", "100"}})
	n := c.Nodes()[0]
	waitReady(r, n)
	pid := n.PID()
	ctl := harness.BuildHonuactl(r)
	resetHWM(pid)
	start := time.Now()
	honuactl(r, ctl, n, "snapshot", "restore", b.path, "--yes")
	p.restore = time.Since(start)
	p.afterRestore = procStatus(r, pid, "VmRSS")
	p.peakRestore = procStatus(r, pid, "VmHWM")
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		env := envName(envs, 1+rng.IntN(envs))
		var list []json.RawMessage
		start := time.Now()
		if err := get(n, "/v1/deployments?env="+env, &list); err != nil {
			r.Fatalf("%s: %v", n, err)
		}
		p.list = append(p.list, time.Since(start))
		if len(list) == 0 {
			r.Fatalf("GET /v1/deployments?env=%s: none", env)
		}
	}
	for range 50 {
		var list []json.RawMessage
		start := time.Now()
		if err := get(n, "/v1/environments", &list); err != nil || len(list) != envs {
			r.Fatalf("%s: GET /v1/environments: %d environments, %v; want %d", n, len(list), err, envs)
		}
		p.overview = append(p.overview, time.Since(start))
	}
	p.afterReads = procStatus(r, pid, "VmRSS")
	resetHWM(pid)
	start = time.Now()
	honuactl(r, ctl, n, "snapshot", "save", filepath.Join(r.TempDir(), "large-saved.snap"))
	p.save = time.Since(start)
	p.peakSave = procStatus(r, pid, "VmHWM")
	return p
}

// envName is the name of the i-th environment (from 1) of a fill of envs.
func envName(envs, i int) string {
	if envs > 999 {
		return "env-" + fmt.Sprintf("%04d", i)
	}
	return "env-" + fmt.Sprintf("%03d", i)
}
