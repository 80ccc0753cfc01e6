package cluster

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// countingReader serves size bytes of fill, after prefix, and counts what
// was read: a body of any size that takes no memory.
type countingReader struct {
	prefix string
	fill   byte
	size   int64
	read   int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	if r.read >= r.size {
		return 0, io.EOF
	}
	n := int64(len(p))
	if rest := r.size - r.read; n > rest {
		n = rest
	}
	for i := range p[:n] {
		if off := r.read + int64(i); off < int64(len(r.prefix)) {
			p[i] = r.prefix[off]
		} else {
			p[i] = r.fill
		}
	}
	r.read += n
	return int(n), nil
}

// TestReadBackupRefusesABadStartAtOnce: what is not a backup is refused
// once its first line shows it, having read only that line (at most
// maxBackupHeader bytes and a buffer), not everything up to the first
// newline or the size limit.
func TestReadBackupRefusesABadStartAtOnce(t *testing.T) {
	const size = 32 << 20
	tests := []struct {
		name   string
		prefix string
		fill   byte
		want   string
	}{
		{"no newline at all", "", 'x', "no header line"},
		{"a long first line", `{"format":"honua-backup","version":1,"node":"`, 'n', "no header line"},
		{"another file", "PK\x03\x04\n", 'z', "not a honua backup header"},
		{"another format", `{"format":"tarball","version":1}` + "\n", 'z', "not a honua backup header"},
		{"a later version", `{"format":"honua-backup","version":2,"size":1}` + "\n", 'z', "version 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &countingReader{prefix: tt.prefix, fill: tt.fill, size: size}
			_, _, err := readBackup(r, testSpool(t))
			if !errors.Is(err, ErrBadBackup) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("readBackup = %v; want ErrBadBackup saying %q", err, tt.want)
			}
			if r.read > 64<<10 {
				t.Errorf("readBackup read %d bytes of a %d-byte body before refusing it; want at most 64 KiB", r.read, size)
			}
		})
	}
}

// testSpool returns a file in the test's temp dir to keep a backup's state.
func testSpool(t testing.TB) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "restore-*.tmp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// preparedBytes returns the bytes of a prepared snapshot.
func preparedBytes(t testing.TB, p *fsm.PreparedSnapshot) []byte {
	t.Helper()
	b, err := io.ReadAll(p.Reader())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReadBackupOnAFullDisk: a backup whose state cannot be kept (the disk
// is full: /dev/full refuses every write with ENOSPC) is not called a bad
// backup; the error says where it could not be kept, and why.
func TestReadBackupOnAFullDisk(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("open /dev/full: %v", err)
	}
	defer full.Close()
	_, _, err = readBackup(bytes.NewReader(wrapBackup(fuzzState2(t))), spoolWriter{f: full, dir: "/var/lib/honua"})
	if err == nil || errors.Is(err, ErrBadBackup) || !errors.Is(err, syscall.ENOSPC) ||
		!strings.Contains(err.Error(), "keep its state in /var/lib/honua") {
		t.Fatalf("readBackup onto a full disk = %v; want ENOSPC, saying where, and not ErrBadBackup", err)
	}
}

// TestRestartRemovesAnInterruptedRestore: a node that crashed while it kept
// a backup to restore (restore-*.tmp in its data dir) removes the file when
// it starts again, and keeps everything else.
func TestRestartRemovesAnInterruptedRestore(t *testing.T) {
	tc := newTestCluster(t, 1)
	tn := tc.nodes[0]
	tc.stop(tn, false)
	left := filepath.Join(tn.cfg.DataDir, "restore-123.tmp")
	other := filepath.Join(tn.cfg.DataDir, "restore-notes.txt")
	for _, f := range []string{left, other} {
		if err := os.WriteFile(f, []byte("state"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tc.restart(tn)
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after a restart, %s: %v; want it removed", left, err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("after a restart, %s: %v; want it kept", other, err)
	}
}
