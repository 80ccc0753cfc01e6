// Package fsmtest owns an in-memory applier for tests: a real *fsm.FSM fed
// commands the way raft feeds it — each encoded with fsm.Encode, applied as
// the next raft.Log entry (Type LogCommand, Index increasing, Term fixed),
// and the response unpacked the way cluster.Node.Apply unpacks it (an error
// value is the FSM's refusal, anything else its result).
//
// An Applier stands in for the cluster wherever a package under test takes
// a small interface of it (reconcile.Cluster, rpc.Cluster's Apply): the
// commands and the state are real, only consensus is left out. Its
// leadership (VerifyLeader, and whether Apply is accepted) is a value the
// test sets. It is safe for concurrent use.
//
// It imports nothing of the cluster package, so that package's own tests
// can use it too; a test that wants cluster's error values (ErrTooLarge,
// ErrNotLeader) sets them through Refuse and SetLeaderError.
package fsmtest

import (
	"context"
	"fmt"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/honua-io/honua-gitops/internal/fsm"
)

// Applier applies commands to a real FSM as raft would, one log entry each.
type Applier struct {
	// FSM is the state the commands are applied to.
	FSM *fsm.FSM
	// Term is the term of every entry; New sets 1.
	Term uint64
	// Refuse, when set, is asked about every command before it is applied,
	// with its encoding: an error it returns is Apply's, and the command is
	// not applied (a cap on the size of a command, say).
	Refuse func(c fsm.Command, encoded []byte) error

	mu        sync.Mutex
	index     uint64
	leaderErr error
	record    bool
	log       []*raft.Log
}

// New returns an Applier over a new, empty FSM.
func New() *Applier { return Over(fsm.New(nil)) }

// Over returns an Applier over f whose next entry follows the last one f
// applied.
func Over(f *fsm.FSM) *Applier {
	return &Applier{FSM: f, Term: 1, index: f.AppliedIndex()}
}

// Continue returns an Applier over f whose next entry follows the last one
// a applied: f goes on from a's log (a restored copy of a's state, or a
// fresh FSM fed the rest of the same log).
func (a *Applier) Continue(f *fsm.FSM) *Applier {
	a.mu.Lock()
	defer a.mu.Unlock()
	return &Applier{FSM: f, Term: a.Term, Refuse: a.Refuse, index: a.index, leaderErr: a.leaderErr}
}

// Recording makes a keep every entry it applies from now on (see Log) and
// returns a.
func (a *Applier) Recording() *Applier {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.record = true
	return a
}

// Log returns the entries applied while recording, in order.
func (a *Applier) Log() []*raft.Log {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*raft.Log(nil), a.log...)
}

// Index is the index of the last entry a applied.
func (a *Applier) Index() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.index
}

// SetLeaderError makes VerifyLeader and Apply return err (this node lost
// leadership, say); nil makes it lead again.
func (a *Applier) SetLeaderError(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.leaderErr = err
}

// VerifyLeader returns the error set by SetLeaderError.
func (a *Applier) VerifyLeader() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.leaderErr
}

// Apply encodes c and applies it as the next entry, returning the FSM's
// result or refusal. It returns ctx.Err() without applying when ctx is done,
// the leader error when one is set, and Refuse's error when it has one.
func (a *Applier) Apply(ctx context.Context, c fsm.Command) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, err := fsm.Encode(c)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.leaderErr != nil {
		return nil, fmt.Errorf("apply %T: %w", c, a.leaderErr)
	}
	if a.Refuse != nil {
		if err := a.Refuse(c, b); err != nil {
			return nil, err
		}
	}
	return Unpack(a.applyLocked(b))
}

// ApplyData applies raw entry bytes as the next entry and returns what the
// FSM returned, unpacked. The FSM panics on bytes it cannot decode, as it
// does under raft.
func (a *Applier) ApplyData(data []byte) (any, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return Unpack(a.applyLocked(data))
}

func (a *Applier) applyLocked(data []byte) any {
	a.index++
	l := &raft.Log{Index: a.index, Term: a.Term, Type: raft.LogCommand, Data: data}
	if a.record {
		a.log = append(a.log, l)
	}
	return a.FSM.Apply(l)
}

// Unpack splits an FSM.Apply response into result and refusal, as
// cluster.Node.Apply does.
func Unpack(resp any) (any, error) {
	if err, ok := resp.(error); ok {
		return nil, err
	}
	return resp, nil
}

// TB is the part of testing.TB that Must uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Must applies c and fails t if it is refused; it returns the result.
func (a *Applier) Must(t TB, c fsm.Command) any {
	t.Helper()
	res, err := a.Apply(context.Background(), c)
	if err != nil {
		t.Fatalf("apply %T: %v", c, err)
	}
	return res
}
