package chaos

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/honua-io/honua-gitops/test/harness"
)

// diskFullSkip says why the disk-full fault cannot run.
func (r *Run) diskFullSkip() string {
	if len(r.tmpfs) == 0 {
		return "the data dirs are not on tmpfs (needs root and Options.TmpfsDataDirs)"
	}
	return ""
}

// diskFull: fill a follower's data dir (its own tmpfs) to the last byte,
// let the workload run, free the space again, and start the follower
// again if it exited. It must catch up. (With hashicorp/raft's pipelined
// replication it did not always: a follower that answered an append with
// Success=false could be left behind for good, raft#612; honuad turns
// pipelining off. TestFollowerDiskFullRecovers repeats this fault.)
func (r *Run) diskFull() {
	r.t.Helper()
	if stuck := r.fillFollowerDisk(); stuck != nil {
		leader, follower := stuck[0], stuck[1]
		r.dumpStacks(leader)
		r.t.Fatalf("disk-full: %s did not catch up within %v of its disk being freed; the leader %s's goroutines are in its saved log",
			follower.ID(), stuckAfter, leader.ID())
	}
}

// stuckAfter is how long a follower whose disk was freed may take to catch
// up before the disk-full fault calls it stuck.
const stuckAfter = 30 * time.Second

// fillFollowerDisk fills a follower's data dir, lets the workload run,
// frees it, and waits for the follower to catch up. When it does not
// within stuckAfter, it returns the leader and the follower.
func (r *Run) fillFollowerDisk() (stuck []*harness.Node) {
	r.t.Helper()
	leader := r.leader()
	var candidates []*harness.Node
	for _, n := range r.members() {
		if n != leader && !n.Paused() && r.tmpfs[n.ID()] != "" {
			candidates = append(candidates, n)
		}
	}
	if len(candidates) == 0 {
		// Replaced members have ordinary data dirs.
		r.Logf("disk-full: no follower has its data dir on a tmpfs any more; nothing to fill")
		return nil
	}
	f := pick(r.rng, candidates)
	mount := r.tmpfs[f.ID()]
	filler := filepath.Join(mount, "filler")
	n, err := fill(filler)
	if err != nil {
		r.t.Fatalf("fill %s: %v", mount, err)
	}
	r.Logf("filled %s's data dir (%s) with %d MiB: no space left", f.ID(), mount, n>>20)
	r.idle(r.between(2*time.Second, 4*time.Second))
	exited := !f.Running()
	if err := os.Remove(filler); err != nil {
		r.t.Fatal(err)
	}
	lines := linesWith(f.Log(), "no space left")
	r.Logf("freed %s's data dir; it had exited: %v; %d log lines say no space left, the last: %q",
		f.ID(), exited, len(lines), lines[max(0, len(lines)-2):])
	r.note("disk-full: %s exited: %v; %d log lines say no space left, about: %v", f.ID(), exited, len(lines), messages(lines))
	if exited {
		code, _ := f.Wait(time.Second)
		r.Logf("%s exited with status %d; starting it again", f.ID(), code)
		f.Restart()
	}
	leader, err = r.catchUp(stuckAfter, f)
	if err != nil {
		r.Logf("%v", err)
		return []*harness.Node{leader, f}
	}
	return nil
}

// linesWith returns the lines of log that contain substr.
func linesWith(log, substr string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(strings.ToLower(l), substr) {
			out = append(out, l)
		}
	}
	return out
}

// messages returns the distinct msg= values of slog lines.
func messages(lines []string) []string {
	var out []string
	for _, l := range lines {
		_, rest, ok := strings.Cut(l, `msg="`)
		if !ok {
			continue
		}
		msg, _, _ := strings.Cut(rest, `"`)
		if !slices.Contains(out, msg) {
			out = append(out, msg)
		}
	}
	return out
}

// fill writes path until the file system is full and returns how many
// bytes it wrote.
func fill(path string) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		w, err := f.Write(buf)
		n += int64(w)
		if err != nil {
			if isNoSpace(err) {
				// Fill the last partial blocks too.
				for size := len(buf) / 2; size > 0; size /= 2 {
					for {
						w, err := f.Write(buf[:size])
						n += int64(w)
						if err != nil {
							break
						}
					}
				}
				return n, nil
			}
			return n, err
		}
	}
}
