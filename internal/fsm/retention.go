package fsm

// This file holds SetSettings and what it governs: how many deployments
// each environment keeps (prune), and how many keep their plan and
// validation documents (dropOldPlans).

import "slices"

// DefaultHistoryRetention is how many deployments an environment keeps until
// a SetSettings command says otherwise.
const DefaultHistoryRetention = 100

// DefaultPlanRetention is how many of an environment's newest deployments
// keep their plan and validation documents, the bulk of the state; older
// ones keep everything else (transitions, approvals, risk).
const DefaultPlanRetention = 20

// SetSettings changes cluster-wide settings of the state itself. Settings
// travel in the log, not in each node's configuration, so that every node
// prunes history the same way.
type SetSettings struct {
	// HistoryRetention is how many deployments each environment keeps.
	HistoryRetention int `json:"historyRetention"`
	// PlanRetention is how many of each environment's newest deployments
	// keep their plan and validation documents; 0 leaves it unchanged.
	PlanRetention int `json:"planRetention,omitempty"`
}

// Type implements Command.
func (*SetSettings) Type() CommandType { return SetSettingsCommand }

func init() { register(SetSettingsCommand, (*state).checkSetSettings, (*state).setSettings) }

// checkSetSettings refuses a history retention below 1 and a negative plan
// retention.
func (s *state) checkSetSettings(c *SetSettings) error {
	if c.HistoryRetention < 1 {
		return invalid("set settings: historyRetention must be at least 1, got %d", c.HistoryRetention)
	}
	if c.PlanRetention < 0 {
		return invalid("set settings: planRetention must not be negative, got %d", c.PlanRetention)
	}
	return nil
}

// setSettings records the settings and prunes every environment, in name
// order, to them.
func (s *state) setSettings(c *SetSettings) any {
	s.HistoryRetention = c.HistoryRetention
	if c.PlanRetention > 0 {
		s.PlanRetention = c.PlanRetention
	}
	names := make([]string, 0, len(s.Environments))
	for n := range s.Environments {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		s.prune(s.Environments[n])
	}
	return nil
}

// prune forgets the oldest finished deployments of e beyond the retention.
// It never forgets the active, the waiting or the deployed deployment, nor
// one that failed after applying and may still roll back.
func (s *state) prune(e *Environment) {
	s.dropOldPlans(e)
	excess := len(e.History) - s.HistoryRetention
	if excess <= 0 {
		return
	}
	// What a deployment that may still roll back would restore must stay
	// findable too.
	restorable := map[string]bool{}
	for _, id := range e.History {
		if d := s.Deployments[id]; d != nil && d.Backup != nil && d.mayRollBack(e) {
			restorable[d.Backup.DeploymentID] = true
		}
	}
	kept := e.History[:0:0]
	for _, id := range e.History {
		d := s.Deployments[id]
		if excess > 0 && d != nil && !restorable[id] && d.prunable(e) {
			delete(s.Deployments, id)
			s.forgetNotifications(id)
			excess--
			continue
		}
		if d != nil {
			kept = append(kept, id)
		}
	}
	e.History = kept
}

// dropOldPlans drops the plan and validation documents of the finished
// deployments of e older than its newest PlanRetention.
func (s *state) dropOldPlans(e *Environment) {
	for i := len(e.History) - 1 - s.PlanRetention; i >= 0; i-- {
		d := s.Deployments[e.History[i]]
		if d == nil || !d.State.Terminal() || d.PlanDropped {
			continue
		}
		d.Plan, d.Validation, d.PlanDropped = Document{}, Document{}, true
	}
}

// prunable reports whether prune may forget d: it ended, holds no slot of
// e, and may not roll back.
func (d *Deployment) prunable(e *Environment) bool {
	if d.ID == e.Current || d.ID == e.Waiting || d.ID == e.DeployedDeployment || !d.State.Terminal() {
		return false
	}
	return !d.mayRollBack(e)
}

// mayRollBack reports whether d is changing targets, or failed after
// applying, has not rolled back yet, and its environment has not moved on
// from what it would restore.
func (d *Deployment) mayRollBack(e *Environment) bool {
	if d.State.Active() {
		return true
	}
	return d.State == StateFailed && d.Applied && !d.RollbackStarted && d.Backup != nil &&
		e.DeployedDeployment == d.Backup.DeploymentID && e.DeployedCommit == d.Backup.Commit
}
