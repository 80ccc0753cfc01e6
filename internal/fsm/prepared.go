package fsm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// PreparedSnapshot is a snapshot decoded and checked ahead of the Restore
// that installs it: a restore of a backup decodes the backup once, to
// refuse a bad one before it reaches raft, and installs what that decode
// made rather than decode the same bytes again (see FSM.ExpectRestore).
type PreparedSnapshot struct {
	data    io.ReaderAt
	size    int64
	st      *state
	applied uint64
}

// PrepareSnapshot decodes and checks the snapshot whose size bytes data
// holds, as Restore would: the error Restore would return, or the decoded
// snapshot. data is read again by Reader and by the Restore that installs
// it (a backup's state is kept in a file, not in memory, while it is
// restored): it must not change afterwards.
func PrepareSnapshot(data io.ReaderAt, size int64) (*PreparedSnapshot, error) {
	st, applied, err := decodeSnapshot(bufio.NewReaderSize(io.NewSectionReader(data, 0, size), 64<<10))
	if err != nil {
		return nil, err
	}
	return &PreparedSnapshot{data: data, size: size, st: st, applied: applied}, nil
}

// Reader returns a reader of the snapshot's bytes.
func (p *PreparedSnapshot) Reader() io.Reader { return io.NewSectionReader(p.data, 0, p.size) }

// Size is the number of the snapshot's bytes.
func (p *PreparedSnapshot) Size() int64 { return p.size }

// prepared holds the snapshot the next Restore expects.
type prepared struct {
	mu sync.Mutex
	p  *PreparedSnapshot
}

// ExpectRestore tells the FSM that the next Restore reads p's bytes: if
// it does (Restore compares them as it reads, and nothing else), Restore
// installs p's decoded state instead of decoding them again; if it reads
// anything else, Restore decodes what it reads, as always. The returned
// func withdraws the expectation; call it once the restore is done or
// failed. p is installed at most once.
func (f *FSM) ExpectRestore(p *PreparedSnapshot) (withdraw func()) {
	f.prep.mu.Lock()
	f.prep.p = p
	f.prep.mu.Unlock()
	return func() {
		f.prep.mu.Lock()
		if f.prep.p == p {
			f.prep.p = nil
		}
		f.prep.mu.Unlock()
	}
}

// takePrepared returns the expected snapshot, if any, and forgets it.
func (f *FSM) takePrepared() *PreparedSnapshot {
	f.prep.mu.Lock()
	defer f.prep.mu.Unlock()
	p := f.prep.p
	f.prep.p = nil
	if p == nil || p.st == nil {
		return nil // none, or one already installed
	}
	return p
}

// readsSame reads r to its end and reports whether it held exactly p's
// bytes. When it did not, it returns a reader of everything r held, the
// bytes it compared included, for Restore to decode.
func (p *PreparedSnapshot) readsSame(r io.Reader) (bool, io.Reader, error) {
	buf, want := make([]byte, 64<<10), make([]byte, 64<<10)
	var off int64
	for {
		n, err := io.ReadFull(r, buf)
		chunk := buf[:n]
		m := int(min(int64(n), p.size-off))
		if _, rerr := p.data.ReadAt(want[:m], off); rerr != nil && !(errors.Is(rerr, io.EOF) && off+int64(m) == p.size) {
			return false, nil, fmt.Errorf("restore snapshot: read the prepared snapshot: %w", rerr)
		}
		if m != n || !bytes.Equal(want[:m], chunk) {
			// Not the expected bytes: hand back what was read, then the rest.
			return false, io.MultiReader(io.NewSectionReader(p.data, 0, off), bytes.NewReader(bytes.Clone(chunk)), r), nil
		}
		off += int64(n)
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			if off == p.size {
				return true, nil, nil
			}
			return false, io.NewSectionReader(p.data, 0, off), nil
		case err != nil:
			return false, nil, fmt.Errorf("restore snapshot: read: %w", err)
		}
	}
}
