package fsm

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/hashicorp/raft"
)

// FSM implements raft.FSM over the replicated state. It decodes entries,
// forwards them to the state under a lock, and tells waiters what was
// applied. Reads return copies.
type FSM struct {
	logger *slog.Logger

	mu      sync.RWMutex
	st      *state
	events  eventLog
	applied uint64
	// changed is closed and replaced after every applied entry and restore.
	changed chan struct{}
	// prep is the snapshot the next Restore expects (ExpectRestore).
	prep prepared
}

// New returns an empty FSM.
func New(logger *slog.Logger) *FSM {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &FSM{logger: logger, st: newState(), changed: make(chan struct{}), events: eventLog{complete: true}}
}

// Apply implements raft.FSM. It returns the command's result, or an error
// value when the command was refused; a refused command changes nothing.
// It panics on an entry it cannot decode: the log is corrupt, or was written
// by a newer binary, and going on would fork this node's state.
func (f *FSM) Apply(l *raft.Log) any {
	// One entry is a batch of one (batch.go): the same decoding, the same
	// skipping of an unknown command marked safe to ignore, the same panic.
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// AppliedIndex returns the Raft index of the last entry the FSM applied.
func (f *FSM) AppliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.applied
}

// Changed returns a channel closed at the next change of the state.
func (f *FSM) Changed() <-chan struct{} {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.changed
}

// WaitForIndex blocks until the FSM has applied index or ctx ends.
func (f *FSM) WaitForIndex(ctx context.Context, index uint64) error {
	for {
		f.mu.RLock()
		applied, ch := f.applied, f.changed
		f.mu.RUnlock()
		if applied >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for index %d (applied %d): %w", index, applied, ctx.Err())
		}
	}
}

// Deployment returns a copy of the deployment with the given id.
func (f *FSM) Deployment(id string) (*Deployment, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	d, ok := f.st.Deployments[id]
	return d.clone(), ok
}

// Environment returns a copy of the named environment.
func (f *FSM) Environment(name string) (*Environment, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e, ok := f.st.Environments[name]
	return e.clone(), ok
}

// Environments returns copies of every environment, sorted by name.
func (f *FSM) Environments() []*Environment {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return mapEnvironments(f.st, (*Environment).clone)
}

// mapEnvironments returns fn of every environment's live record, in name
// order. The caller holds the FSM's lock; fn must not keep the record.
func mapEnvironments[T any](st *state, fn func(*Environment) T) []T {
	live := make([]*Environment, 0, len(st.Environments))
	for _, e := range st.Environments {
		live = append(live, e)
	}
	sortEnvironments(live)
	out := make([]T, len(live))
	for i, e := range live {
		out[i] = fn(e)
	}
	return out
}

// EnvironmentBrief is an environment's record as a list of environments
// needs it: a copy without its history's ids (100,000 of them on a large
// state, copied for every list), with their number and the newest.
type EnvironmentBrief struct {
	// Environment is a copy of the record; its History is nil.
	Environment   *Environment
	HistoryLength int
	// Latest is the id of the environment's newest deployment, "" for none.
	Latest string
}

// BriefEnvironments returns every environment's brief, sorted by name.
func (f *FSM) BriefEnvironments() []EnvironmentBrief {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return mapEnvironments(f.st, func(e *Environment) EnvironmentBrief {
		return EnvironmentBrief{Environment: e.copyOf(false), HistoryLength: len(e.History), Latest: e.Newest()}
	})
}

// History returns copies of an environment's deployments, newest first.
func (f *FSM) History(env string) []*Deployment { return f.history(env, (*Deployment).clone) }

// BriefHistory is History without the plan and validation documents, the
// bulk of a deployment: for listings, which leave them out anyway.
func (f *FSM) BriefHistory(env string) []*Deployment { return f.history(env, (*Deployment).brief) }

func (f *FSM) history(env string, clone func(*Deployment) *Deployment) []*Deployment {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e, ok := f.st.Environments[env]
	if !ok {
		return nil
	}
	out := make([]*Deployment, 0, len(e.History))
	for i := len(e.History) - 1; i >= 0; i-- {
		if d, ok := f.st.Deployments[e.History[i]]; ok {
			out = append(out, clone(d))
		}
	}
	return out
}

// LastFencingToken returns the highest fencing token issued.
func (f *FSM) LastFencingToken() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.LastFencingToken
}

// PlanRetention returns how many of each environment's newest deployments
// keep their plan and validation documents.
func (f *FSM) PlanRetention() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.PlanRetention
}

// HistoryRetention returns how many deployments each environment keeps.
func (f *FSM) HistoryRetention() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.HistoryRetention
}

// Source returns the repository's status as the leader last reported it.
func (f *FSM) Source() SourceStatus {
	f.mu.RLock()
	defer f.mu.RUnlock()
	src := f.st.Source
	src.Problems = slices.Clone(src.Problems)
	return src
}

// Deployments returns copies of the deployments that match, newest first:
// env and state filter when not empty; at most limit when limit > 0.
func (f *FSM) Deployments(env string, state DeploymentState, limit int) []*Deployment {
	return f.deployments(env, state, limit, (*Deployment).clone)
}

// BriefDeployments is Deployments without the plan and validation
// documents (see BriefHistory).
func (f *FSM) BriefDeployments(env string, state DeploymentState, limit int) []*Deployment {
	return f.deployments(env, state, limit, (*Deployment).brief)
}

func (f *FSM) deployments(env string, state DeploymentState, limit int, clone func(*Deployment) *Deployment) []*Deployment {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []*Deployment
	if e := f.st.Environments[env]; env != "" && f.st.historyIndexed {
		// The environment's History lists its deployments: no scan.
		if e != nil {
			for _, id := range e.History {
				if d, ok := f.st.Deployments[id]; ok && (state == 0 || d.State == state) {
					out = append(out, d)
				}
			}
		}
	} else {
		for _, d := range f.st.Deployments {
			if (env == "" || d.Environment == env) && (state == 0 || d.State == state) {
				out = append(out, d)
			}
		}
	}
	sortNewestFirst(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	for i, d := range out {
		out[i] = clone(d)
	}
	return out
}

// Peek calls fn with the live deployment record under the read lock, or
// with nil when there is none. fn must not keep or change it. It saves the
// copy Deployment makes, for callers that look at many records often.
func (f *FSM) Peek(id string, fn func(d *Deployment)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.st.Deployments[id])
}

// CountDeployments returns how many deployments each environment holds in
// each state, without copying them.
func (f *FSM) CountDeployments() map[string]map[DeploymentState]int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := map[string]map[DeploymentState]int{}
	for _, d := range f.st.Deployments {
		m := out[d.Environment]
		if m == nil {
			m = map[DeploymentState]int{}
			out[d.Environment] = m
		}
		m[d.State]++
	}
	return out
}
