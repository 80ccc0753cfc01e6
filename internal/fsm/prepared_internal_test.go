package fsm

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// preparedFixture returns two FSMs with different states and their
// snapshots.
func preparedFixture(t *testing.T) (a, b []byte) {
	t.Helper()
	enc := func(envs ...string) []byte {
		f := New(nil)
		for i, env := range envs {
			c, _ := Encode(&ObserveCommit{Environment: env, Commit: "c1", Time: time.Unix(int64(i), 0).UTC()})
			f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: c})
		}
		var buf bytes.Buffer
		if _, err := f.WriteSnapshot(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	return enc("prod", "staging"), enc("dev")
}

// largeSnapshot returns the snapshot of an FSM with many environments,
// larger than the chunks Restore compares, and the same snapshot with the
// commit of its last environment changed.
func largeSnapshot(t *testing.T) (a, changed []byte) {
	t.Helper()
	f := New(nil)
	for i := range 3000 {
		c, _ := Encode(&ObserveCommit{Environment: fmt.Sprintf("env-%04d", i), Commit: "c1", Time: time.Unix(int64(i), 0).UTC()})
		f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: c})
	}
	var buf bytes.Buffer
	if _, err := f.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	a = buf.Bytes()
	if len(a) < 3*64<<10 {
		t.Fatalf("the large snapshot is %d bytes; want more than three chunks", len(a))
	}
	i := bytes.LastIndex(a, []byte(`"c1"`))
	changed = bytes.Clone(a)
	copy(changed[i:], `"c2"`)
	return a, changed
}

// TestRestoreInstallsThePreparedSnapshot: a Restore that reads the bytes
// ExpectRestore was told of installs the state PrepareSnapshot decoded,
// not a second decode; one that reads other bytes (longer, shorter,
// different) decodes what it read; an expectation serves once.
func TestRestoreInstallsThePreparedSnapshot(t *testing.T) {
	a, b := preparedFixture(t)
	large, changed := largeSnapshot(t)
	dumpAfter := func(data []byte) []byte {
		f := New(nil)
		if err := f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			t.Fatal(err)
		}
		d, _ := f.Dump()
		return d
	}
	tests := []struct {
		name      string
		prepared  []byte
		read      []byte
		installed bool
	}{
		{"the same bytes", a, a, true},
		{"other bytes", a, b, false},
		{"a prefix", a, a[:len(a)-5], false},
		{"more bytes", a, append(bytes.Clone(a), '\n'), false},
		{"the same bytes, many chunks", large, large, true},
		{"a change after the first chunks", large, changed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := PrepareSnapshot(bytes.NewReader(tt.prepared), int64(len(tt.prepared)))
			if err != nil {
				t.Fatalf("PrepareSnapshot() = %v", err)
			}
			want := p.st
			f := New(nil)
			withdraw := f.ExpectRestore(p)
			defer withdraw()
			err = f.Restore(io.NopCloser(bytes.NewReader(tt.read)))
			if tt.name == "a prefix" {
				if err == nil || !strings.Contains(err.Error(), "version 2") {
					t.Fatalf("Restore(a prefix) = %v; want it refused, cut mid-record", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Restore() = %v", err)
			}
			if got := f.st == want; got != tt.installed {
				t.Errorf("Restore() installed the prepared state: %v; want %v", got, tt.installed)
			}
			if got, w := must(f.Dump()), dumpAfter(bytes.TrimRight(tt.read, "\n")); !bytes.Equal(got, w) {
				t.Errorf("Restore() holds\n%s\nwant\n%s", got, w)
			}
			if !tt.installed {
				return
			}
			// Served once: the same expectation does not install it again.
			g := New(nil)
			g.ExpectRestore(p)
			if err := g.Restore(io.NopCloser(bytes.NewReader(tt.prepared))); err != nil {
				t.Fatal(err)
			}
			if g.st == want {
				t.Errorf("a second Restore installed the same prepared state again")
			}
		})
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
