package fsm

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// DeploymentState is where a deployment is in the pipeline of
// docs/domain.md#states. It is a small number in memory (a deployment keeps
// six to eight transitions, each naming two states: on 100,000 deployments
// strings cost 15 MiB more) and its name everywhere else: JSON, the API,
// logs. The zero value is no state, whose name is "".
type DeploymentState uint8

// The deployment states, in pipeline order. Their names (stateNames) are
// part of the API and of the snapshot format; never change one. The numbers
// are only in memory, but keep them too.
const (
	StatePending DeploymentState = iota + 1
	StateValidating
	StatePlanning
	StateAwaitingApproval
	StateScheduled
	StateBackingUp
	StateApplying
	StatePostValidating
	StateCompleted
	StateFailed
	StateRollingBack
	StateRolledBack
	StateRejected
	StateSuperseded
	StateCancelled

	// stateUnknown is what a name no state has decodes to: a command
	// naming it is refused (ErrInvalid), a snapshot holding it is refused
	// (state.check), and it never encodes.
	stateUnknown DeploymentState = 255
)

// stateNames are the states' names, indexed by state.
var stateNames = [...]string{"",
	"Pending", "Validating", "Planning", "AwaitingApproval", "Scheduled",
	"BackingUp", "Applying", "PostValidating", "Completed", "Failed",
	"RollingBack", "RolledBack", "Rejected", "Superseded", "Cancelled",
}

// AllStates lists every deployment state in pipeline order.
var AllStates = []DeploymentState{
	StatePending, StateValidating, StatePlanning, StateAwaitingApproval, StateScheduled,
	StateBackingUp, StateApplying, StatePostValidating, StateCompleted, StateFailed,
	StateRollingBack, StateRolledBack, StateRejected, StateSuperseded, StateCancelled,
}

// ParseState returns the state named name ("" for ""), and whether name
// names one.
func ParseState(name string) (DeploymentState, bool) {
	for i, n := range stateNames {
		if n == name {
			return DeploymentState(i), true
		}
	}
	return 0, false
}

