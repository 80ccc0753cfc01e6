package e2e

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// openRaftLog opens, read-only, the raft log store in a stopped node's data
// dir.
func openRaftLog(t *testing.T, dataDir string) *raftboltdb.BoltStore {
	t.Helper()
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(dataDir, "raft", "raft.db"),
		BoltOptions: &bbolt.Options{ReadOnly: true, Timeout: 5 * time.Second},
	})
	if err != nil {
		t.Fatalf("open raft log in %s: %v", dataDir, err)
	}
	return store
}

// raftLastIndex returns the last index of a stopped node's raft log; 0 means
// it never bootstrapped or joined a cluster.
func raftLastIndex(t *testing.T, dataDir string) uint64 {
	t.Helper()
	store := openRaftLog(t, dataDir)
	defer store.Close()
	idx, err := store.LastIndex()
	if err != nil {
		t.Fatalf("read raft log in %s: %v", dataDir, err)
	}
	return idx
}

// raftServers returns the sorted ids of the latest raft configuration in a
// stopped node's log (honuad's logs are far below the snapshot threshold in
// these tests, so the log holds every configuration).
func raftServers(t *testing.T, dataDir string) []string {
	t.Helper()
	store := openRaftLog(t, dataDir)
	defer store.Close()
	first, err := store.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err := store.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := max(first, 1); i <= last; i++ {
		var l raft.Log
		if err := store.GetLog(i, &l); err != nil {
			t.Fatalf("read raft log entry %d in %s: %v", i, dataDir, err)
		}
		if l.Type != raft.LogConfiguration {
			continue
		}
		ids = ids[:0]
		for _, s := range raft.DecodeConfiguration(l.Data).Servers {
			ids = append(ids, string(s.ID))
		}
	}
	slices.Sort(ids)
	return ids
}
