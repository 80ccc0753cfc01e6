package fsm

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// TestListingByHistoryMatchesTheScan: listing one environment's
// deployments through its History gives what a scan of every deployment
// gives, on the state each golden log builds (applied, and restored), and
// a restored state whose histories do not list its deployments exactly
// (a deployment missing from its history, listed twice, or under another
// environment) is listed by the scan.
func TestListingByHistoryMatchesTheScan(t *testing.T) {
	var states []*FSM
	// Built by Apply: each golden log replayed.
	logs, _ := filepath.Glob("testdata/golden/*log.txt")
	for _, path := range logs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f := New(nil)
		for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			typ, payload, _ := strings.Cut(line, " ")
			n, err := strconv.ParseUint(typ, 10, 8)
			if err != nil {
				t.Fatalf("%s:%d: %v", path, i+1, err)
			}
			f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: append([]byte{byte(n)}, payload...)})
		}
		if !f.st.historyIndexed {
			t.Errorf("%s: applied, its histories are not taken as an index", path)
		}
		states = append(states, f)
	}
	snaps, _ := filepath.Glob("testdata/golden/*snapshot.json")
	for _, path := range snaps {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f := New(nil)
		if err := f.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
			t.Fatal(err)
		}
		if !f.st.historyIndexed {
			t.Errorf("%s: restored, its histories are not taken as an index", path)
		}
		states = append(states, f)
		for _, edit := range []struct{ from, to string }{
			{`"history":["`, `"history":["x-0","`}, // an id the state does not hold: still an index
		} {
			g := New(nil)
			if err := g.Restore(io.NopCloser(strings.NewReader(strings.Replace(string(b), edit.from, edit.to, 1)))); err == nil {
				states = append(states, g)
			}
		}
	}
	broken := []struct{ name, snap string }{
		{"missing from its history", `{"version":1,"appliedIndex":3,"state":{"deploymentSeq":2,"deployments":{` +
			`"a-1":{"id":"a-1","environment":"a","state":"Completed","transitions":[]},` +
			`"a-2":{"id":"a-2","environment":"a","state":"Completed","transitions":[]}},` +
			`"environments":{"a":{"name":"a","history":["a-1"]}}}}`},
		{"listed twice", `{"version":1,"appliedIndex":3,"state":{"deploymentSeq":2,"deployments":{` +
			`"a-1":{"id":"a-1","environment":"a","state":"Completed","transitions":[]}},` +
			`"environments":{"a":{"name":"a","history":["a-1","a-1"]}}}}`},
		{"under another environment", `{"version":1,"appliedIndex":3,"state":{"deploymentSeq":2,"deployments":{` +
			`"a-1":{"id":"a-1","environment":"a","state":"Completed","transitions":[]}},` +
			`"environments":{"a":{"name":"a","history":[]},"b":{"name":"b","history":["a-1"]}}}}`},
	}
	for _, tt := range broken {
		f := New(nil)
		if err := f.Restore(io.NopCloser(strings.NewReader(tt.snap))); err != nil {
			t.Fatalf("%s: Restore = %v", tt.name, err)
		}
		if f.st.historyIndexed {
			t.Errorf("%s: its histories are taken as an index", tt.name)
		}
		states = append(states, f)
	}
	for i, f := range states {
		indexed := f.st.historyIndexed
		envs := []string{"", "nope"}
		for name := range f.st.Environments {
			envs = append(envs, name)
		}
		for _, env := range envs {
			for _, st := range append([]DeploymentState{0}, AllStates...) {
				for _, limit := range []int{0, 1} {
					got := f.BriefDeployments(env, st, limit)
					f.st.historyIndexed = false
					want := f.BriefDeployments(env, st, limit)
					f.st.historyIndexed = indexed
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("state %d: BriefDeployments(%q, %q, %d) = %d deployments; the scan gives %d", i, env, st, limit, len(got), len(want))
					}
				}
			}
		}
	}
}
