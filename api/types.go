package api

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// The types of this file are the API's wire format: what honuad answers
// and honuactl reads. They are declared here, apart from the replicated
// state (internal/fsm) they are built from, so that neither changes the
// other; internal/rpc converts between them in one place (wire.go), and
// its golden tests hold the bytes still.

// DeploymentState is where a deployment is in its pipeline.
type DeploymentState string

// The deployment states.
const (
	StatePending          DeploymentState = "Pending"
	StateValidating       DeploymentState = "Validating"
	StatePlanning         DeploymentState = "Planning"
	StateAwaitingApproval DeploymentState = "AwaitingApproval"
	StateScheduled        DeploymentState = "Scheduled"
	StateBackingUp        DeploymentState = "BackingUp"
	StateApplying         DeploymentState = "Applying"
	StatePostValidating   DeploymentState = "PostValidating"
	StateCompleted        DeploymentState = "Completed"
	StateFailed           DeploymentState = "Failed"
	StateRollingBack      DeploymentState = "RollingBack"
	StateRolledBack       DeploymentState = "RolledBack"
	StateRejected         DeploymentState = "Rejected"
	StateSuperseded       DeploymentState = "Superseded"
	StateCancelled        DeploymentState = "Cancelled"
)

// AllStates lists every deployment state in pipeline order.
var AllStates = []DeploymentState{
	StatePending, StateValidating, StatePlanning, StateAwaitingApproval, StateScheduled,
	StateBackingUp, StateApplying, StatePostValidating, StateCompleted, StateFailed,
	StateRollingBack, StateRolledBack, StateRejected, StateSuperseded, StateCancelled,
}

// Kind says why a deployment was started.
type Kind string

// The deployment kinds.
const (
	KindAuto         Kind = "auto"
	KindManualSync   Kind = "manual-sync"
	KindRollback     Kind = "rollback"
	KindAutoRollback Kind = "auto-rollback"
	// KindSelfHeal redeploys the deployed commit after drift was recorded.
	KindSelfHeal Kind = "self-heal"
)

// Deployment is the whole record of a deployment (GET
// /v1/deployments/{id}): plan, validation, approvals, transitions.
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
	// Plan is a PlanDocument and Validation a ValidationReport (read them
	// with PlanDocument and ValidationReport); either is absent until the
	// step that makes it has run, or once it was dropped (PlanDropped).
	Plan       json.RawMessage `json:"plan,omitempty"`
	Validation json.RawMessage `json:"validation,omitempty"`
	// PlanDropped says the plan and validation were dropped to save
	// memory: only each environment's newest deployments keep them.
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
	// Applied is set once the deployment entered Applying.
	Applied bool `json:"applied,omitempty"`
	// RollbackStarted is set once the deployment entered RollingBack.
	RollbackStarted bool `json:"rollbackStarted,omitempty"`
	// RollbackTo, on a deployment of kind rollback, is the Completed
	// deployment whose commit it restores.
	RollbackTo string `json:"rollbackTo,omitempty"`
	// Rollout is the progress of a deployment delivered wave by wave, one
	// record per wave started; absent without a rollout.
	Rollout []Wave `json:"rollout,omitempty"`
	// RolloutAbort says who aborted the rollout and why.
	RolloutAbort *RolloutControl `json:"rolloutAbort,omitempty"`
	// Notifications are the deployment's notifications in the outbox,
	// newest first; GET /v1/deployments/{id} gives them, omitted when
	// there are none (the answers to writes never carry them).
	Notifications []Notification `json:"notifications,omitempty"`
}

// PlanDocument decodes the deployment's plan; nil when it has none.
func (d *Deployment) PlanDocument() (*PlanDocument, error) {
	if len(d.Plan) == 0 || string(d.Plan) == "null" {
		return nil, nil
	}
	var doc PlanDocument
	if err := json.Unmarshal(d.Plan, &doc); err != nil {
		return nil, fmt.Errorf("decode the plan of %s: %w", d.ID, err)
	}
	return &doc, nil
}

// ValidationReport decodes the deployment's validation report; nil when it
// has none.
func (d *Deployment) ValidationReport() (*ValidationReport, error) {
	if len(d.Validation) == 0 || string(d.Validation) == "null" {
		return nil, nil
	}
	var r ValidationReport
	if err := json.Unmarshal(d.Validation, &r); err != nil {
		return nil, fmt.Errorf("decode the validation report of %s: %w", d.ID, err)
	}
	return &r, nil
}

