package cluster

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// A backup is one JSON header line, then the FSM snapshot it describes:
//
//	{"format":"honua-backup","version":1,"index":…,"term":…,"size":…,"sha256":"…"}
//	<the FSM snapshot, as Persist writes it>
//
// The snapshot is of either format fsm.Restore reads: version 2 (records
// streamed one a line) since this binary, version 1 (one JSON object) in
// the backups of the binaries before it.
const (
	backupFormat  = "honua-backup"
	backupVersion = 1
	// maxBackup bounds a backup read back in.
	maxBackup = 1 << 30
	// maxBackupHeader bounds a backup's header line: what holds no line
	// in its first 4 KiB is not a backup.
	maxBackupHeader = 4 << 10
)

// RestoreTimeout bounds how long raft takes to install a restored backup.
const RestoreTimeout = 2 * time.Minute

// ErrBadBackup: a backup that is not one, is truncated, or fails its
// checksum.
var ErrBadBackup = errors.New("not a valid honua backup")

type backupHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Index   uint64 `json:"index"`
	Term    uint64 `json:"term"`
	Size    int    `json:"size"`
	SHA256  string `json:"sha256"`
	Node    string `json:"node"`
	Time    string `json:"time"`
}

// SaveBackup writes a consistent backup of the replicated state to w. It
// runs on the leader, after a Barrier, so the backup holds every entry
// committed before it was asked for.
func (n *Node) SaveBackup(w io.Writer) error {
	b, err := n.Backup()
	if err != nil {
		return err
	}
	_, err = b.WriteTo(w)
	return err
}

// Backup is a consistent backup of the replicated state, ready to write:
// its size is known before its first byte is written, and writing it
// holds no more than a point-in-time copy of the records (fsm.View), never
// the encoded state whole.
type Backup struct {
	header []byte
	view   *fsm.SnapshotView
	size   int64
}

// Backup takes a backup of the replicated state, as SaveBackup writes it,
// to write with WriteTo. It runs on the leader, after a Barrier.
func (n *Node) Backup() (*Backup, error) {
	if err := n.Barrier(30 * time.Second); err != nil {
		return nil, fmt.Errorf("save backup: %w", err)
	}
	// The header comes first and holds the snapshot's size and checksum:
	// the snapshot is encoded twice from one point-in-time view, once to
	// count and hash it, once to write it, rather than held in memory.
	index, term := n.raft.AppliedIndex(), n.raft.CurrentTerm()
	view := n.fsm.View()
	sum := sha256.New()
	size, err := view.WriteTo(sum)
	if err != nil {
		return nil, fmt.Errorf("save backup: %w", err)
	}
	h := backupHeader{Format: backupFormat, Version: backupVersion, Index: index,
		Term: term, Size: int(size), SHA256: hex.EncodeToString(sum.Sum(nil)), Node: n.cfg.NodeID,
		Time: time.Now().UTC().Format(time.RFC3339)}
	line, _ := json.Marshal(h)
	line = append(line, '\n')
	return &Backup{header: line, view: view, size: int64(len(line)) + size}, nil
}

// Size returns how many bytes WriteTo writes.
func (b *Backup) Size() int64 { return b.size }

// WriteTo writes the backup to w: the header line, then the snapshot.
func (b *Backup) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(b.header)
	if err != nil {
		return int64(n), fmt.Errorf("save backup: %w", err)
	}
	m, err := b.view.WriteTo(w)
	if err != nil {
		return int64(n) + m, fmt.Errorf("save backup: %w", err)
	}
	if total := int64(n) + m; total != b.size {
		return total, fmt.Errorf("save backup: wrote %d bytes where the header says %d", total, b.size)
	}
	return b.size, nil
}

