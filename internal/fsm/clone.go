package fsm

import "slices"

// clone returns a deep copy of d, safe to hand outside the lock.
func (d *Deployment) clone() *Deployment { return d.copyOf(true) }

// copyOf returns a deep copy of d, with its plan and validation documents
// when docs is set (shared: a Document is immutable).
func (d *Deployment) copyOf(docs bool) *Deployment {
	if d == nil {
		return nil
	}
	c := *d
	if !docs {
		c.Plan, c.Validation = Document{}, Document{}
	}
	c.Approval = d.Approval.clone()
	c.Rollout = cloneRollout(d.Rollout)
	if d.RolloutAbort != nil {
		a := *d.RolloutAbort
		c.RolloutAbort = &a
	}
	c.Approvals = slices.Clone(d.Approvals)
	for i := range c.Approvals {
		c.Approvals[i].Groups = slices.Clone(c.Approvals[i].Groups)
	}
	if d.Rejection != nil {
		r := *d.Rejection
		c.Rejection = &r
	}
	if d.Cancellation != nil {
		x := *d.Cancellation
		c.Cancellation = &x
	}
	if d.WindowOverride != nil {
		o := *d.WindowOverride
		c.WindowOverride = &o
	}
	c.Transitions = slices.Clone(d.Transitions)
	if d.Backup != nil {
		b := *d.Backup
		c.Backup = &b
	}
	return &c
}

// brief returns a deep copy of d without its plan and validation
// documents.
func (d *Deployment) brief() *Deployment { return d.copyOf(false) }

func (a *ApprovalRequirement) clone() *ApprovalRequirement {
	if a == nil {
		return nil
	}
	c := *a
	c.Groups = slices.Clone(a.Groups)
	return &c
}

// clone returns a deep copy of e.
func (e *Environment) clone() *Environment { return e.copyOf(true) }

// copyOf returns a deep copy of e, with its history's ids when history is
// set (else none).
func (e *Environment) copyOf(history bool) *Environment {
	if e == nil {
		return nil
	}
	c := *e
	c.History = nil
	if history {
		c.History = slices.Clone(e.History)
	}
	if e.Pin != nil {
		p := *e.Pin
		c.Pin = &p
	}
	if e.PendingSync != nil {
		r := *e.PendingSync
		c.PendingSync = &r
	}
	if e.Suspended != nil {
		su := *e.Suspended
		c.Suspended = &su
	}
	if e.Drift != nil {
		c.Drift = e.Drift.clone()
	}
	return &c
}