// ApprovalRequirement is what the policy in force asks of approvers.
type ApprovalRequirement struct {
	Required int       `json:"required"`
	Groups   []string  `json:"groups,omitempty"`
	Expires  time.Time `json:"expires,omitzero"`
}

// Approval is one identity's approval.
type Approval struct {
	Identity string    `json:"identity"`
	Groups   []string  `json:"groups,omitempty"`
	Time     time.Time `json:"time"`
	Comment  string    `json:"comment,omitempty"`
}

// Cancellation is who cancelled a deployment before it changed any target,
// and why.
type Cancellation struct {
	Identity string    `json:"identity"`
	Time     time.Time `json:"time"`
	Reason   string    `json:"reason"`
}

// WindowOverride is an admin letting a deployment through a closed
// deployment window or a blackout.
type WindowOverride struct {
	Identity string    `json:"identity"`
	Time     time.Time `json:"time"`
	Reason   string    `json:"reason"`
}

// Suspension is who suspended an environment, why and since when; no
// deployment of it starts until it is resumed.
type Suspension struct {
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	// Index is the Raft index of the command that suspended it.
	Index uint64 `json:"index"`
}

// Rejection is one identity's no, which ended the deployment.
type Rejection struct {
	Identity string    `json:"identity"`
	Time     time.Time `json:"time"`
	Reason   string    `json:"reason"`
}

// Transition is one recorded change of a deployment's state.
type Transition struct {
	From    DeploymentState `json:"from,omitempty"`
	To      DeploymentState `json:"to"`
	Time    time.Time       `json:"time"`
	Message string          `json:"message,omitempty"`
	// Index is the Raft index of the command that made the transition.
	Index uint64 `json:"index"`
}

// Backup names what an environment held before a deployment changed it.
type Backup struct {
	DeploymentID string `json:"deploymentId,omitempty"`
	Commit       string `json:"commit,omitempty"`
	// BundleID names the kept bundle on the targets.
	BundleID string `json:"bundleId,omitempty"`
}

// Environment is an environment's record.
type Environment struct {
	Name string `json:"name"`
	// DeployedCommit and DeployedDeployment say what the environment's
	// targets hold.
	DeployedCommit     string `json:"deployedCommit,omitempty"`
	DeployedDeployment string `json:"deployedDeployment,omitempty"`
	// LatestSeenCommit is the newest commit the watcher saw for the
	// environment, at LatestSeenAt.
	LatestSeenCommit string    `json:"latestSeenCommit,omitempty"`
	LatestSeenAt     time.Time `json:"latestSeenAt,omitzero"`
	// Pin, when set, holds the environment on an older commit.
	Pin *Pin `json:"pin,omitempty"`
	// FirstGate is the commit of the environment's first deployment that
	// reached the policy's gate while nothing was deployed.
	FirstGate string `json:"firstGate,omitempty"`
	// Current is the active deployment, Waiting the waiting one.
	Current string `json:"current,omitempty"`
	Waiting string `json:"waiting,omitempty"`
	// History lists the environment's deployment ids, oldest first. The
	// list of environments leaves it out, as it would be most of that
	// answer on a large state: HistoryLength counts them there, and one
	// environment's record or its history pages give them.
	History       []string `json:"history,omitempty"`
	HistoryLength int      `json:"historyLength"`
	// PendingSync is a sync request not yet turned into a deployment.
	PendingSync *SyncRequest `json:"pendingSync,omitempty"`
	// Suspended, when set, holds the environment's deployments: none
	// starts until it is resumed.
	Suspended *Suspension `json:"suspended,omitempty"`
	// Drift, when set, says the environment's targets no longer hold the
	// bundle deployed to them.
	Drift *Drift `json:"drift,omitempty"`
}

// Drift is what the leader found when it compared an environment's
// targets with the bundle deployed to them: since when they differ, from
// which deployment, on which targets, and which files (at most 50 listed,
// MoreFiles counting the others).
type Drift struct {
	Deployment string    `json:"deployment"`
	Since      time.Time `json:"since"`
	// Index is the Raft index of the command that recorded it.
	Index uint64 `json:"index"`
	// Updated is when the files or targets recorded last changed.
	Updated   time.Time `json:"updated"`
	Targets   []string  `json:"targets"`
	Files     []string  `json:"files,omitempty"`
	MoreFiles int       `json:"moreFiles,omitempty"`
	// SelfHeal is the self-heal deployment created for this drift, if
	// any.
	SelfHeal string `json:"selfHeal,omitempty"`
}

