package fsm_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// The golden files pin the formats users' clusters hold on disk: raft log
// entries and snapshots written by released binaries must decode, apply and
// restore the same way on every later binary.
//
//	testdata/golden/log.txt        one log entry a line: the type byte in decimal, a space, the payload
//	testdata/golden/results.txt    what applying each entry returned, one line each
//	testdata/golden/snapshot.json  FSM.Dump after the whole log
//
// and so do notifications-log.txt, notifications-results.txt and
// notifications-snapshot.json for the notification outbox's commands (a
// log of its own, started on an empty FSM, so that the files above stay as
// the binary before the outbox wrote them), and daytwo-*.txt/json for the
// day-two controls (suspend and resume, cancel, window override), and
// drift-*.txt/json for SetDrift and self-heal deployments, and rollout-*.txt/json for
// RecordWave. Between them the logs hold an
// entry of every command type.
//
// They were written by the binary of December 2026, before the FSM's
// command table was refactored. Never regenerate them to make a test pass:
// a difference means an old log or snapshot would now be read differently.
// To pin a new command type, add a line to log.txt, delete results.txt and
// snapshot.json, run with -golden.write and review the diff.
var writeGolden = flag.Bool("golden.write", false, "write testdata/golden/results.txt and snapshot.json where missing")

const goldenDir = "testdata/golden"

// goldenLog names the files of one golden log.
type goldenLog struct{ log, results, snapshot string }

// goldenLogs are the golden logs, each applied to an empty FSM.
var goldenLogs = []goldenLog{
	{"log.txt", "results.txt", "snapshot.json"},
	{"notifications-log.txt", "notifications-results.txt", "notifications-snapshot.json"},
	{"daytwo-log.txt", "daytwo-results.txt", "daytwo-snapshot.json"},
	{"drift-log.txt", "drift-results.txt", "drift-snapshot.json"},
	{"rollout-log.txt", "rollout-results.txt", "rollout-snapshot.json"},
}

// readGoldenLog returns the entries of the golden log file name.
func readGoldenLog(t *testing.T, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var entries [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		typ, payload, ok := strings.Cut(sc.Text(), " ")
		tb, err := strconv.ParseUint(typ, 10, 8)
		if !ok || err != nil {
			t.Fatalf("%s:%d: want <type byte> <payload>, got %q", name, n, sc.Text())
		}
		entries = append(entries, append([]byte{byte(tb)}, payload...))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return entries
}

// goldenResult describes what Apply returned for one entry: the result as
// JSON, or the error with the conditions it wraps.
func goldenResult(index uint64, res any) string {
	if err, ok := res.(error); ok {
		var conds []string
		for _, s := range wrappedSentinels(err) {
			conds = append(conds, s.Error())
		}
		return fmt.Sprintf("%d error [%s] %s", index, strings.Join(conds, ","), err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Sprintf("%d unencodable %T: %v", index, res, err)
	}
	return fmt.Sprintf("%d ok %T %s", index, res, b)
}

// checkGolden compares got with the golden file name, or writes it when
// -golden.write is set and the file is missing.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	want, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && *writeGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("%s differs at line %d:\ngot  %s\nwant %s", path, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("%s differs: got %d lines, want %d", path, len(gl), len(wl))
	}
}

// namesAnUnknownState reports whether c is a transition to a state name
// this version does not know.
func namesAnUnknownState(c fsm.Command) bool {
	tr, ok := c.(*fsm.TransitionDeployment)
	return ok && !tr.To.Valid()
}

// TestGoldenLog: every entry of each golden log decodes, encodes back to
// the same bytes, and applies with the same result as when it was written,
// and the state after the whole log dumps to the log's golden snapshot.
func TestGoldenLog(t *testing.T) {
	seen := map[fsm.CommandType]bool{}
	for _, g := range goldenLogs {
		entries := readGoldenLog(t, g.log)
		f := fsm.New(nil)
		var results bytes.Buffer
		for i, e := range entries {
			index := uint64(i + 1)
			c, err := fsm.Decode(e)
			switch {
			case err != nil && e[0]&byte(fsm.IgnoreUnknownFlag) == 0:
				t.Fatalf("%s:%d: Decode(%q) = %v; want it to decode as it did", g.log, index, e, err)
			case err == nil && namesAnUnknownState(c):
				// A state's name this version does not know decodes to no
				// state, which is refused when applied and never encodes.
				seen[c.Type()] = true
				if enc, err := fsm.Encode(c); err == nil {
					t.Errorf("%s:%d: Encode(Decode(%q)) = %q; want an error, an unknown state never encodes", g.log, index, e, enc)
				}
			case err == nil:
				seen[c.Type()] = true
				if enc, err := fsm.Encode(c); err != nil || !bytes.Equal(enc, e) {
					t.Errorf("%s:%d: Encode(Decode(%q)) = %q, %v; want the same bytes", g.log, index, e, enc, err)
				}
			}
			res := f.Apply(&raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: e})
			fmt.Fprintln(&results, goldenResult(index, res))
		}
		checkGolden(t, g.results, results.Bytes())
		checkGolden(t, g.snapshot, dumpOf(t, f))
	}
	for _, typ := range fsm.CommandTypes() {
		if !seen[typ] {
			t.Errorf("no golden log holds an entry of command type %d; want every type pinned", typ)
		}
	}
}

// TestGoldenSnapshot: each golden snapshot restores, and dumps to the same
// bytes.
func TestGoldenSnapshot(t *testing.T) {
	for _, g := range goldenLogs {
		want, err := os.ReadFile(filepath.Join(goldenDir, g.snapshot))
		if err != nil {
			t.Fatal(err)
		}
		f := fsm.New(nil)
		if err := f.Restore(readCloserOf(want)); err != nil {
			t.Fatalf("Restore(%s) = %v; want no error", g.snapshot, err)
		}
		if got := dumpOf(t, f); !bytes.Equal(got, want) {
			t.Errorf("Dump() after Restore(%s) =\n%s\nwant\n%s", g.snapshot, got, want)
		}
	}
}
