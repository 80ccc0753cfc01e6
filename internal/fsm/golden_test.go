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
// They were written by the binary of December 2026, before the FSM's
// command table was refactored. Never regenerate them to make a test pass:
// a difference means an old log or snapshot would now be read differently.
// To pin a new command type, add a line to log.txt, delete results.txt and
// snapshot.json, run with -golden.write and review the diff.
var writeGolden = flag.Bool("golden.write", false, "write testdata/golden/results.txt and snapshot.json where missing")

const goldenDir = "testdata/golden"

// readGoldenLog returns the entries of testdata/golden/log.txt.
func readGoldenLog(t *testing.T) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, "log.txt"))
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
			t.Fatalf("log.txt:%d: want <type byte> <payload>, got %q", n, sc.Text())
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

// TestGoldenLog: every entry of the golden log decodes, encodes back to the
// same bytes, and applies with the same result as when it was written, and
// the state after the whole log dumps to the golden snapshot.
func TestGoldenLog(t *testing.T) {
	entries := readGoldenLog(t)
	f := fsm.New(nil)
	seen := map[fsm.CommandType]bool{}
	var results bytes.Buffer
	for i, e := range entries {
		index := uint64(i + 1)
		c, err := fsm.Decode(e)
		switch {
		case err != nil && e[0]&byte(fsm.IgnoreUnknownFlag) == 0:
			t.Fatalf("log.txt:%d: Decode(%q) = %v; want it to decode as it did", index, e, err)
		case err == nil:
			seen[c.Type()] = true
			if enc, err := fsm.Encode(c); err != nil || !bytes.Equal(enc, e) {
				t.Errorf("log.txt:%d: Encode(Decode(%q)) = %q, %v; want the same bytes", index, e, enc, err)
			}
		}
		res := f.Apply(&raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: e})
		fmt.Fprintln(&results, goldenResult(index, res))
	}
	for _, typ := range fsm.CommandTypes() {
		if !seen[typ] {
			t.Errorf("log.txt holds no entry of command type %d; want every type pinned", typ)
		}
	}
	checkGolden(t, "results.txt", results.Bytes())
	checkGolden(t, "snapshot.json", dumpOf(t, f))
}

// TestGoldenSnapshot: the golden snapshot restores, and dumps to the same
// bytes.
func TestGoldenSnapshot(t *testing.T) {
	want, err := os.ReadFile(filepath.Join(goldenDir, "snapshot.json"))
	if err != nil {
		t.Fatal(err)
	}
	f := fsm.New(nil)
	if err := f.Restore(readCloserOf(want)); err != nil {
		t.Fatalf("Restore(golden snapshot) = %v; want no error", err)
	}
	if got := dumpOf(t, f); !bytes.Equal(got, want) {
		t.Errorf("Dump() after Restore(golden snapshot) =\n%s\nwant\n%s", got, want)
	}
}
