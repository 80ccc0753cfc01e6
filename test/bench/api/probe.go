package main

import (
	"path/filepath"
	"time"

	"github.com/honua-io/honua-gitops/test/bench/benchrun"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// diskResult is the cost of making one Raft log entry durable on the disk
// the nodes' data dirs are on.
type diskResult struct {
	times []time.Duration
}

// probeDisk times n sequential StoreLog calls of one small entry on a
// raft-boltdb store in dir, as a node's log store does for a lone write
// (one bbolt transaction: its pages, then its meta page, each fsynced).
// A write is durable on the leader before it is sent and on a follower
// before it acknowledges, so this is paid at least twice per approval.
func probeDisk(r *benchrun.Runner, dir string, n int) diskResult {
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "probe.db")})
	if err != nil {
		r.Fatalf("disk probe: %v", err)
	}
	defer store.Close()
	data := make([]byte, 300) // about an encoded Approve command
	var res diskResult
	for i := 1; i <= n; i++ {
		start := time.Now()
		if err := store.StoreLog(&raft.Log{Index: uint64(i), Term: 1, Type: raft.LogCommand, Data: data}); err != nil {
			r.Fatalf("disk probe: %v", err)
		}
		res.times = append(res.times, time.Since(start))
	}
	say("   raft-boltdb StoreLog of one %d-byte entry, %d times: p50 %s, p99 %s, max %s\n", len(data), n,
		ms(percentile(res.times, 50)), ms(percentile(res.times, 99)), ms(percentile(res.times, 100)))
	return res
}