// peekBackupHeader checks the header line at the start of br, whose
// buffer holds maxBackupHeader bytes, without consuming it: it reads no
// more than that buffer, so what is not a backup is refused before the
// rest of it is read. It returns the header and the length of its line.
func peekBackupHeader(br *bufio.Reader) (backupHeader, int, error) {
	var h backupHeader
	b, err := br.Peek(maxBackupHeader)
	i := bytes.IndexByte(b, '\n')
	switch {
	case i < 0 && err != nil && !errors.Is(err, io.EOF):
		return h, 0, fmt.Errorf("read the backup's header: %w", err)
	case i < 0 && len(b) == maxBackupHeader:
		return h, 0, fmt.Errorf("%w: no header line in the first %d bytes", ErrBadBackup, maxBackupHeader)
	case i < 0 || json.Unmarshal(b[:i], &h) != nil || h.Format != backupFormat:
		return h, 0, fmt.Errorf("%w: the first line is not a honua backup header", ErrBadBackup)
	case h.Version != backupVersion:
		return h, 0, fmt.Errorf("%w: backup format version %d (this binary reads %d)", ErrBadBackup, h.Version, backupVersion)
	case h.Size < 0 || h.Size > maxBackup:
		return h, 0, fmt.Errorf("%w: the header says %d bytes of state (at most %d)", ErrBadBackup, h.Size, maxBackup)
	}
	return h, i + 1, nil
}

// CheckBackupHeader checks the header line at the start of a backup read
// from r, reading at most 4 KiB of it, so that what is not a backup is
// refused before the rest is read. It returns the size the whole backup
// must have (its header line and state) and a reader of the whole backup,
// header included, to hand to RestoreBackup.
func CheckBackupHeader(r io.Reader) (size int64, backup io.Reader, err error) {
	br := bufio.NewReaderSize(r, maxBackupHeader)
	h, n, err := peekBackupHeader(br)
	if err != nil {
		return 0, nil, err
	}
	return int64(n) + int64(h.Size), br, nil
}

// readBackup checks a backup and returns its header and FSM snapshot,
// decoded. The snapshot's bytes are written to spool, which the returned
// snapshot reads again (raft stores them, and the FSM compares what it
// restores with them): a file rather than memory, so a restore holds the
// decoded state, not also the backup's bytes.
func readBackup(r io.Reader, spool spoolFile) (backupHeader, *fsm.PreparedSnapshot, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, maxBackup), maxBackupHeader)
	h, lineLen, err := peekBackupHeader(br)
	if err != nil {
		return h, nil, err
	}
	if _, err := br.Discard(lineLen); err != nil {
		return h, nil, fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(spool, sum), io.LimitReader(br, int64(h.Size)))
	var werr *spoolError
	switch {
	case errors.As(err, &werr):
		return h, nil, werr.err
	case err != nil:
		// %w for err too: a body over its limit is 413, not 400.
		return h, nil, fmt.Errorf("%w: %w", ErrBadBackup, err)
	case n < int64(h.Size):
		return h, nil, fmt.Errorf("%w: %d bytes of state where the header says %d (truncated?)", ErrBadBackup, n, h.Size)
	}
	// Nothing may follow the state.
	if _, err := br.ReadByte(); err == nil {
		return h, nil, fmt.Errorf("%w: more than the %d bytes of state the header says", ErrBadBackup, h.Size)
	}
	if hex.EncodeToString(sum.Sum(nil)) != h.SHA256 {
		return h, nil, fmt.Errorf("%w: checksum mismatch", ErrBadBackup)
	}
	// Decode it here, so a bad backup never reaches raft (whose restore
	// cannot fail); the FSM's Restore installs what this decoded.
	prep, err := fsm.PrepareSnapshot(spool, n)
	if err != nil {
		return h, nil, fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	return h, prep, nil
}

// spoolFile is where a backup's state is kept while it is restored (an
// *os.File).
type spoolFile interface {
	io.Writer
	io.ReaderAt
}

// spoolError is a failure to write the spool, not a bad backup.
type spoolError struct{ err error }

func (e *spoolError) Error() string { return e.err.Error() }

// spoolWriter marks the errors of writing the spool as spoolErrors.
type spoolWriter struct {
	f   spoolFile
	dir string
}

func (w spoolWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		err = &spoolError{fmt.Errorf("restore backup: keep its state in %s: %w", w.dir, err)}
	}
	return n, err
}

func (w spoolWriter) ReadAt(p []byte, off int64) (int, error) { return w.f.ReadAt(p, off) }

