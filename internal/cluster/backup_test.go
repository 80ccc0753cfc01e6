package cluster

import (
	"errors"
	"io"
	"strings"
	"testing"
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
			_, _, err := readBackup(r)
			if !errors.Is(err, ErrBadBackup) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("readBackup = %v; want ErrBadBackup saying %q", err, tt.want)
			}
			if r.read > 64<<10 {
				t.Errorf("readBackup read %d bytes of a %d-byte body before refusing it; want at most 64 KiB", r.read, size)
			}
		})
	}
}