// SyncRequest is someone asking for an environment to be deployed now.
type SyncRequest struct {
	By   string    `json:"by"`
	Time time.Time `json:"time"`
}

// Pin records a rollback that holds an environment on an older commit.
type Pin struct {
	Commit string    `json:"commit"`
	From   string    `json:"from,omitempty"`
	By     string    `json:"by,omitempty"`
	Since  time.Time `json:"since"`
}

// SourceStatus is what the leader last learned of the repository.
type SourceStatus struct {
	// Head is the branch head last seen, at HeadSince.
	Head      string    `json:"head,omitempty"`
	HeadSince time.Time `json:"headSince,omitzero"`
	// Error is why the last poll failed, since ErrorSince.
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

// Event is one deployment transition on the event stream (GET /v1/events).
// Its ID orders the stream: give the last one seen to resume after it.
type Event struct {
	ID           string          `json:"id"`
	DeploymentID string          `json:"deploymentId"`
	Environment  string          `json:"environment"`
	Commit       string          `json:"commit"`
	Kind         Kind            `json:"kind"`
	From         DeploymentState `json:"from,omitempty"`
	To           DeploymentState `json:"to"`
	Time         time.Time       `json:"time"`
	Message      string          `json:"message,omitempty"`
}

// Valid reports whether s is one of the known states.
func (s DeploymentState) Valid() bool { return slices.Contains(AllStates, s) }

// Terminal reports whether s ends a deployment: Completed, Failed,
// RolledBack, Rejected, Superseded or Cancelled. (A Failed deployment that
// had started applying may still roll back.)
func (s DeploymentState) Terminal() bool {
	switch s {
	case StateCompleted, StateFailed, StateRolledBack, StateRejected, StateSuperseded, StateCancelled:
		return true
	}
	return false
}

// Waiting reports whether s is one of the states before anything is
// touched: Pending through AwaitingApproval, and Scheduled. An environment
// has at most one waiting deployment.
func (s DeploymentState) Waiting() bool {
	switch s {
	case StatePending, StateValidating, StatePlanning, StateAwaitingApproval, StateScheduled:
		return true
	}
	return false
}

// Active reports whether s is one of the states in which targets are being
// changed: BackingUp through PostValidating, and RollingBack. An
// environment has at most one active deployment.
func (s DeploymentState) Active() bool {
	switch s {
	case StateBackingUp, StateApplying, StatePostValidating, StateRollingBack:
		return true
	}
	return false
}

// Wave is the record of one wave of a rollout (docs/domain.md#rollouts).
type Wave struct {
	Targets []string `json:"targets"`
	// Phase is applying, baking, passed or failed.
	Phase string `json:"phase"`
	// Token is the fencing token the wave's targets were given last.
	Token   uint64    `json:"token"`
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
	// BakeUntil is when the bake ends, once the wave bakes.
	BakeUntil    time.Time `json:"bakeUntil,omitzero"`
	Rounds       int       `json:"rounds,omitempty"`
	FailedRounds int       `json:"failedRounds,omitempty"`
	// Last is the last analysis round, LastFailed the last that failed.
	Last       *AnalysisRound `json:"last,omitempty"`
	LastFailed *AnalysisRound `json:"lastFailed,omitempty"`
	Message    string         `json:"message,omitempty"`
	// Promoted says who ended the wave's bake early.
	Promoted *RolloutControl `json:"promoted,omitempty"`
}

// RolloutControl records an approver promoting a wave or aborting a
// rollout.
type RolloutControl struct {
	Identity string    `json:"identity"`
	Time     time.Time `json:"time"`
	Reason   string    `json:"reason,omitempty"`
}

// AnalysisRound is one analysis of a wave: every check for every target.
type AnalysisRound struct {
	Time    time.Time        `json:"time"`
	Passed  bool             `json:"passed"`
	Results []AnalysisResult `json:"results"`
}

// AnalysisResult is one check of one target with the value measured.
type AnalysisResult struct {
	Check  string  `json:"check"`
	Target string  `json:"target"`
	Value  float64 `json:"value"`
	// Status is passed, failed or error (unanswered, ignored by onError).
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}