// RestoreBackup replaces the cluster's replicated state with a backup's. It
// runs on the leader: raft takes the state as a snapshot past its current
// index and installs it on every follower. The cluster's membership is
// kept. Meant for disaster recovery; every deployment's record is replaced.
func (n *Node) RestoreBackup(r io.Reader) (uint64, error) {
	f, err := os.CreateTemp(n.cfg.DataDir, restoreSpoolPattern)
	if err != nil {
		return 0, fmt.Errorf("restore backup: keep its state in %s: %w", n.cfg.DataDir, err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	h, prep, err := readBackup(r, spoolWriter{f: f, dir: n.cfg.DataDir})
	if err != nil {
		return 0, err
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: h.Index, Term: h.Term, Size: prep.Size()}
	// raft writes the bytes to its snapshot store and has the FSM restore
	// them from there: the FSM installs the state decoded above when it
	// reads these bytes, rather than decode them twice.
	withdraw := n.fsm.ExpectRestore(prep)
	err = n.raft.Restore(meta, prep.Reader(), RestoreTimeout)
	withdraw()
	prep = nil
	// The decoded copies are garbage now: hand them back to the OS rather
	// than keep them resident (restores are rare).
	debug.FreeOSMemory()
	if err != nil {
		return 0, fmt.Errorf("restore backup: %w", translate(err))
	}
	n.logger.Warn("replicated state replaced from a backup", "backup_index", h.Index, "backup_node", h.Node,
		"backup_time", h.Time, "applied_index", n.raft.AppliedIndex())
	return n.raft.AppliedIndex(), nil
}

// restoreSpoolPattern names the file a restore keeps a backup's state in,
// in the data dir.
const restoreSpoolPattern = "restore-*.tmp"

// removeRestoreSpools removes the files of restores that a crash
// interrupted. Call it only while holding the data dir.
func removeRestoreSpools(dataDir string, logger *slog.Logger) {
	left, _ := filepath.Glob(filepath.Join(dataDir, restoreSpoolPattern))
	for _, f := range left {
		if err := os.Remove(f); err != nil {
			logger.Warn("cannot remove the file of an interrupted restore", "file", f, "error", err)
			continue
		}
		logger.Info("removed the file of an interrupted restore", "file", f)
	}
}

// Peer is one server of a recovery configuration (peers.json).
type Peer struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	NonVoter bool   `json:"non_voter,omitempty"`
}

// Recover rewrites the raft configuration of a stopped node's data dir to
// peers, as Consul's peers.json does, so that a cluster that lost its
// quorum can start again from the survivors. The node's state is kept; its
// log is applied to a snapshot first. Every survivor must be recovered with
// the same peers before any of them starts.
func Recover(dataDir, nodeID string, peers []Peer) error {
	if len(peers) == 0 {
		return errors.New("recover: peers is empty")
	}
	var cfg raft.Configuration
	self := false
	for i, p := range peers {
		if p.ID == "" || p.Address == "" {
			return fmt.Errorf("recover: peers[%d]: id and address are required", i)
		}
		if err := CheckListenAddr(p.Address); err != nil {
			return fmt.Errorf("recover: peers[%d].address %q: %v", i, p.Address, err)
		}
		s := raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Address), Suffrage: raft.Voter}
		if p.NonVoter {
			s.Suffrage = raft.Nonvoter
		}
		self = self || p.ID == nodeID
		cfg.Servers = append(cfg.Servers, s)
	}
	if !self {
		return fmt.Errorf("recover: peers does not list this node (%s)", nodeID)
	}
	if b, err := os.ReadFile(filepath.Join(dataDir, "node-id")); err != nil {
		return fmt.Errorf("recover: data-dir %s: %w", dataDir, err)
	} else if got := string(bytes.TrimSpace(b)); got != nodeID {
		return fmt.Errorf("recover: data-dir %s belongs to node %q, not %q", dataDir, got, nodeID)
	}
	dir := filepath.Join(dataDir, "raft")
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db"), BoltOptions: &bbolt.Options{Timeout: time.Second}})
	if err != nil {
		if errors.Is(err, bbolt.ErrTimeout) {
			return fmt.Errorf("recover: data-dir %s is in use: stop the node first", dataDir)
		}
		return fmt.Errorf("recover: open log store: %w", err)
	}
	defer store.Close()
	snaps, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		return fmt.Errorf("recover: open snapshot store: %w", err)
	}
	_, trans := raft.NewInmemTransport(raft.ServerAddress(peers[0].Address))
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(nodeID)
	rc.Logger = newHCLog(nopLogger(), "raft")
	if err := raft.RecoverCluster(rc, fsm.New(nil), store, store, snaps, trans, cfg); err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	return nil
}
