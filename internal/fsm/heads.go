package fsm

// EnvironmentHead is what the leader's pipeline looks at in every
// environment on every change of state: its active and waiting
// deployments and whether its newest one failed unrecovered, without a
// copy of its history or of any record.
type EnvironmentHead struct {
	Name    string
	Current string
	Waiting string
	// Suspended says the environment's deployments are held.
	Suspended bool
	// PendingSync, when set, is a sync request not yet turned into a
	// deployment (a copy).
	PendingSync *SyncRequest
	// FailedUnrecovered is the environment's newest deployment when it
	// failed after applying and its rollback has not started: a leader
	// that died between the two leaves it to the next one.
	FailedUnrecovered string
}

// Heads returns the head of every environment, sorted by name. At 1,000
// environments of 100 deployments, copying every environment (history
// included) on each change of state made 1.6 MB of garbage; this makes
// a few dozen bytes an environment.
func (f *FSM) Heads() []EnvironmentHead {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return mapEnvironments(f.st, func(e *Environment) EnvironmentHead {
		h := EnvironmentHead{Name: e.Name, Current: e.Current, Waiting: e.Waiting, Suspended: e.Suspended != nil}
		if e.PendingSync != nil {
			sync := *e.PendingSync
			h.PendingSync = &sync
		}
		if d := f.st.Deployments[e.Newest()]; d != nil && d.State == StateFailed && d.Applied && !d.RollbackStarted {
			h.FailedUnrecovered = d.ID
		}
		return h
	})
}
