package cluster

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/honua-io/honua-gitops/internal/fsm"
	"github.com/honua-io/honua-gitops/internal/fsm/fsmtest"
)

// fuzzState returns the snapshot of an FSM holding a few deployments.
func fuzzState(t testing.TB) []byte {
	a := fsmtest.New()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []fsm.Command{
		&fsm.CreateDeployment{Environment: "prod", Commit: "c1", Kind: fsm.KindAuto, Initiator: "w", Time: at},
		&fsm.TransitionDeployment{ID: "prod-1", To: fsm.StateValidating, Time: at, Plan: json.RawMessage(`{"x":1}`)},
		&fsm.ObserveCommit{Environment: "qa", Commit: "c2", Time: at},
	} {
		a.Must(t, c)
	}
	data, err := a.FSM.Dump()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// fuzzState2 returns the same state as fuzzState, in the snapshot format
// of version 2 (as SaveBackup writes it).
func fuzzState2(t testing.TB) []byte {
	f := fsm.New(nil)
	if err := f.Restore(io.NopCloser(bytes.NewReader(fuzzState(t)))); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := f.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// wrapBackup puts a backup's header line, true to state, before state.
func wrapBackup(state []byte) []byte {
	sum := sha256.Sum256(state)
	line, _ := json.Marshal(backupHeader{Format: backupFormat, Version: backupVersion, Index: 9, Term: 2,
		Size: len(state), SHA256: hex.EncodeToString(sum[:]), Node: "n1", Time: "2026-01-02T03:04:05Z"})
	return append(append(line, '\n'), state...)
}

// FuzzReadBackup feeds arbitrary bytes to the parsing of a backup given to
// snapshot restore: CheckBackupHeader (on every node that takes the
// request) and readBackup (on the leader). With wrap, the bytes are a state
// put behind a true header, so that the fuzzer reaches the snapshot itself.
// Properties:
//   - every refusal wraps ErrBadBackup (a 400, not a 500);
//   - CheckBackupHeader refuses what readBackup refuses for its header, and
//     when readBackup accepts, CheckBackupHeader announces the backup's
//     exact size and hands back every byte;
//   - what readBackup accepts is the bytes after the header line, and the
//     FSM restores it without an error or a panic (it reaches every node);
//   - memory follows the bytes given, not the size a header claims.
func FuzzReadBackup(f *testing.F) {
	state := fuzzState(f)
	empty, err := fsm.New(nil).Dump()
	if err != nil {
		f.Fatal(err)
	}
	good := wrapBackup(state)
	f.Add(good, false)
	// The version 2 format, which backups hold since it.
	state2 := fuzzState2(f)
	good2 := wrapBackup(state2)
	f.Add(good2, false)
	f.Add(state2, true)
	f.Add(good2[:len(good2)-1], false)
	f.Add(good2[:len(good2)-12], false)
	f.Add(append(bytes.Clone(state2), state2...), true)
	f.Add(wrapBackup(empty), false)
	f.Add(state, true)
	f.Add(empty, true)
	f.Add(good[:len(good)-1], false)
	f.Add(append(bytes.Clone(good), '\n'), false)
	f.Add([]byte(`{"format":"honua-backup","version":1,"size":-1}`+"\n"), false)
	f.Add([]byte(`{"format":"honua-backup","version":1,"size":1e3}`+"\n"), false)
	f.Add([]byte(`{"format":"honua-backup","version":1,"size":0}`+"\n"), false)
	f.Add([]byte(`{"format":"honua-backup","format":"x","version":1,"size":0}`+"\n"), false)
	f.Add([]byte("\n"), false)
	f.Add([]byte{}, false)
	f.Add([]byte("PK\x03\x04\x00\n"), false)
	f.Add([]byte(strings.Repeat("[", 5000)+"\n"), false)
	f.Add([]byte(`{"format":"honua-backup","version":1,"size":2}`+"\n\xff\x00"), false)
	f.Add([]byte(`{"version":1,"state":`+strings.Repeat(`{"a":`, 10000)+"}"), true)
	f.Fuzz(func(t *testing.T, raw []byte, wrap bool) {
		if wrap {
			raw = wrapBackup(raw)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		h, prep, err := readBackup(bytes.NewReader(raw), testSpool(t))
		runtime.ReadMemStats(&after)
		var data []byte
		if prep != nil {
			data = preparedBytes(t, prep)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20+64*uint64(len(raw)) {
			t.Fatalf("readBackup of %d bytes allocated %d bytes (header size %d)", len(raw), grew, h.Size)
		}
		size, whole, herr := CheckBackupHeader(bytes.NewReader(raw))
		if herr != nil && !errors.Is(herr, ErrBadBackup) {
			t.Fatalf("CheckBackupHeader(%q) = %v; want an error wrapping ErrBadBackup", raw, herr)
		}
		if err != nil {
			if !errors.Is(err, ErrBadBackup) {
				t.Fatalf("readBackup(%q) = %v; want an error wrapping ErrBadBackup", raw, err)
			}
			return
		}
		if herr != nil {
			t.Fatalf("readBackup accepted %q, but CheckBackupHeader refused it: %v", raw, herr)
		}
		if size != int64(len(raw)) {
			t.Fatalf("CheckBackupHeader(%q) announced %d bytes; the backup has %d", raw, size, len(raw))
		}
		if got, _ := io.ReadAll(whole); !bytes.Equal(got, raw) {
			t.Fatalf("CheckBackupHeader's reader gave %q; want the whole backup %q", got, raw)
		}
		if i := bytes.IndexByte(raw, '\n'); !bytes.Equal(data, raw[i+1:]) {
			t.Fatalf("readBackup(%q) = state %q; want the bytes after the header line", raw, data)
		}
		if err, panicked := restoreFSM(data); panicked != nil || err != nil {
			t.Fatalf("readBackup accepted the state %q, which the FSM then refuses: %v (panic: %v)", data, err, panicked)
		}
	})
}

// restoreFSM restores data into a new FSM, as raft does on every node.
func restoreFSM(data []byte) (err error, panicked any) {
	defer func() {
		if p := recover(); p != nil {
			panicked = fmt.Sprint(p)
		}
	}()
	return fsm.New(nil).Restore(io.NopCloser(bytes.NewReader(data))), nil
}
