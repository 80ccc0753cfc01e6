package fsm

// legal lists, for each state, the states a deployment may move to from it.
// It is the state machine of docs/domain.md#states:
//
//	Pending → Validating → Planning → [AwaitingApproval] → [Scheduled] → BackingUp
//	        → Applying → PostValidating → Completed
//
// with Failed reachable from every non-terminal state, Superseded from every
// waiting state, Rejected only from AwaitingApproval, and RollingBack only
// from Failed (and only once something was applied; see CanTransition).
var legal = map[DeploymentState][]DeploymentState{
	StatePending:          {StateValidating, StateFailed, StateSuperseded},
	StateValidating:       {StatePlanning, StateFailed, StateSuperseded},
	StatePlanning:         {StateAwaitingApproval, StateScheduled, StateBackingUp, StateFailed, StateSuperseded},
	StateAwaitingApproval: {StateScheduled, StateBackingUp, StateRejected, StateFailed, StateSuperseded},
	StateScheduled:        {StateBackingUp, StateFailed, StateSuperseded},
	StateBackingUp:        {StateApplying, StateFailed},
	StateApplying:         {StatePostValidating, StateFailed},
	StatePostValidating:   {StateCompleted, StateFailed},
	StateFailed:           {StateRollingBack},
	StateRollingBack:      {StateRolledBack, StateFailed},
	StateCompleted:        nil,
	StateRolledBack:       nil,
	StateRejected:         nil,
	StateSuperseded:       nil,
}

// CanTransition reports whether the state machine has an edge from → to.
// It does not know about a deployment's history; see Deployment.canMove for
// the rules that do (a Failed deployment rolls back only if it applied
// something, and only once).
func CanTransition(from, to DeploymentState) bool {
	for _, s := range legal[from] {
		if s == to {
			return true
		}
	}
	return false
}

// canMove reports whether d may move to state to, given its own history.
func (d *Deployment) canMove(to DeploymentState) bool {
	if !CanTransition(d.State, to) {
		return false
	}
	if d.State == StateFailed && to == StateRollingBack {
		return d.Applied && !d.RollbackStarted
	}
	return true
}
