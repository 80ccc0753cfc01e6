package fsm

import (
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

var _ raft.BatchingFSM = (*FSM)(nil)

// ApplyBatch implements raft.BatchingFSM: raft hands it the entries
// committed together (up to MaxAppendEntries), in log order. Each entry is
// applied exactly as Apply applies it — the same result, the same state,
// the same events, an unknown command marked safe to ignore skipped, any
// other entry that is not a command left alone — so a node that applies
// a log in batches holds the state a node that applied it one by one
// holds.
//
// What differs is the cost: the entries are decoded before the lock is
// taken, the lock is taken once, and waiters (WaitForIndex, Changed: the
// reconciler, the event stream, the outbox) are told once, after the last
// entry, instead of after each. Under a write load that is what lets the
// leader apply a batch of approvals for about the cost of one.
//
// An entry that cannot be decoded panics, as in Apply, after the entries
// before it are applied and published.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	cmds := make([]Command, len(logs))
	end, corrupt := len(logs), error(nil)
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		c, err := Decode(l.Data)
		if err != nil {
			var u errUnknownCommand
			if errors.As(err, &u) && u.ignoreOK {
				f.logger.Warn("skipping unknown command marked safe to ignore", "index", l.Index, "type", int(u.t))
				continue // cmds[i] stays nil
			}
			end, corrupt = i, err
			break
		}
		cmds[i] = c
	}

	f.mu.Lock()
	changed := false
	for i, l := range logs[:end] {
		if l.Type != raft.LogCommand {
			continue
		}
		changed = true
		if cmds[i] == nil { // skipped: only the applied index moves
			f.applied = l.Index
			continue
		}
		res, err := f.st.apply(l.Index, cmds[i])
		f.record(l.Index)
		f.applied = l.Index
		if err != nil {
			out[i] = err
		} else {
			out[i] = res
		}
	}
	var ch chan struct{}
	if changed {
		ch = f.changed
		f.changed = make(chan struct{})
	}
	f.mu.Unlock()
	if ch != nil {
		close(ch)
	}
	if corrupt != nil {
		panic(fmt.Sprintf("fsm: cannot apply log entry %d: %v", logs[end].Index, corrupt))
	}
	return out
}