// String returns the state's name; "" for no state, and "state(N)" for a
// number that is none.
func (s DeploymentState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// AppendText appends the state's name; a number that is no state is an
// error, so it never reaches a snapshot or an answer.
func (s DeploymentState) AppendText(b []byte) ([]byte, error) {
	if int(s) >= len(stateNames) {
		return b, fmt.Errorf("deployment state %d is none of the known states", s)
	}
	return append(b, stateNames[s]...), nil
}

// MarshalText returns the state's name.
func (s DeploymentState) MarshalText() ([]byte, error) { return s.AppendText(nil) }

// UnmarshalText sets s to the state named text, or to stateUnknown for a
// name that is none. It does not fail: a log entry written by another
// version naming a state this one does not know is then refused as a
// command, where failing to decode it would stop the node.
func (s *DeploymentState) UnmarshalText(text []byte) error {
	v, ok := ParseState(string(text))
	if !ok {
		v = stateUnknown
	}
	*s = v
	return nil
}

// Valid reports whether s is one of the known states.
func (s DeploymentState) Valid() bool { return s >= StatePending && s <= StateCancelled }

// Waiting reports whether s is one of the states before anything is touched:
// Pending through AwaitingApproval, and Scheduled. An environment has at most
// one waiting deployment.
func (s DeploymentState) Waiting() bool {
	switch s {
	case StatePending, StateValidating, StatePlanning, StateAwaitingApproval, StateScheduled:
		return true
	}
	return false
}

// Active reports whether s is one of the states in which targets are being
// changed: BackingUp through PostValidating, and RollingBack. An environment
// has at most one active deployment.
func (s DeploymentState) Active() bool {
	switch s {
	case StateBackingUp, StateApplying, StatePostValidating, StateRollingBack:
		return true
	}
	return false
}

// Terminal reports whether s ends a deployment. Failed is terminal unless an
// automatic rollback starts from it (see CanTransition).
func (s DeploymentState) Terminal() bool {
	switch s {
	case StateCompleted, StateFailed, StateRolledBack, StateRejected, StateSuperseded, StateCancelled:
		return true
	}
	return false
}

// Kind says why a deployment was started.
type Kind string

// The deployment kinds.
const (
	KindAuto         Kind = "auto"
	KindManualSync   Kind = "manual-sync"
	KindRollback     Kind = "rollback"
	KindAutoRollback Kind = "auto-rollback"
	// KindSelfHeal redeploys the deployed commit after drift was recorded
	// (docs/domain.md#drift).
	KindSelfHeal Kind = "self-heal"
)

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool {
	switch k {
	case KindAuto, KindManualSync, KindRollback, KindAutoRollback, KindSelfHeal:
		return true
	}
	return false
}

// envNameRE is the environment name rule of docs/domain.md#repository.
var envNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidEnvironmentName reports whether name may name an environment. The
// folder "common" holds shared configuration and is never an environment.
func ValidEnvironmentName(name string) bool { return name != "common" && envNameRE.MatchString(name) }

// Deployment is one attempt to bring one environment to one commit. Its ID
// is assigned by the FSM as "<environment>-<n>", n a cluster-wide counter, so
// an id is never reused, even after the deployment is pruned.
type Deployment struct {
	ID          string `json:"id"`
	Environment string `json:"environment"`
	Commit      string `json:"commit"`
	Branch      string `json:"branch,omitempty"`
	Kind        Kind   `json:"kind"`
	Initiator   string `json:"initiator"`
	DryRun      bool   `json:"dryRun,omitempty"`
	// Subject is the first line of the commit's message.
	Subject   string          `json:"subject,omitempty"`
	State     DeploymentState `json:"state"`
	CreatedAt time.Time       `json:"createdAt"`
	UpdatedAt time.Time       `json:"updatedAt"`
	// Plan and Validation are documents produced by the planner; the FSM
	// stores them verbatim (and compressed: see Document).
	Plan       Document `json:"plan,omitzero"`
	Validation Document `json:"validation,omitzero"`
	// PlanDropped is set once the plan and validation documents were
	// dropped to save memory (only the newest deployments of each
	// environment keep them; see SetSettings.PlanRetention).
	PlanDropped bool   `json:"planDropped,omitempty"`
	Risk        string `json:"risk,omitempty"`
	// Approval is what the policy asked for when the deployment started
	// waiting for approval.
	Approval  *ApprovalRequirement `json:"approval,omitempty"`
	Approvals []Approval           `json:"approvals,omitempty"`
	Rejection *Rejection           `json:"rejection,omitempty"`
	// Cancellation says who cancelled the deployment and why.
	Cancellation *Cancellation `json:"cancellation,omitempty"`
	// WindowOverride lets the deployment through a closed deployment
	// window or a blackout.
	WindowOverride *WindowOverride `json:"windowOverride,omitempty"`
	Transitions    []Transition    `json:"transitions"`
	Error          string          `json:"error,omitempty"`
	// FencingToken is the token of the last apply this deployment made.
	FencingToken uint64 `json:"fencingToken,omitempty"`
	// Backup is what was deployed when this deployment started changing
	// targets: what a rollback restores.
	Backup *Backup `json:"backup,omitempty"`
	// Applied is set once the deployment entered Applying: from then on a
	// target may hold its bundle, so a failure may roll back.
	Applied bool `json:"applied,omitempty"`
	// RollbackStarted is set once the deployment entered RollingBack; a
	// deployment rolls back at most once.
	RollbackStarted bool `json:"rollbackStarted,omitempty"`
	// RollbackTo, on a deployment of kind rollback, is the Completed
	// deployment whose commit it restores.
	RollbackTo string `json:"rollbackTo,omitempty"`
	// Rollout is the progress of a deployment delivered wave by wave
	// (RecordWave), one record per wave started; empty without a rollout.
	Rollout []WaveRecord `json:"rollout,omitempty"`
	// RolloutAbort, once set (ControlRollout), asks the leader to stop the
	// rollout: it fails the deployment, which rolls back.
	RolloutAbort *RolloutControl `json:"rolloutAbort,omitempty"`
}

// Approved reports whether the deployment has the approvals it requires.
func (d *Deployment) Approved() bool {
	return d.Approval != nil && len(d.Approvals) >= d.Approval.Required
}

// ApprovalRequirement is what the policy in force asks of approvers.
type ApprovalRequirement struct {
	Required int       `json:"required"`
	Groups   []string  `json:"groups,omitempty"`
	Expires  time.Time `json:"expires,omitzero"`
}

// Approval is one identity's yes.
type Approval struct {
	Identity string    `json:"identity"`
	Groups   []string  `json:"groups,omitempty"`
	Time     time.Time `json:"time"`
	Comment  string    `json:"comment,omitempty"`
}

// Rejection is one identity's no, which ends the deployment.
type Rejection struct {
	Identity string    `json:"identity"`
	Time     time.Time `json:"time"`
	Reason   string    `json:"reason"`
}

// Transition is one recorded change of state.
type Transition struct {
	From    DeploymentState `json:"from,omitempty"`
	To      DeploymentState `json:"to"`
	Time    Instant         `json:"time"`
	Message string          `json:"message,omitempty"`
	// Index is the Raft index of the command that made the transition;
	// with the transition's place among that command's transitions it
	// orders the event stream.
	Index uint64 `json:"index"`
}

// Backup names what an environment held before a deployment changed it.
type Backup struct {
	DeploymentID string `json:"deploymentId,omitempty"`
	Commit       string `json:"commit,omitempty"`
	// BundleID names the kept bundle on the targets, when the apply step
	// recorded one.
	BundleID string `json:"bundleId,omitempty"`
}

// Environment is the replicated view of one environment.
type Environment struct {
	Name string `json:"name"`
	// DeployedCommit and DeployedDeployment say what the environment's
	// targets hold: the last Completed deployment, or what a rollback
	// restored.
	DeployedCommit     string `json:"deployedCommit,omitempty"`
	DeployedDeployment string `json:"deployedDeployment,omitempty"`
	// LatestSeenCommit is the newest commit the watcher saw for the
	// environment, at LatestSeenAt.
	LatestSeenCommit string    `json:"latestSeenCommit,omitempty"`
	LatestSeenAt     time.Time `json:"latestSeenAt,omitzero"`
	// Pin, when set, stops the watcher from deploying Pin.From again.
	Pin *Pin `json:"pin,omitempty"`
	// FirstGate is the commit of the environment's first deployment that
	// reached the policy's gate (approval or window) while nothing was
	// deployed. Until a deployment completes, the policy at FirstGate
	// stays in force, so that a commit after a rejected first deployment
	// cannot loosen the gate it was held by.
	FirstGate string `json:"firstGate,omitempty"`
	// Current is the active deployment, Waiting the waiting one.
	Current string `json:"current,omitempty"`
	Waiting string `json:"waiting,omitempty"`
	// History lists the environment's deployment ids, oldest first.
	History []string `json:"history"`
	// PendingSync is a sync request not yet turned into a deployment.
	PendingSync *SyncRequest `json:"pendingSync,omitempty"`
	// Suspended, when set, stops the environment's deployments from
	// starting (SetSuspension).
	Suspended *Suspension `json:"suspended,omitempty"`
	// Drift, when set, says the environment's targets no longer hold the
	// bundle deployed to them (SetDrift).
	Drift *Drift `json:"drift,omitempty"`
}

// Newest returns the id of the environment's newest deployment, "" when it
// has none.
func (e *Environment) Newest() string {
	if n := len(e.History); n > 0 {
		return e.History[n-1]
	}
	return ""
}

// SyncRequest is someone asking for an environment to be deployed now.
type SyncRequest struct {
	By   string    `json:"by"`
	Time time.Time `json:"time"`
}

// SourceStatus is what the leader last learned of the configuration
// repository.
type SourceStatus struct {
	// Head is the branch head last seen, at HeadSince.
	Head      string    `json:"head,omitempty"`
	HeadSince time.Time `json:"headSince,omitzero"`
	// Error is why the last poll failed, since ErrorSince; empty when the
	// last poll succeeded.
	Error      string    `json:"error,omitempty"`
	ErrorSince time.Time `json:"errorSince,omitzero"`
	// LastSuccess is when a poll last succeeded after an error or a change
	// of head.
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	// Problems are the folders under environments/ at Head that are not
	// environments (a name that is not valid, say): listed, not deployed.
	Problems []FolderProblem `json:"problems,omitempty"`
}

// FolderProblem is a folder of the repository that fails validation as a
// whole, and why.
type FolderProblem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Pin records a rollback that holds an environment on an older commit.
type Pin struct {
	Commit string    `json:"commit"`
	From   string    `json:"from,omitempty"`
	By     string    `json:"by,omitempty"`
	Since  time.Time `json:"since"`
}
